import { Command } from 'commander';
import { loadConfig } from '../../config/load.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** Prints the running gateway's /status as a short readable summary. */
export function statusCommand(): Command {
  return new Command('status')
    .description("summary of a running gateway: connections, spool, InfluxDB writes, refusals")
    .option('--url <url>', 'the gateway HTTP address (default: http://127.0.0.1:<http.port>)')
    .option('--json', 'print the raw JSON')
    .action(async (opts: { url?: string; json?: boolean }, c: Command) => {
      const config = loadConfig({ file: c.optsWithGlobals().config });
      const base = opts.url ?? `http://127.0.0.1:${config.http.port}`;
      let s: Record<string, any>;
      try {
        const res = await fetch(new URL('/status', base), { signal: AbortSignal.timeout(5_000) });
        s = (await res.json()) as Record<string, any>;
      } catch (err) {
        throw new UsageGatewayError('GW_ERR_USAGE', `no gateway answers at ${base} (${(err as Error).message}); is it running? (--url to point elsewhere)`);
      }
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
        return;
      }
      const sp = s.spool;
      const workers = Array.isArray(s.workers)
        ? [`workers    ${s.workers.map((w: any) => `${w.worker}: ${w.state}${w.pid ? ` (pid ${w.pid})` : ''}${w.restarts ? `, ${w.restarts} restart${w.restarts === 1 ? '' : 's'}` : ''}`).join('; ')}`]
        : [];
      if (!sp) {
        // A gateway of several workers none of which answered: only what the primary knows.
        process.stdout.write(`${[`gateway    ${s.state}, up ${s.uptimeS} s, NOT READY: ${s.notReady.join('; ')}`, ...workers].join('\n')}\n`);
        return;
      }
      const lines = [
        `gateway    ${s.state}, up ${s.uptimeS} s, ${s.ready ? 'ready' : `NOT READY: ${s.notReady.join('; ')}`}`,
        `listening  mqtt ${s.addresses.mqtt}${s.addresses.mqtts ? `, mqtts ${s.addresses.mqtts}` : ''}${s.addresses.ws ? `, ws ${s.addresses.ws}` : ''}, http ${s.addresses.http}`,
        `clients    ${Object.entries(s.connections).map(([k, v]) => `${v} ${k}`).join(', ') || 'none'}`,
        `readings   ${s.readings.received} received, ${s.readings.written} written to InfluxDB, ${Object.values<number>(s.readings.refused).reduce((a, b) => a + b, 0)} refused`,
        `spool      ${sp.depthRecords} messages / ${bytes(sp.depthBytes)} waiting, oldest ${(sp.oldestAgeMs / 1000).toFixed(1)} s${sp.full ? ' — FULL (backpressure)' : ''}`,
        `influxdb   ${s.influx.url} db ${s.influx.database}: ${s.influx.connected ? 'writing' : s.influx.consecutiveFailures > 0 ? `FAILING (${s.influx.lastError}), ${s.writeRetries} retries` : 'idle'}`,
        `writes     ${s.writeRetries} retries${s.writeLatencyMs?.writes ? `, latency last ${s.writeLatencyMs.last} ms, mean ${s.writeLatencyMs.mean} ms over ${s.writeLatencyMs.writes} writes` : ', none yet'}`,
        `dead-letter ${Object.entries(s.readings.deadLettered).map(([k, v]) => `${v} from ${k}`).join(', ') || 'none'}`,
        ...workers,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
