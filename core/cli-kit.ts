import { UsageGatewayError } from '../protocol/errors.ts';
import { parseTime } from './time.ts';

/** A command-line mistake: a stable code and a sentence naming the option. */
export function usageError(message: string): UsageGatewayError {
  return new UsageGatewayError('GW_ERR_USAGE', message);
}

/** A number option, checked once: whole or not, bounds, and a fallback when absent. */
export function numberOption(name: string, raw: string | undefined, o: { min?: number; max?: number; int?: boolean; fallback?: number } = {}): number {
  if (raw === undefined) {
    if (o.fallback === undefined) throw usageError(`${name} is required`);
    return o.fallback;
  }
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || (o.int && !Number.isInteger(v))) throw usageError(`${name} must be ${o.int ? 'a whole number' : 'a number'}, got "${raw}"`);
  if (o.min !== undefined && v < o.min) throw usageError(`${name} must be at least ${o.min}, got ${raw}`);
  if (o.max !== undefined && v > o.max) throw usageError(`${name} must be at most ${o.max}, got ${raw}`);
  return v;
}

/** A time option (see parseTime for the forms), or the fallback when absent. */
export function timeOption(name: string, raw: string | undefined, fallback: number, nowMs = Date.now()): number {
  return raw === undefined ? fallback : parseTime(raw, name, nowMs);
}

/** Resolves when the signal is aborted. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

export interface RunUntilSignalOptions {
  /** Says what happens (default: a line on stderr). */
  say?: (line: string) => void;
  /** Exit code when a second signal ends the process at once. */
  exitCodeNow?: number;
}

/**
 * The one way a long-running command meets Ctrl-C and SIGTERM. The first signal aborts the
 * `signal` handed to `body`, which then stops gracefully within its own deadline (drain,
 * flush, print a summary); a second signal exits at once, and says so. Handlers are removed
 * when `body` settles.
 */
export async function runUntilSignal<T>(body: (signal: AbortSignal) => Promise<T>, o: RunUntilSignalOptions = {}): Promise<{ value: T; interrupted: boolean }> {
  const say = o.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (abort.signal.aborted) {
      say(`${sig} again: exiting now, without waiting for the graceful stop`);
      process.exit(o.exitCodeNow ?? 130);
    }
    say(`${sig}: stopping gracefully (${sig} again to exit at once)`);
    abort.abort(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Signal handlers do not keep Node alive: a body that only awaits the signal would end the
  // process at once. This timer holds it until the body settles.
  const keepAlive = setInterval(() => {}, 1 << 30);
  try {
    const value = await body(abort.signal);
    return { value, interrupted: abort.signal.aborted };
  } finally {
    clearInterval(keepAlive);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
