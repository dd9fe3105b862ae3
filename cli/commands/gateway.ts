import cluster from 'node:cluster';
import { Command } from 'commander';
import { loadConfig, type ResolvedConfig } from '../../config/load.ts';
import { runUntilSignal, untilAborted } from '../../core/cli-kit.ts';
import { setHeapGrowth } from '../../core/heap.ts';
import { createLogger } from '../../core/log.ts';
import { createGateway } from '../../gateway/index.ts';
import { startGatewayBridges } from '../../gateway/serial/index.ts';
import { checkWorkers, runWorker, spoolsToTakeOver, Supervisor, workerCount } from '../../gateway/workers/index.ts';

/** One process: the gateway, and the serial ports it runs, until a signal. */
async function runSingle(config: Readonly<ResolvedConfig>): Promise<void> {
  // Spools of the workers a multi-worker run left are written out by this one.
  const gateway = createGateway(config, { adopt: spoolsToTakeOver(config, 0, 1) });
  await runUntilSignal(async (signal) => {
    await gateway.start();
    const serial = await startGatewayBridges(gateway); // serial.runInGateway: configured ports in-process
    await untilAborted(signal);
    gateway.log.info({ signal: signal.reason, deadlineMs: config.shutdown.deadlineMs }, 'shutting down');
    await serial?.stop();
    await gateway.stop();
  }, {
    say: (line) => gateway.log.warn(line),
  });
}

/** The primary of several workers, until a signal; the workers drain when it tells them to. */
async function runPrimary(config: Readonly<ResolvedConfig>, count: number): Promise<void> {
  const log = createLogger(config.log.level).child({ worker: 'primary' });
  const supervisor = new Supervisor(config, count, log);
  await runUntilSignal(async (signal) => {
    await supervisor.start();
    await untilAborted(signal);
    log.info({ signal: signal.reason, deadlineMs: config.shutdown.deadlineMs, workers: count }, 'shutting down');
    await supervisor.stop();
  }, {
    say: (line) => log.warn(line),
  });
}

/** Runs the gateway until Ctrl-C or SIGTERM (graceful drain); a second signal exits at once. */
export function gatewayCommand(): Command {
  return new Command('gateway')
    .description('run the gateway: MQTT broker, ingest, spool, InfluxDB writer, HTTP (/metrics, /healthz, /readyz, /status); gateway.workers runs several processes on the same listeners')
    .action(async (_opts: unknown, c: Command) => {
      const config = loadConfig({ file: c.optsWithGlobals().config });
      setHeapGrowth(config.gateway.heapGrowthPercent);
      if (cluster.isWorker) {
        const index = Number(process.env.UG_WORKER_INDEX);
        const count = Number(process.env.UG_WORKER_COUNT);
        // Serial ports are bridged by worker 0 alone: one bridge per port.
        await runWorker(config, index, count, { extra: index === 0 ? startGatewayBridges : undefined });
      }
      const count = workerCount(config);
      checkWorkers(config, count);
      if (count === 1) await runSingle(config);
      else await runPrimary(config, count);
      process.exit(0);
    });
}
