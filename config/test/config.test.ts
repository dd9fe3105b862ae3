import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, test } from 'node:test';
import { configDocs, configLeaves, envNameOf, HIDDEN, loadConfig, secretSettings } from '../load.ts';
import { runCli } from '../../test/harness/process.ts';
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

describe('secret settings', () => {
  it('the schema marks every credential as secret', () => {
    const marked = secretSettings().map((s) => s.path.join('.'));
    for (const key of ['influx.password', 'influx.token', 'cluster.redisUrl', 'analytics.delivery.webhookUrl', 'analytics.delivery.webhookSecret', 'analytics.delivery.webhookMarketingUrl', 'analytics.delivery.webhookMarketingSecret', 'analytics.delivery.webhookServiceUrl', 'analytics.delivery.webhookServiceSecret', 'analytics.delivery.mqttPassword', 'analytics.api.token', 'serial.ports.*.secret']) {
      assert.ok(marked.includes(key), `${key} is marked secret`);
    }
  });

  it('`usage-gateway config` shows none of them, set through UG_ variables or the config file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ug-config-'));
    const env: NodeJS.ProcessEnv = { UG_CONFIG: '', UG_DATA_DIR: dir };
    const planted: string[] = [];
    const file: Record<string, unknown> = {};
    for (const s of secretSettings()) {
      const mark = `s3cr3t-${s.path.filter((k) => k !== '*').join('-')}`;
      planted.push(mark);
      if (s.path.includes('*')) {
        // A secret inside an array (serial.ports.*.secret) is set in the file; no UG_ variable reaches it.
        assert.deepEqual(s.path, ['serial', 'ports', '*', 'secret'], 'the test knows how to build this array element');
        file.serial = { ports: [{ path: '/dev/ttyUSB0', deviceId: 'bench-1', secret: mark }] };
        continue;
      }
      const leaf = configLeaves().find((l) => l.path.join('.') === s.path.join('.'))!;
      const value = s.kind === 'url'
        ? ['https', 'redis'].map((scheme) => `${scheme}://user:${mark}@host.example:1234/${mark}/p?k=${mark}`).find((u) => leaf.schema.safeParse(u).success)
        : mark;
      assert.ok(value, `a value for ${s.path.join('.')}`);
      env[envNameOf(s.path)] = value;
    }
    const configFile = join(dir, 'c.yaml');
    await writeFile(configFile, JSON.stringify(file));
    const r = await runCli(['--config', configFile, 'config'], env);
    assert.equal(r.code, 0, r.stderr);
    for (const mark of planted) assert.ok(!r.stdout.includes(mark) && !r.stderr.includes(mark), `${mark} is not shown:\n${r.stdout}`);
    const shown = JSON.parse(r.stdout);
    const at = (path: string[]) => path.reduce((o, k) => o?.[k === '*' ? 0 : k], shown);
    for (const s of secretSettings()) {
      assert.equal(at(s.path), s.kind === 'url' ? `${at(s.path).split('://')[0]}://host.example:1234/(credentials, path and query hidden)` : HIDDEN, s.path.join('.'));
    }
    assert.equal(shown.serial.ports[0].deviceId, 'bench-1', 'what is not secret is shown');
  });

  it('a refused config does not quote a secret value back in its error', async () => {
    const env = { UG_CONFIG: '', UG_ANALYTICS_API_TOKEN: 's3cr3t-short', UG_CLUSTER_REDIS_URL: 'http://user:s3cr3t-pw@host.example/0' };
    const r = await runCli(['config'], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error GW_ERR_CONFIG: invalid configuration, 2 problems/);
    assert.match(r.stderr, /analytics\.api\.token: .*\(from environment UG_ANALYTICS_API_TOKEN\)/);
    assert.match(r.stderr, /cluster\.redisUrl: expected redis:\/\/.*\(from environment UG_CLUSTER_REDIS_URL\)/);
    assert.ok(!r.stderr.includes('s3cr3t'), r.stderr);
  });
});

test('an analytics partition outside the count is refused, naming the setting and where it came from', () => {
  assert.throws(
    () => loadConfig({ env: { UG_ANALYTICS_PARTITION_COUNT: '2', UG_ANALYTICS_PARTITION_INDEX: '2' } }),
    (err: unknown) => err instanceof UsageGatewayError && err.code === 'GW_ERR_CONFIG'
      && /analytics\.partition\.index: must be less than analytics\.partition\.count .*UG_ANALYTICS_PARTITION_INDEX/.test(err.message),
  );
  assert.equal(loadConfig({ env: { UG_ANALYTICS_PARTITION_COUNT: '2', UG_ANALYTICS_PARTITION_INDEX: '1' } }).analytics.partition.index, 1);
});
