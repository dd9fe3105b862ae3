/**
 * The whole gateway's /status from its workers' own: counts add up, the worst of each state
 * wins, and each worker stays listed as it answered.
 */
export function mergeStatus(workers: Array<Record<string, any> | undefined>): Record<string, any> {
  const answered = workers.filter((w): w is Record<string, any> => !!w && !('error' in w));
  const merged = (sum(answered) ?? {}) as Record<string, any>;
  const all = <T>(pick: (w: Record<string, any>) => T) => answered.map(pick).filter((v) => v !== undefined);
  if (merged.spool) {
    merged.spool.oldestAgeMs = Math.max(0, ...all((w) => w.spool?.oldestAgeMs as number));
    merged.spool.full = all((w) => w.spool?.full).some(Boolean);
    // Offsets are each worker's own (see workers[].spool).
    delete merged.spool.committedOffset;
    delete merged.spool.endOffset;
  }
  if (merged.ingest) {
    merged.ingest.paused = all((w) => w.ingest?.paused).some(Boolean);
    merged.ingest.peakWaiting = Math.max(0, ...all((w) => w.ingest?.peakWaiting as number));
    merged.ingest.peakSpooling = Math.max(0, ...all((w) => w.ingest?.peakSpooling as number));
  }
  if (merged.influx) {
    merged.influx.connected = answered.length > 0 && all((w) => w.influx?.connected).every(Boolean);
    merged.influx.consecutiveFailures = Math.max(0, ...all((w) => w.influx?.consecutiveFailures as number));
    merged.influx.lastError = all((w) => w.influx?.lastError)[0];
    merged.influx.lastSuccessAt = all((w) => w.influx?.lastSuccessAt as string).sort().at(-1);
    delete merged.influx.lastWriteMs;
  }
  if (merged.writeLatencyMs) {
    const weighted = all((w) => (w.writeLatencyMs?.mean ?? 0) * (w.writeLatencyMs?.writes ?? 0)).reduce((a, b) => a + b, 0);
    const writes = merged.writeLatencyMs.writes as number;
    merged.writeLatencyMs = { last: Math.max(0, ...all((w) => w.writeLatencyMs?.last as number)) || undefined, mean: writes > 0 ? Math.round((weighted / writes) * 10) / 10 : undefined, writes };
  }
  merged.takeovers = answered.flatMap((w) => w.takeovers ?? []);
  for (const k of ['state', 'uptimeS', 'addresses', 'ready', 'notReady']) delete merged[k];
  return merged;
}

/** Numbers add up, objects merge key by key, anything else is the first worker's. */
function sum(values: unknown[]): unknown {
  const present = values.filter((v) => v !== undefined && v !== null);
  if (present.length === 0) return undefined;
  if (present.every((v) => typeof v === 'number')) return (present as number[]).reduce((a, b) => a + b, 0);
  if (present.every((v) => typeof v === 'object' && !Array.isArray(v))) {
    const keys = new Set(present.flatMap((v) => Object.keys(v as object)));
    return Object.fromEntries([...keys].map((k) => [k, sum(present.map((v) => (v as Record<string, unknown>)[k]))]));
  }
  return present[0];
}
