import { Command, CommanderError } from 'commander';
import { analyticsCommand } from './commands/analytics.ts';
import { failureText } from './failure.ts';
import { configCommand } from './commands/config.ts';
import { deadletterCommand } from './commands/deadletter.ts';
import { devicesCommand, consumersCommand } from './commands/devices.ts';
import { gatewayCommand } from './commands/gateway.ts';
import { insightsCommand } from './commands/insights.ts';
import { modelsCommand } from './commands/models.ts';
import { ownersCommand } from './commands/owners.ts';
import { statusCommand } from './commands/status.ts';
import { serialCommand } from './commands/serial.ts';
import { simCommand } from './commands/sim.ts';

/**
 * `usage-gateway`: one command per part. Each subcommand lives in its own module and is
 * added here; every failure ends with "error GW_ERR_…: what was wrong" and exit code 1
 * (2 for a bad command line).
 */
const program = new Command('usage-gateway')
  .description('Connected-product usage telemetry gateway')
  .option('-c, --config <file>', 'config file (YAML or JSON); also UG_CONFIG')
  .showHelpAfterError()
  .exitOverride();

for (const cmd of [gatewayCommand(), devicesCommand(), consumersCommand(), ownersCommand(), modelsCommand(), deadletterCommand(), statusCommand(), configCommand(), serialCommand(), analyticsCommand(), insightsCommand(), simCommand()]) {
  program.addCommand(cmd);
}

/**
 * addCommand() does not pass these settings down, and a subcommand left alone would print a bare
 * "error: …" and exit 1 itself: every level reports a bad command line with its code, exit 2.
 */
function usageErrors(cmd: Command): void {
  cmd.exitOverride().configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'error GW_ERR_USAGE: ')) });
  if (cmd !== program) {
    const path = [];
    for (let c: Command | null = cmd; c; c = c.parent) path.unshift(c.name());
    cmd.showHelpAfterError(`(${path.join(' ')} --help for usage)`);
  }
  for (const sub of cmd.commands) usageErrors(sub);
}
usageErrors(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(failureText(err));
    process.exitCode = 1;
  }
}
