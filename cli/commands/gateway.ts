import { Command } from 'commander';
import { loadConfig } from '../../config/load.ts';
import { createGateway } from '../../gateway/index.ts';
import { startGatewayBridges, type BridgeSet } from '../../gateway/serial/index.ts';

/** Runs the gateway until SIGINT/SIGTERM; a second signal exits at once. */
export function gatewayCommand(): Command {
  return new Command('gateway')
    .description('run the gateway: MQTT broker, ingest, spool, InfluxDB writer, HTTP (/metrics, /healthz, /readyz, /status)')
    .action(async (_opts: unknown, c: Command) => {
      const config = loadConfig({ file: c.optsWithGlobals().config });
      const gateway = createGateway(config);
      let stopping = false;
      let serial: BridgeSet | undefined;
      const onSignal = (signal: string) => {
        if (stopping) {
          gateway.log.warn({ signal }, 'second signal: exiting now; unwritten readings stay in the spool');
          process.exit(1);
        }
        stopping = true;
        gateway.log.info({ signal, deadlineMs: config.shutdown.deadlineMs }, 'shutting down');
        Promise.resolve(serial?.stop()).then(() => gateway.stop()).then(() => process.exit(0), (err) => {
          gateway.log.error({ err }, 'error during shutdown');
          process.exit(1);
        });
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      await gateway.start();
      serial = await startGatewayBridges(gateway); // serial.runInGateway: configured ports in-process
    });
}
