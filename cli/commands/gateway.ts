import { Command } from 'commander';
import { loadConfig } from '../../config/load.ts';
import { runUntilSignal, untilAborted } from '../../core/cli-kit.ts';
import { createGateway } from '../../gateway/index.ts';
import { startGatewayBridges } from '../../gateway/serial/index.ts';

/** Runs the gateway until Ctrl-C or SIGTERM (graceful drain); a second signal exits at once. */
export function gatewayCommand(): Command {
  return new Command('gateway')
    .description('run the gateway: MQTT broker, ingest, spool, InfluxDB writer, HTTP (/metrics, /healthz, /readyz, /status)')
    .action(async (_opts: unknown, c: Command) => {
      const config = loadConfig({ file: c.optsWithGlobals().config });
      const gateway = createGateway(config);
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
      process.exit(0);
    });
}
