import { build, type Histogram } from 'hdr-histogram-js';

/** What a run did, for the summary at its end and for tests. */
export interface Figures {
  mode: string;
  devices: number;
  /** Devices that could not connect or lost their connection mid-run. */
  failedDevices: number;
  messages: number;
  /** Readings sent (in messages published), and in messages the gateway acknowledged. */
  sent: number;
  acked: number;
  /** Readings the gateway reported refused on devices/{id}/rejected. */
  refused: number;
  /** Readings the simulator sent broken on purpose (its ground truth for `refused`). */
  expectedRefused: number;
  /** Readings sent again (duplicates, resent messages): stored once. */
  duplicates: number;
  /** Readings that should now be stored: acknowledged, not refused, not a repeat. */
  kept: number;
  bytes: number;
  durationMs: number;
  /** Readings acknowledged per second over the run. */
  rate: number;
  /** QoS 1 acknowledgement (PUBACK) latency per message. */
  latencyMs?: { p50: number; p95: number; p99: number; max: number };
  /** The first few distinct reasons devices failed, when some did. */
  failures?: string[];
}

export function emptyFigures(mode: string, devices: number): Figures {
  return { mode, devices, failedDevices: 0, messages: 0, sent: 0, acked: 0, refused: 0, expectedRefused: 0, duplicates: 0, kept: 0, bytes: 0, durationMs: 0, rate: 0 };
}

/** Acknowledgement latency per message, in microseconds. */
export function latencyHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
}

export function latencySummary(h: Histogram): Figures['latencyMs'] {
  const ms = (us: number) => Math.round(us / 10) / 100;
  return { p50: ms(h.getValueAtPercentile(50)), p95: ms(h.getValueAtPercentile(95)), p99: ms(h.getValueAtPercentile(99)), max: ms(h.maxValue) };
}

/** A short human summary. */
export function formatSummary(f: Figures, publishing: boolean): string {
  const s = f.durationMs / 1000;
  const rate = f.rate;
  const lines = [
    `${f.mode}: ${f.devices} devices${f.failedDevices ? ` (${f.failedDevices} failed)` : ''}, ${s.toFixed(1)} s`,
    `  readings sent     ${f.sent}`,
  ];
  if (publishing) {
    lines.push(
      `  acked             ${f.acked}  (${rate} readings/s, ${f.messages} messages, ${(f.bytes / 1048576).toFixed(1)} MiB)`,
      `  refused           ${f.refused}  (meant to be refused: ${f.expectedRefused})`,
      `  repeats           ${f.duplicates}  (duplicates and resends, stored once)`,
      `  to be stored      ${f.kept}`,
    );
    if (f.latencyMs) lines.push(`  ack latency ms    p50 ${f.latencyMs.p50}  p95 ${f.latencyMs.p95}  p99 ${f.latencyMs.p99}  max ${f.latencyMs.max}`);
  } else {
    lines.push(`  written           ${f.acked}  (${rate} readings/s)`);
  }
  for (const why of f.failures ?? []) lines.push(`  failed: ${why}`);
  return `${lines.join('\n')}\n`;
}
