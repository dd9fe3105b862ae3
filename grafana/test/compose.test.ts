import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const binary = (process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'docker-compose')).find((p) => existsSync(p));
const skip = binary ? undefined : 'docker-compose is not installed (Debian: apt-get install -y docker-compose); the compose file was not checked';

test('docker-compose config accepts the compose file', { skip }, async () => {
  const { stdout, stderr } = await run(binary!, ['-f', 'docker-compose.yml', 'config'], { cwd: ROOT, timeout: 60_000 });
  assert.doesNotMatch(stderr, /error|invalid/i);
  const resolved = parseYaml(stdout);
  assert.deepEqual(Object.keys(resolved.services).sort(), ['analytics', 'firmware-sim', 'gateway', 'grafana', 'influxdb']);
  for (const name of ['influxdb', 'gateway', 'grafana']) assert.ok(resolved.services[name].healthcheck?.test, `${name} has a health check`);
  assert.ok(resolved.services.gateway.volumes.some((v: any) => (typeof v === 'string' ? v : v.target).includes('/data')), 'the spool and registry live on a volume');
  assert.equal(resolved.services.gateway.environment.UG_INFLUX_URL, 'http://influxdb:8086');
});

test('the gateway and the tools in the compose file run commands the CLI has', async () => {
  const compose = parseYaml(await import('node:fs/promises').then((fs) => fs.readFile(join(ROOT, 'docker-compose.yml'), 'utf8')));
  assert.deepEqual(compose.services.gateway.command, ['gateway']);
});
