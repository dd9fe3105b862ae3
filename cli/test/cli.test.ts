import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { close, closed, connect, grantedQos, nextMessage, washerCycle } from '../../test/harness/mqtt.ts';
import { runCli, startGatewayProcess, type CliResult, type GatewayProcess } from '../../test/harness/process.ts';
import { processEnv, type ProcessEnv } from '../../test/harness/process-env.ts';
import { failureText } from '../failure.ts';

/** The JSON a command printed, after checking it succeeded. */
function json<T = any>(r: CliResult): T {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A failure as users see it: exit code, `error GW_ERR_…: words` on stderr, nothing on stdout. */
function failure(r: CliResult, exitCode: number, code: string, words: RegExp): void {
  assert.equal(r.code, exitCode, `exit code (stderr: ${r.stderr})`);
  assert.match(r.stderr, new RegExp(`^error ${code}: `, 'm'));
  assert.match(r.stderr, words);
  assert.equal(r.stdout, '');
}

const refused = (err: any) => err.code === 4 || err.code === 5;

describe('devices and models from the command line, with the gateway running in another process', () => {
  let p: ProcessEnv;
  let gw: GatewayProcess;
  let url: string;
  const cli = (...args: string[]) => runCli(args, p.env);

  before(async () => {
    p = await processEnv();
    gw = await startGatewayProcess(p.env);
    url = `mqtt://127.0.0.1:${gw.mqttPort}`;
  });
  after(async () => {
    await gw.kill();
    await p.cleanup();
  });

  it('devices add prints JSON with the secret, which connects at once: the running gateway reloads the registry', async () => {
    const added = json(await cli('devices', 'add', 'wm-0001', '--kind', 'washer', '--model', 'WM-7', '--owner', 'cust-17', '--consent', 'marketing,service'));
    assert.equal(added.id, 'wm-0001');
    assert.equal(added.kind, 'washer');
    assert.equal(added.model, 'WM-7');
    assert.equal(added.owner, 'cust-17');
    assert.deepEqual(added.consent, ['marketing', 'service']);
    assert.ok(!Number.isNaN(Date.parse(added.ownerSince)));
    assert.equal(typeof added.secret, 'string');
    assert.ok(added.secret.length >= 40, 'a long random secret');
    assert.equal(added.secretHash, undefined, 'the hash is not shown');
    const file = await readFile(join(p.dir, 'registry.json'), 'utf8');
    assert.ok(!file.includes(added.secret), 'the registry keeps no secret');
    assert.match(file, /"secretHash": "sha256\$[A-Za-z0-9_-]{43}"/);

    const client = await connect(url, added.id, added.secret);
    await client.publishAsync(`devices/${added.id}/telemetry`, JSON.stringify(washerCycle({ seq: 1 })), { qos: 1 });
    await close(client);
    const status = await (await fetch(`http://127.0.0.1:${gw.httpPort}/status`)).json() as { readings: { received: number } };
    assert.equal(status.readings.received, 1);
    assert.ok(gw.logs.some((l) => l.msg === 'registry reloaded'), 'the gateway logged the reload');
  });

  it('rotate-secret: the open connection made with the old secret is closed, the old secret refused, the new one accepted', async () => {
    const { id, secret: old } = json(await cli('devices', 'add', 'fr-0001', '--kind', 'fridge', '--model', 'FR-350', '--owner', 'cust-18'));
    const open = await connect(url, id, old);
    const rotated = json(await cli('devices', 'rotate-secret', id));
    assert.equal(rotated.id, id);
    assert.notEqual(rotated.secret, old);
    // Awaited once the command is done, so that its start-up on a busy machine does not eat the wait.
    await closed(open);
    open.end(true);
    await assert.rejects(connect(url, id, old), refused);
    const fresh = await connect(url, id, rotated.secret);
    await close(fresh);
  });

  it('devices list and models list, as JSON arrays and as tables', async () => {
    json(await cli('devices', 'add', 'car-0001', '--kind', 'car', '--model', 'CAR-CITY', '--owner', 'cust-19', '--consent', 'none'));
    const [all, cars, models, fridges, table] = await Promise.all([
      cli('devices', 'list', '--json'), cli('devices', 'list', '--json', '--kind', 'car'),
      cli('models', 'list', '--json'), cli('models', 'list', '--json', '--kind', 'fridge'), cli('models', 'list'),
    ]);
    const devices = json<Array<Record<string, unknown>>>(all);
    assert.ok(Array.isArray(devices));
    const car = devices.find((d) => d.id === 'car-0001');
    assert.deepEqual({ ...car, createdAt: undefined, updatedAt: undefined, ownerSince: undefined },
      { id: 'car-0001', role: 'device', kind: 'car', model: 'CAR-CITY', owner: 'cust-19', consent: [], createdAt: undefined, updatedAt: undefined, ownerSince: undefined });
    for (const d of devices) assert.equal(d.secretHash, undefined);
    assert.deepEqual(json<Array<{ id: string }>>(cars).map((d) => d.id), ['car-0001']);

    const catalogue = json<Array<Record<string, any>>>(models);
    assert.deepEqual([...new Set(catalogue.map((m) => m.kind))].sort(), ['car', 'fridge', 'washer']);
    for (const m of catalogue) {
      assert.equal(typeof m.id, 'string');
      assert.equal(typeof m.name, 'string');
      assert.ok(m.successor === null || catalogue.some((o) => o.id === m.successor && o.kind === m.kind), `${m.id}: successor ${m.successor} is a ${m.kind} of the catalogue`);
    }
    assert.ok(catalogue.filter((m) => m.kind === 'washer').every((m) => m.capacity_kg > 0));
    const fridgeModels = json<Array<Record<string, any>>>(fridges);
    assert.ok(fridgeModels.length > 0 && fridgeModels.every((m) => m.kind === 'fridge' && m.volume_l > 0));
    assert.equal(table.code, 0);
    assert.match(table.stdout.split('\n')[0], /^id\s+kind\s+name\s+segment/);
    assert.match(table.stdout, /^WM-8\s+washer\s/m);
  });

  it('consumers add prints a secret with which the consumer may subscribe to triggers/# and to nothing of devices', async () => {
    const c = json(await cli('consumers', 'add', 'crm-tool', '--purpose', 'marketing,service'));
    assert.equal(c.id, 'crm-tool');
    assert.equal(c.role, 'consumer');
    assert.deepEqual(c.purposes, ['marketing', 'service']);
    const client = await connect(url, c.id, c.secret);
    assert.deepEqual(await grantedQos(client, ['triggers/#', 'devices/+/telemetry']), [1, 128]);
    await close(client);
  });

  it('a consumer subscribes only to the trigger categories of its purposes; a change of purposes closes its connection', async () => {
    const m = json(await cli('consumers', 'add', 'mkt-tool', '--purpose', 'marketing'));
    const sv = json(await cli('consumers', 'add', 'svc-tool', '--purpose', 'service'));
    const up = json(await cli('consumers', 'add', 'upsell-only', '--purpose', 'marketing', '--category', 'upsell'));
    const mc = await connect(url, m.id, m.secret);
    assert.deepEqual(await grantedQos(mc, ['triggers/upsell/#', 'triggers/retention/+', 'triggers/service/#', 'triggers/#', 'triggers/+/recurring-error']), [1, 1, 128, 128, 128]);
    const sc = await connect(url, sv.id, sv.secret);
    assert.deepEqual(await grantedQos(sc, ['triggers/service/#', 'triggers/upsell/#', 'triggers/retention/usage-collapse', 'triggers/#']), [1, 128, 128, 128]);
    await close(sc);
    const uc = await connect(url, up.id, up.secret);
    assert.deepEqual(await grantedQos(uc, ['triggers/upsell/washer-overloaded', 'triggers/retention/#']), [1, 128]);
    await close(uc);
    const gone = closed(mc);
    const changed = json(await cli('consumers', 'access', m.id, '--purpose', 'service'));
    assert.deepEqual(changed.purposes, ['service']);
    await gone;
    mc.end(true);
    const again = await connect(url, m.id, m.secret);
    assert.deepEqual(await grantedQos(again, ['triggers/upsell/#', 'triggers/service/#']), [128, 1]);
    await close(again);
    failure(await cli('consumers', 'add', 'no-purpose'), 2, 'GW_ERR_USAGE', /required option '--purpose <purposes>'/);
    failure(await cli('consumers', 'add', 'bad-purpose', '--purpose', 'spam'), 1, 'GW_ERR_USAGE', /--purpose: unknown "spam"/);
  });

  it('devices consent keeps a history of every change with its source and actor', async () => {
    json(await cli('devices', 'add', 'wm-0005', '--kind', 'washer', '--model', 'WM-8', '--owner', 'cust-23', '--consent', 'service'));
    json(await cli('devices', 'consent', 'wm-0005', 'marketing,service,analytics'));
    const withdrawn = json(await cli('devices', 'consent', 'wm-0005', 'none'));
    assert.deepEqual(withdrawn.consent, []);
    const history = json<Array<Record<string, any>>>(await cli('devices', 'consent', 'wm-0005', '--history', '--json'));
    assert.deepEqual(history.map((h) => h.consent), [['service'], ['marketing', 'service', 'analytics'], ['none']]);
    for (const h of history) {
      assert.equal(h.source, 'cli');
      assert.equal(h.owner, 'cust-23');
      assert.ok(h.actor.length > 0);
      assert.ok(!Number.isNaN(Date.parse(h.at)));
    }
    const table = await cli('devices', 'consent', 'wm-0005', '--history');
    assert.match(table.stdout.split('\n')[0], /^at\s+consent\s+owner\s+source\s+actor/);
    failure(await cli('devices', 'consent', 'wm-0005'), 1, 'GW_ERR_USAGE', /missing purposes/);
    failure(await cli('devices', 'consent', 'nobody', '--history'), 1, 'GW_ERR_DEVICE_UNKNOWN', /no device "nobody"/);
  });

  it('devices remove: the connected device is disconnected and refused from then on', async () => {
    const { id, secret } = json(await cli('devices', 'add', 'wm-0002', '--kind', 'washer', '--model', 'WM-8', '--owner', 'cust-20'));
    const open = await connect(url, id, secret);
    const removed = json(await cli('devices', 'remove', id));
    assert.equal(removed.removed.id, id);
    await closed(open);
    open.end(true);
    await assert.rejects(connect(url, id, secret), refused);
    const left = json<Array<{ id: string }>>(await cli('devices', 'list', '--json'));
    assert.ok(!left.some((d) => d.id === id));
  });

  it('deadletter list shows what ingest refused, with the reason', async () => {
    const { id, secret } = json(await cli('devices', 'add', 'wm-0003', '--kind', 'washer', '--model', 'WM-8', '--owner', 'cust-21'));
    const client = await connect(url, id, secret);
    await client.subscribeAsync(`devices/${id}/rejected`, { qos: 1 });
    const notice = nextMessage(client, `devices/${id}/rejected`);
    await client.publishAsync(`devices/${id}/telemetry`, JSON.stringify(washerCycle({ spin_rpm: 9000 })), { qos: 1 });
    await notice;
    await close(client);
    const [asJson, asText] = await Promise.all([cli('deadletter', 'list', '--json', '--device', id), cli('deadletter', 'list', '--device', id)]);
    const entries = json<Array<Record<string, any>>>(asJson);
    assert.equal(entries.length, 1);
    assert.equal(entries[0].code, 'GW_ERR_INVALID_READING');
    assert.equal(entries[0].source, 'ingest');
    assert.match(entries[0].reason, /spin_rpm: must be ≤ 2000, got 9000/);
    assert.match(asText.stdout, new RegExp(`${id}\\s+GW_ERR_INVALID_READING\\s+devices/${id}/telemetry`));
    assert.match(asText.stdout, /1 entry shown/);
  });

  it('refusals of the registry commands carry their code and exit 1', async () => {
    const [unknownModel, wrongKind, existing, badId, noDevice, badConsent] = await Promise.all([
      cli('devices', 'add', 'wm-9', '--kind', 'washer', '--model', 'WM-99', '--owner', 'o'),
      cli('devices', 'add', 'wm-9', '--kind', 'fridge', '--model', 'WM-8', '--owner', 'o'),
      cli('devices', 'add', 'wm-0001', '--kind', 'washer', '--model', 'WM-8', '--owner', 'o'),
      cli('devices', 'add', 'a/b', '--kind', 'washer', '--model', 'WM-8', '--owner', 'o'),
      cli('devices', 'rotate-secret', 'nobody'),
      cli('devices', 'add', 'wm-9', '--kind', 'washer', '--model', 'WM-8', '--owner', 'o', '--consent', 'spam'),
    ]);
    failure(unknownModel, 1, 'GW_ERR_MODEL_UNKNOWN', /"WM-99" is not in the catalogue/);
    failure(wrongKind, 1, 'GW_ERR_MODEL_UNKNOWN', /"WM-8" is a washer, not a fridge/);
    failure(existing, 1, 'GW_ERR_DEVICE_EXISTS', /"wm-0001" is already registered/);
    failure(badId, 1, 'GW_ERR_INVALID_ARGUMENT', /"a\/b" is not a valid device id: expected 1 to 64 letters/);
    failure(noDevice, 1, 'GW_ERR_DEVICE_UNKNOWN', /no device or consumer "nobody"/);
    failure(badConsent, 1, 'GW_ERR_USAGE', /--consent: unknown purpose "spam"/);
  });

  it('a registry file that turns invalid while the gateway runs is reported once, and its last good contents stay in force', async () => {
    const { id, secret } = json(await cli('devices', 'add', 'wm-0004', '--kind', 'washer', '--model', 'WM-8', '--owner', 'cust-22'));
    const path = join(p.dir, 'registry.json');
    const good = await readFile(path, 'utf8');
    // The gateway has the good version (a login re-reads a changed file) before it is broken.
    await close(await connect(url, id, secret));
    const reported = () => gw.logs.filter((l) => l.code === 'GW_ERR_REGISTRY').length;
    // Replaced in one step, as an editor or a deployment tool would: one bad version to report.
    await writeFile(`${path}.new`, '{"version": 1, "entries": [{"id": "half-written"');
    await rename(`${path}.new`, path);
    const deadline = Date.now() + 10_000;
    while (reported() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const once = reported();
    assert.ok(once > 0, 'the gateway logged GW_ERR_REGISTRY');
    for (let i = 0; i < 3; i++) await close(await connect(url, id, secret));
    assert.equal(reported(), once, 'not read and reported again at each connection');
    failure(await cli('devices', 'list'), 1, 'GW_ERR_REGISTRY', /is not valid JSON/);
    await writeFile(path, good);
  });
});

describe('the registry at the command line: ids and owners checked up front, a broken file repaired', () => {
  let p: ProcessEnv;
  const cli = (...args: string[]) => runCli(args, p.env);
  const add = (id: string, owner: string) => cli('devices', 'add', '--kind', 'washer', '--model', 'WM-8', '--owner', owner, '--', id);
  before(async () => { p = await processEnv(); });
  after(async () => { await p.cleanup(); });

  it('an owner that is not a pseudonymous id, or an id that breaks the rule, is refused before anything is written; the registry stays usable', async () => {
    const first = json(await add('wm-1', 'cust-1'));
    const path = join(p.dir, 'registry.json');
    const before = await readFile(path, 'utf8');
    const owners = await Promise.all([add('wm-2', 'John Smith, 1 Main St'), add('wm-2', 'o'.repeat(129)), cli('devices', 'set-owner', 'wm-1', 'John Smith, 1 Main St')]);
    for (const r of owners) failure(r, 1, 'GW_ERR_INVALID_ARGUMENT', /owner "(John Smith, 1 Main St|o{70,}…)" is refused: expected a pseudonymous customer id/);
    const ids = await Promise.all([
      add('.', 'cust-2'), add('..', 'cust-2'), add('-x', 'cust-2'), add('', 'cust-2'), add('a\nb', 'cust-2'),
      cli('devices', 'rotate-secret', '..'), cli('devices', 'consent', '--', '-x', 'service'), cli('devices', 'set-owner', '.', 'cust-3'),
      cli('consumers', 'add', '..', '--purpose', 'marketing'), cli('consumers', 'rotate-secret', '--', '-x'), cli('devices', 'remove', '..'), cli('deadletter', 'list', '--device', '..'),
    ]);
    for (const r of ids) {
      failure(r, 1, 'GW_ERR_INVALID_ARGUMENT', /^error GW_ERR_INVALID_ARGUMENT: "(\.|\.\.|-x|a\\nb|)" is not a valid (device |consumer )?id: expected 1 to 64 letters, digits, ".", "_" or "-", not starting with "-" and not dots only$/m);
      assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
    }
    assert.equal(await readFile(path, 'utf8'), before, 'the registry file was not touched');
    const listed = json<Array<{ id: string; owner: string }>>(await cli('devices', 'list', '--json'));
    assert.deepEqual(listed.map((d) => [d.id, d.owner]), [['wm-1', 'cust-1']]);
    assert.notEqual(json(await cli('devices', 'rotate-secret', 'wm-1')).secret, first.secret);
    assert.equal(json(await cli('devices', 'remove', 'wm-1')).removed.id, 'wm-1');
  });

  it('a registry broken on disk: list and rotate-secret name the bad entries and the repair, set-owner repairs them one by one, then the secret is revoked', async () => {
    json(await add('wm-good', 'cust-g'));
    json(await add('wm-bad', 'cust-b'));
    json(await add('wm-bad2', 'cust-c'));
    const path = join(p.dir, 'registry.json');
    const doc = JSON.parse(await readFile(path, 'utf8'));
    const at = (id: string) => doc.entries.findIndex((e: { id: string }) => e.id === id);
    // As a version without the owner check, or an edit by hand, left them.
    doc.entries[at('wm-bad')].owner = 'John Smith, 1 Main St';
    doc.entries[at('wm-bad2')].owner = 'Jane Doe';
    await writeFile(path, JSON.stringify(doc, null, 2));
    const entry = (id: string) => new RegExp(`entries\\[${at(id)}\\] \\(id "${id}"\\) owner: expected a pseudonymous customer id`);
    const [list, rotate] = await Promise.all([cli('devices', 'list'), cli('devices', 'rotate-secret', 'wm-good')]);
    for (const r of [list, rotate]) {
      failure(r, 1, 'GW_ERR_REGISTRY', entry('wm-bad'));
      assert.match(r.stderr, entry('wm-bad2'));
      assert.match(r.stderr, /`usage-gateway devices set-owner <id> <owner>`/);
    }
    assert.match(rotate.stderr, /the gateway does not load it while it does, so this change would not take effect; nothing was written/);

    const first = await cli('devices', 'set-owner', 'wm-bad', 'cust-b2');
    assert.equal(json(first).owner, 'cust-b2');
    assert.match(first.stderr, /^warning GW_ERR_REGISTRY: the change was written, but registry .* is invalid:\n/);
    assert.match(first.stderr, entry('wm-bad2'));
    assert.doesNotMatch(first.stderr, /id "wm-bad"\)/, 'the repaired entry is not listed any more');
    failure(await cli('devices', 'rotate-secret', 'wm-good'), 1, 'GW_ERR_REGISTRY', entry('wm-bad2'));
    const second = await cli('devices', 'set-owner', 'wm-bad2', 'cust-c2');
    assert.equal(json(second).owner, 'cust-c2');
    assert.equal(second.stderr, '', 'nothing left to repair');

    const rotated = json(await cli('devices', 'rotate-secret', 'wm-good'));
    assert.equal(rotated.id, 'wm-good');
    const listed = json<Array<{ id: string; owner: string }>>(await cli('devices', 'list', '--json'));
    assert.deepEqual(listed.map((d) => [d.id, d.owner]).sort(), [['wm-bad', 'cust-b2'], ['wm-bad2', 'cust-c2'], ['wm-good', 'cust-g']]);
  });

  it('an unforeseen failure is one coded line, never a stack trace', async () => {
    const file = join(p.dir, 'not-a-folder');
    await writeFile(file, 'x');
    const r = await runCli(['deadletter', 'list'], { ...p.env, UG_DEADLETTER_DIR: file });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error GW_ERR_[A-Z_]+: .*ENOTDIR/);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    assert.equal(failureText(new Error('the disk is on fire')), 'error GW_ERR_INTERNAL: unexpected failure: the disk is on fire\n');
    assert.equal(failureText(Object.assign(new Error('open failed'), { code: 'EACCES' })), 'error GW_ERR_INTERNAL: unexpected failure: open failed (EACCES)\n');
    assert.equal(failureText('thrown string'), 'error GW_ERR_INTERNAL: unexpected failure: thrown string\n');
  });
});

describe('bad configuration and bad command lines', () => {
  let p: ProcessEnv;
  before(async () => { p = await processEnv(); });
  after(async () => { await p.cleanup(); });

  it('every problem of the config file and the UG_ variables is reported at once, with key, expectation, value and origin', async () => {
    const file = join(p.dir, 'gateway.yaml');
    await writeFile(file, ['mqtt:', '  port: 99999', '  maxPayloadBytes: tiny', '  tlsPort: 8883', 'influx:', '  url: not a url', 'colour: blue', ''].join('\n'));
    // The file's mqtt.port and influx.url count: the UG_ variables of the test set-up would override them.
    const { UG_MQTT_PORT: _port, UG_INFLUX_URL: _url, ...base } = p.env;
    const env = { ...base, UG_HTTP_PORT: '-5', UG_SPOOL_FSYNC: 'perhaps', UG_LOG_LEVEL: 'loud' };
    const [gateway, list] = await Promise.all([runCli(['--config', file, 'gateway'], env), runCli(['--config', file, 'devices', 'list'], env)]);
    for (const r of [gateway, list]) {
      failure(r, 1, 'GW_ERR_CONFIG', /invalid configuration, 9 problems:/);
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('  - '));
      assert.equal(lines.length, 9, r.stderr);
      const expect: Array<[string, RegExp]> = [
        ['mqtt.port', /<=65535, got 99999 \(from config file .*gateway\.yaml\)/],
        ['mqtt.maxPayloadBytes', /expected number, got "tiny"/],
        ['mqtt.tlsCert', /needs a PEM certificate file/],
        ['mqtt.tlsKey', /needs a PEM private key file/],
        ['influx.url', /Invalid URL, got "not a url"/],
        ['colour', /unknown setting/],
        ['http.port', />=0, got -5 \(from environment UG_HTTP_PORT\)/],
        ['spool.fsync', /expected boolean, got "perhaps" \(from environment UG_SPOOL_FSYNC\)/],
        ['log.level', /expected one of .*"info".*, got "loud" \(from environment UG_LOG_LEVEL\)/],
      ];
      for (const [key, words] of expect) {
        const line = lines.find((l) => l.startsWith(`  - ${key}: `));
        assert.ok(line, `${key} is reported:\n${r.stderr}`);
        assert.match(line!, words);
      }
    }
    assert.ok(!gateway.stdout.includes('gateway started'));
  });

  it('a config file that cannot be read or parsed is reported with its path', async () => {
    const broken = join(p.dir, 'broken.yaml');
    await writeFile(broken, 'mqtt: [1, 2\n');
    const [missing, unparsable] = await Promise.all([
      runCli(['--config', join(p.dir, 'missing.yaml'), 'devices', 'list'], p.env),
      runCli(['devices', 'list'], { ...p.env, UG_CONFIG: broken }),
    ]);
    failure(missing, 1, 'GW_ERR_CONFIG', /missing\.yaml: ENOENT/);
    failure(unparsable, 1, 'GW_ERR_CONFIG', /broken\.yaml: .*at line \d+, column \d+/);
  });

  it('an unknown subcommand or option, or a missing required one, is a usage error with exit code 2; --help is not', async () => {
    const [command, nested, option, missing, bare, help] = await Promise.all([
      runCli(['frobnicate'], p.env),
      runCli(['devices', 'frob'], p.env),
      runCli(['models', 'list', '--colour'], p.env),
      runCli(['devices', 'add', 'x', '--kind', 'washer'], p.env),
      runCli(['devices'], p.env),
      runCli(['devices', 'add', '--help'], p.env),
    ]);
    failure(command, 2, 'GW_ERR_USAGE', /unknown command 'frobnicate'/);
    failure(nested, 2, 'GW_ERR_USAGE', /unknown command 'frob'[\s\S]*usage-gateway devices --help/);
    failure(option, 2, 'GW_ERR_USAGE', /unknown option '--colour'[\s\S]*usage-gateway models list --help/);
    failure(missing, 2, 'GW_ERR_USAGE', /required option '--model <model>' not specified/);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /Usage: usage-gateway devices/);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: usage-gateway devices add \[options\] <id>/);
    assert.match(help.stdout, /--consent <purposes>/);
  });
});
