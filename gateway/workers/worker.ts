import { AggregatorRegistry } from 'prom-client';
import type { ResolvedConfig } from '../../config/load.ts';
import { createLogger } from '../../core/log.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { createGateway, type Gateway } from '../gateway.ts';
import { isOurs, type FromWorker, type ToWorker } from './messages.ts';
import { spoolsToTakeOver, workerConfig } from './plan.ts';

/** Spool depth and age are gauges computed on demand: kept fresh for the primary's /metrics. */
const GAUGE_REFRESH_MS = 1_000;

function send(m: FromWorker): void {
  process.send?.(m);
}

/**
 * One worker of a multi-worker gateway: a whole gateway (broker on the shared listeners,
 * ingest, its own spool and writer) without HTTP, which the primary serves. It answers the
 * primary's questions over IPC and stops when told to. Signals are the primary's to handle
 * (Ctrl-C reaches every process of the terminal's group).
 */
export async function runWorker(config: Readonly<ResolvedConfig>, index: number, count: number, o: { extra?: (gateway: Gateway) => Promise<{ stop(): Promise<void> } | undefined> } = {}): Promise<never> {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => {});
  const gateway = createGateway(workerConfig(config, index, count), {
    serveHttp: false, worker: index, adopt: spoolsToTakeOver(config, index, count), log: createLogger(config.log.level).child({ worker: index }),
  });
  const log = gateway.log;
  // Answers the primary's prom-client requests with this worker's figures from the start, so
  // that /metrics does not wait on a worker that is still starting.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([gateway.metrics.registry]);
  let extra: { stop(): Promise<void> } | undefined;
  let stopping: Promise<never> | undefined;
  const stop = (why: string): Promise<never> => {
    stopping ??= (async () => {
      log.info({ why }, 'gateway worker stopping');
      await extra?.stop().catch(() => {});
      await gateway.stop();
      process.exit(0);
    })();
    return stopping;
  };
  // The primary gone, Node's cluster ends the worker at once; what it acknowledged is in its spool.
  process.on('message', (m: unknown) => {
    if (!isOurs<ToWorker>(m)) return;
    if (m.ug === 'stop') return void stop('asked by the primary');
    const answer = async (): Promise<unknown> => {
      if (m.ug === 'status') return gateway.status();
      if (m.ug === 'ready') return gateway.notReady();
      return gateway.metrics.registry.metrics();
    };
    answer().then((body) => send({ ug: 'reply', id: m.id, body }), (err: Error) => send({ ug: 'reply', id: m.id, body: { error: err.message } }));
  });
  try {
    const addresses = await gateway.start();
    setInterval(() => gateway.refreshGauges(), GAUGE_REFRESH_MS).unref();
    extra = await o.extra?.(gateway);
    send({ ug: 'started', addresses: { mqtt: addresses.mqtt, mqtts: addresses.mqtts, ws: addresses.ws } });
  } catch (err) {
    send({ ug: 'failed', code: err instanceof UsageGatewayError ? err.code : undefined, message: (err as Error).message });
    process.exit(1);
  }
  return new Promise<never>(() => {}); // runs until stop()
}
