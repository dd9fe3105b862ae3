import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { test } from 'node:test';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { numberOption, timeOption } from '../cli-kit.ts';

const child = join(import.meta.dirname, 'fixtures', 'signal-child.ts');

/** Starts the fixture and resolves once it printed "ready". */
async function start(stopMs: number) {
  const p = spawn(process.execPath, ['--import', 'tsx', child], { env: { ...process.env, STOP_MS: String(stopMs) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (b) => { out += b; });
  p.stderr.on('data', (b) => { err += b; });
  await new Promise<void>((resolve, reject) => {
    p.stdout.on('data', () => { if (out.includes('ready\n')) resolve(); });
    p.once('exit', () => reject(new Error(`child exited early: ${err}`)));
  });
  const exited = once(p, 'exit') as Promise<[number | null, string | null]>;
  return { p, exited, output: () => ({ out, err }) };
}

test('first signal: graceful stop, handlers gone, exit 0', async () => {
  const c = await start(0);
  c.p.kill('SIGTERM');
  const [code] = await c.exited;
  assert.equal(code, 0);
  assert.match(c.output().out, /stopped gracefully interrupted=true/);
  assert.match(c.output().err, /SIGTERM: stopping gracefully/);
});

test('second signal while stopping: exits at once and says so', async () => {
  const c = await start(60_000);
  c.p.kill('SIGINT');
  await new Promise<void>((resolve) => {
    const check = () => { if (c.output().err.includes('stopping gracefully')) resolve(); };
    c.p.stderr.on('data', check);
    check();
  });
  c.p.kill('SIGINT');
  const [code] = await c.exited;
  assert.equal(code, 130);
  assert.match(c.output().err, /SIGINT again: exiting now/);
  assert.doesNotMatch(c.output().out, /stopped gracefully/);
});

test('option parsers say which option was wrong', () => {
  assert.equal(numberOption('--devices', '12', { int: true, min: 1 }), 12);
  assert.equal(numberOption('--devices', undefined, { fallback: 5 }), 5);
  assert.throws(() => numberOption('--devices', '1.5', { int: true }), (e: unknown) => e instanceof UsageGatewayError && /--devices must be a whole number/.test(e.message));
  assert.throws(() => numberOption('--devices', '0', { min: 1 }), /--devices must be at least 1/);
  assert.equal(timeOption('--since', undefined, 42), 42);
  assert.equal(timeOption('--since', 'now-1h', 0, 7_200_000), 3_600_000);
});
