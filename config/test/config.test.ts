import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { configDocs, configLeaves, envNameOf, loadConfig } from '../load.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';

test('docs/configuration.md lists every setting as the schema defines it', () => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const table = /<!-- settings:begin[^\n]*-->\n([\s\S]*?)\n<!-- settings:end -->/.exec(doc)?.[1];
  assert.ok(table, 'docs/configuration.md has the settings markers');
  assert.equal(table, configDocs(), 'the table is stale: replace it with the output of `usage-gateway config --docs`');
});

test('environment names are UG_ + the key path in upper snake case', () => {
  assert.equal(envNameOf(['mqtt', 'tlsPort']), 'UG_MQTT_TLS_PORT');
  const names = configLeaves().map((l) => l.envName);
  for (const required of ['UG_MQTT_PORT', 'UG_MQTT_TLS_PORT', 'UG_MQTT_WS_PORT', 'UG_HTTP_PORT', 'UG_INFLUX_URL', 'UG_INFLUX_DATABASE', 'UG_REGISTRY_PATH', 'UG_SPOOL_DIR', 'UG_LOG_LEVEL']) {
    assert.ok(names.includes(required), `${required} is a setting`);
  }
  assert.equal(new Set(names).size, names.length, 'no two settings share an environment name');
});

test('the environment overrides the file, the file overrides the defaults, and the result is frozen', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ug-config-'));
  const file = join(dir, 'c.yaml');
  await writeFile(file, 'mqtt:\n  port: 1999\nhttp:\n  port: 8111\ninflux:\n  database: fromfile\n');
  const cfg = loadConfig({ file, env: { UG_MQTT_PORT: '2883', UG_LOG_LEVEL: 'debug' } });
  assert.equal(cfg.mqtt.port, 2883);
  assert.equal(cfg.http.port, 8111);
  assert.equal(cfg.influx.database, 'fromfile');
  assert.equal(cfg.log.level, 'debug');
  assert.equal(cfg.spool.dir, join(cfg.dataDir, 'spool'));
  assert.ok(Object.isFrozen(cfg.mqtt));
});

test('every problem is reported at once, with its key, what was expected and where it came from', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ug-config-'));
  const file = join(dir, 'c.yaml');
  await writeFile(file, 'mqtt:\n  port: "not a port"\n  colour: blue\nspool:\n  maxBytes: -5\n');
  let err: unknown;
  try {
    loadConfig({ file, env: { UG_HTTP_PORT: '99999', UG_LOG_LEVEL: 'chatty' } });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof UsageGatewayError, 'a UsageGatewayError');
  assert.equal(err.code, 'GW_ERR_CONFIG');
  const text = err.message;
  for (const key of ['mqtt.port', 'mqtt.colour', 'spool.maxBytes', 'http.port', 'log.level']) {
    assert.match(text, new RegExp(`- ${key.replace('.', '\\.')}`), `${key} is named in:\n${text}`);
  }
  assert.match(text, /5 problems/);
  assert.match(text, /environment UG_HTTP_PORT/);
  assert.match(text, /config file .*c\.yaml/);
});
