import { Command } from 'commander';
import { backfillCommand } from './commands/backfill.ts';
import { demoCommand } from './commands/demo.ts';
import { liveCommand } from './commands/live.ts';
import { loadCommand } from './commands/load.ts';
import { provisionCommand } from './commands/provision.ts';
import { serialCommand } from './commands/serial.ts';

/** `usage-gateway sim …`: simulated fleets with known personas (firmware-sim/README.md). */
export function simCommand(): Command {
  const sim = new Command('sim').description('simulated fleets of washers, fridges and cars with known personas');
  for (const cmd of [provisionCommand(), backfillCommand(), liveCommand(), loadCommand(), serialCommand(), demoCommand()]) sim.addCommand(cmd);
  return sim;
}
