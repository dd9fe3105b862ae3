import { Command } from 'commander';
import { backfillCommand } from './sim/backfill.ts';
import { demoCommand } from './sim/demo.ts';
import { liveCommand } from './sim/live.ts';
import { loadCommand } from './sim/load.ts';
import { provisionCommand } from './sim/provision.ts';
import { serialCommand } from './sim/serial.ts';

/** `usage-gateway sim …`: simulated fleets with known personas (firmware-sim/README.md). */
export function simCommand(): Command {
  const sim = new Command('sim').description('simulated fleets of washers, fridges and cars with known personas');
  for (const cmd of [provisionCommand(), backfillCommand(), liveCommand(), loadCommand(), serialCommand(), demoCommand()]) sim.addCommand(cmd);
  return sim;
}
