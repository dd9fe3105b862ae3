import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../../../test/harness/process.ts';

/** Bad input at the command line: a stable code and plain words, never a stack trace. */
describe('usage-gateway serial: refusals', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ug-serial-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function expectError(r: { code: number | null; stderr: string }, code: string, words: RegExp): void {
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^error ${code}: `, 'm'));
    assert.match(r.stderr, words);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }

  test('serial list without udevadm', async () => {
    const r = await runCli(['serial', 'list'], { PATH: join(dir, 'empty-bin') });
    expectError(r, 'GW_ERR_SERIAL_LIST_UNAVAILABLE', /needs udevadm.*apt-get install udev/);
  });

  test('no port on the command line or in the config', async () => {
    expectError(await runCli(['serial'], { UG_DATA_DIR: dir }), 'GW_ERR_USAGE', /no port to bridge/);
  });

  test('--port without a secret', async () => {
    expectError(await runCli(['serial', '--port', '/dev/ttyUSB9', '--device', 'bench-1'], { UG_DATA_DIR: dir }), 'GW_ERR_USAGE', /--secret <secret> or --secret-file <file> is required/);
  });

  test('every problem of the serial section at once', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'serial:\n  ports:\n    - path: /dev/ttyUSB0\n      deviceId: "bench 1"\n      secret: s\n      format: xml\n    - path: /dev/ttyUSB1\n      deviceId: b2\n');
    const r = await runCli(['--config', file, 'serial']);
    expectError(r, 'GW_ERR_CONFIG', /serial\.ports\.0\.deviceId/);
    assert.match(r.stderr, /serial\.ports\.0\.format/);
    assert.match(r.stderr, /serial\.ports\.1\.secret: give exactly one of secret and secretFile/);
  });

  test('simulate to a port that is not there', async () => {
    const r = await runCli(['serial', 'simulate', '--port', join(dir, 'no-such-tty'), '--device', 'd1', '--kind', 'washer', '--count', '1']);
    expectError(r, 'GW_ERR_SERIAL_PORT', /cannot open .*no-such-tty/);
  });

  test('simulate with an unknown kind or a bad rate', async () => {
    expectError(await runCli(['serial', 'simulate', '--port', '/dev/null', '--device', 'd1', '--kind', 'toaster']), 'GW_ERR_USAGE', /unknown device kind "toaster"/);
    expectError(await runCli(['serial', 'simulate', '--port', '/dev/null', '--device', 'd1', '--kind', 'car', '--rate', 'fast']), 'GW_ERR_USAGE', /--rate/);
  });
});
