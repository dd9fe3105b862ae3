import { Counter, Gauge, type Registry } from 'prom-client';
import type { BridgeStats } from './bridge.ts';

/**
 * The bridges' figures on a Prometheus registry (the gateway's, when they run inside it),
 * read from their stats at scrape time, so the bridge itself keeps plain counters.
 */
export function registerSerialMetrics(registry: Registry, stats: () => BridgeStats[]): void {
  const counter = (name: string, help: string, labelNames: string[], values: (s: BridgeStats) => Array<[Record<string, string>, number]>) =>
    new Counter({
      name, help, labelNames, registers: [registry],
      collect() {
        this.reset();
        for (const s of stats()) for (const [labels, v] of values(s)) this.inc({ port: s.path, ...labels }, v);
      },
    });
  counter('ug_serial_lines_total', 'Lines read from serial ports, by outcome', ['port', 'outcome'], (s) => [
    [{ outcome: 'read' }, s.lines], [{ outcome: 'ignored' }, s.ignored], [{ outcome: 'acknowledged' }, s.acknowledged],
  ]);
  counter('ug_serial_refused_total', 'Serial lines refused by the bridge, by reason code', ['port', 'reason'], (s) =>
    Object.entries(s.refused).map(([reason, n]) => [{ reason }, n]));
  counter('ug_serial_port_losses_total', 'Times a serial port was lost (unplugged)', ['port'], (s) => [[{}, s.losses]]);
  counter('ug_serial_pauses_total', 'Times reading a serial port was paused because the queue was full', ['port'], (s) => [[{}, s.pauses]]);
  new Gauge({
    name: 'ug_serial_port_open', help: '1 while the serial port is open', labelNames: ['port'], registers: [registry],
    collect() {
      this.reset();
      for (const s of stats()) this.set({ port: s.path }, s.portOpen ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ug_serial_queue_depth', help: 'Readings of a serial port waiting for the gateway (queued and in flight)', labelNames: ['port'], registers: [registry],
    collect() {
      this.reset();
      for (const s of stats()) this.set({ port: s.path }, s.queueDepth + s.inFlight);
    },
  });
}
