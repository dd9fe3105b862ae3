import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MODELS_PATH } from '../../../config/load.ts';
import { loadCatalogue } from '../../../protocol/models.ts';
import type { ConsentPurpose } from '../../../protocol/registry.ts';
import { CHECK_EVERY_MS, hashSecret, Registry, verifySecret } from '../index.ts';
import { storedHash as hashOf, writeScryptEra } from '../../../test/harness/secrets.ts';
import type { Logger } from 'pino';

const catalogue = loadCatalogue(DEFAULT_MODELS_PATH);

async function fresh(): Promise<{ dir: string; path: string; registry: Registry }> {
  const dir = await mkdtemp(join(tmpdir(), 'ug-registry-'));
  const path = join(dir, 'registry.json');
  const registry = new Registry(path, catalogue);
  await registry.load();
  return { dir, path, registry };
}

const washer = (id: string, owner = `cust-${id}`) => ({ id, kind: 'washer', model: 'WM-8', owner, consent: ['service'] as ConsentPurpose[] });

/** A second reader of the same file, as the gateway or the next command would be. */
async function reread(path: string): Promise<Registry> {
  const r = new Registry(path, catalogue);
  await r.load();
  return r;
}

async function rejectsWith(p: Promise<unknown>, code: string, words: RegExp): Promise<void> {
  await assert.rejects(p, (err: { code?: string; message?: string }) => {
    assert.equal(err.code, code, err.message);
    assert.match(err.message ?? '', words);
    return true;
  });
}

describe('registry changes are checked before the file is replaced', () => {
  it('owners that are not pseudonymous ids, and ids that break the rule, are refused up front and the file stays readable', async () => {
    const { path, registry } = await fresh();
    await registry.addDevice(washer('wm-1'));
    const before = await readFile(path, 'utf8');
    for (const owner of ['John Smith, 1 Main St', 'o'.repeat(129), '', 'jane@example.com']) {
      await rejectsWith(registry.addDevice(washer('wm-2', owner)), 'GW_ERR_INVALID_ARGUMENT', /owner .* is refused: expected a pseudonymous customer id/);
      await rejectsWith(registry.setOwner('wm-1', owner), 'GW_ERR_INVALID_ARGUMENT', /owner .* is refused/);
    }
    for (const id of ['.', '..', '...', '-x', '', 'a\nb', 'a/b', 'x'.repeat(65)]) {
      await rejectsWith(registry.addDevice(washer(id)), 'GW_ERR_INVALID_ARGUMENT', /is not a valid device id: expected 1 to 64 letters/);
      await rejectsWith(registry.addConsumer(id), 'GW_ERR_INVALID_ARGUMENT', /is not a valid consumer id/);
      await rejectsWith(registry.rotateSecret(id), 'GW_ERR_INVALID_ARGUMENT', /is not a valid id/);
      await rejectsWith(registry.remove(id), 'GW_ERR_INVALID_ARGUMENT', /is not a valid id/);
    }
    await rejectsWith(registry.addDevice(washer('a\nb')), 'GW_ERR_INVALID_ARGUMENT', /^"a\\nb" is not/);
    assert.equal(await readFile(path, 'utf8'), before, 'the file was not touched');
    assert.deepEqual((await reread(path)).devices().map((d) => [d.id, d.owner]), [['wm-1', 'cust-wm-1']]);
  });

  it('a change that passes the argument checks but would leave an invalid file is refused, and nothing is written', async () => {
    const { path, registry } = await fresh();
    await registry.addDevice(washer('wm-1'));
    const before = await readFile(path, 'utf8');
    // Consent purposes are the caller's to check (the CLI and the API do); the file check is the last line.
    await rejectsWith(registry.setConsent('wm-1', ['spam' as ConsentPurpose]), 'GW_ERR_REGISTRY', /the change would leave registry .* invalid; nothing was written:\n {2}entries\[0\] \(id "wm-1"\) consent\.0: /);
    assert.equal(await readFile(path, 'utf8'), before);
    assert.deepEqual((await reread(path)).device('wm-1')?.consent, ['service']);
    assert.deepEqual(registry.device('wm-1')?.consent, ['service'], 'the in-memory view is unchanged too');
  });

  it('the file is replaced whole, readable by its owner only, with no temporary or lock file left behind', async () => {
    const { dir, path, registry } = await fresh();
    await registry.addDevice(washer('wm-1'));
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    await chmod(path, 0o644); // as an earlier version, or a copy by hand, may have left it
    await registry.rotateSecret('wm-1');
    assert.equal((await stat(path)).mode & 0o777, 0o600, 'a change puts the mode back to 0600');
    assert.deepEqual(await readdir(dir), ['registry.json']);
    await Promise.all([registry.addDevice(washer('wm-2')), registry.addDevice(washer('wm-3')), registry.setOwner('wm-1', 'cust-new')]);
    const again = await reread(path);
    assert.deepEqual(again.devices().map((d) => d.id).sort(), ['wm-1', 'wm-2', 'wm-3'], 'concurrent changes all land, none lost');
    assert.equal(again.device('wm-1')?.owner, 'cust-new');
    assert.deepEqual(await readdir(dir), ['registry.json']);
  });
});

describe('a registry file that is already invalid on disk', () => {
  /** A registry of two devices whose second entry was edited by hand into an owner the schema refuses. */
  async function broken(): Promise<{ path: string; registry: Registry; good: { secret: string } }> {
    const { path, registry } = await fresh();
    const [good] = await registry.addDevices([washer('wm-good'), washer('wm-bad')]);
    const doc = JSON.parse(await readFile(path, 'utf8'));
    doc.entries[1].owner = 'John Smith, 1 Main St';
    await writeFile(path, JSON.stringify(doc, null, 2));
    return { path, registry: new Registry(path, catalogue), good };
  }

  it('reading it names the bad entry, its field and how to repair it', async () => {
    const { path } = await broken();
    await rejectsWith(reread(path), 'GW_ERR_REGISTRY', /is invalid:\n {2}entries\[1\] \(id "wm-bad"\) owner: expected a pseudonymous customer id[^\n]*\nRepair each entry listed: `usage-gateway devices set-owner <id> <owner>`/);
  });

  it('a new secret or a removal of another entry is refused, naming the bad entry, since the gateway would not load the result', async () => {
    const { path, registry } = await broken();
    const before = await readFile(path, 'utf8');
    const words = /holds invalid entries, and the gateway does not load it while it does, so this change would not take effect; nothing was written:\n {2}entries\[1\] \(id "wm-bad"\) owner: /;
    await rejectsWith(registry.rotateSecret('wm-good'), 'GW_ERR_REGISTRY', words);
    await rejectsWith(registry.remove('wm-good'), 'GW_ERR_REGISTRY', words);
    await rejectsWith(registry.addDevice(washer('wm-3')), 'GW_ERR_REGISTRY', words);
    assert.equal(await readFile(path, 'utf8'), before);
  });

  it('set-owner on the bad entry repairs the file, and the secret can be revoked then', async () => {
    const { path, registry, good } = await broken();
    const repaired = await registry.setOwner('wm-bad', 'cust-77');
    assert.equal(repaired.owner, 'cust-77');
    const { secret } = await registry.rotateSecret('wm-good');
    const after = await reread(path);
    assert.equal(after.device('wm-bad')?.owner, 'cust-77');
    assert.equal(await after.authenticate('wm-good', good.secret), null, 'the old secret is refused');
    assert.equal((await after.authenticate('wm-good', secret))?.id, 'wm-good');
  });

  it('removing the bad entry repairs the file', async () => {
    const { path, registry } = await broken();
    assert.equal((await registry.remove('wm-bad')).id, 'wm-bad');
    assert.deepEqual((await reread(path)).devices().map((d) => d.id), ['wm-good']);
  });

  it('entries whose id the rule refuses (registered before the rule was tightened) can be removed one by one, and only those that are there', async () => {
    const { path, registry } = await fresh();
    await registry.addDevice(washer('wm-1'));
    const doc = JSON.parse(await readFile(path, 'utf8'));
    doc.entries.push({ ...doc.entries[0], id: '-x' }, { ...doc.entries[0], id: '..' });
    await writeFile(path, JSON.stringify(doc));
    await rejectsWith(reread(path), 'GW_ERR_REGISTRY', /entries\[1\] \(id "-x"\) id: expected 1 to 64 letters, digits, ".", "_" or "-", not starting with "-" and not dots only/);
    await rejectsWith(registry.rotateSecret('-x'), 'GW_ERR_INVALID_ARGUMENT', /"-x" is not a valid id/);
    await rejectsWith(registry.remove('-y'), 'GW_ERR_INVALID_ARGUMENT', /"-y" is not a valid id/);
    assert.equal((await registry.remove('-x')).id, '-x');
    await rejectsWith(reread(path), 'GW_ERR_REGISTRY', /is invalid:\n {2}entries\[1\] \(id "\.\."\) id: [^\n]*\nRepair/);
    assert.equal((await registry.removeIfPresent('..'))?.id, '..');
    assert.deepEqual((await reread(path)).list().map((e) => e.id), ['wm-1']);
  });

  it('with several bad entries, each repair is written, and other changes wait until the last one is repaired', async () => {
    const { path, registry } = await fresh();
    await registry.addDevices([washer('wm-1'), washer('wm-2'), washer('wm-3')]);
    const doc = JSON.parse(await readFile(path, 'utf8'));
    doc.entries[0].owner = 'Jane Doe';
    doc.entries[2].owner = 'John Doe';
    await writeFile(path, JSON.stringify(doc));
    await registry.setOwner('wm-1', 'cust-a');
    await rejectsWith(registry.rotateSecret('wm-2'), 'GW_ERR_REGISTRY', /holds invalid entries[^\n]*\n {2}entries\[2\] \(id "wm-3"\) owner: [^\n]*\nRepair/);
    await registry.setOwner('wm-3', 'cust-c');
    await registry.rotateSecret('wm-2');
    assert.deepEqual((await reread(path)).devices().map((d) => d.owner), ['cust-a', 'cust-wm-2', 'cust-c']);
  });

  it('a file whose frame is broken (an id twice) is refused for every change, with a word on repairing it by hand', async () => {
    const { path, registry } = await fresh();
    await registry.addDevices([washer('wm-1'), washer('wm-2')]);
    const doc = JSON.parse(await readFile(path, 'utf8'));
    doc.entries[1].id = 'wm-1';
    await writeFile(path, JSON.stringify(doc));
    const before = await readFile(path, 'utf8');
    await rejectsWith(reread(path), 'GW_ERR_REGISTRY', /entries\[1\] \(id "wm-1"\) id: id "wm-1" is already used by entries\[0\]/);
    await rejectsWith(registry.remove('wm-1'), 'GW_ERR_REGISTRY', /no command can change it until it is repaired by hand or restored from a backup:\n {2}entries\[1\] \(id "wm-1"\) id: id "wm-1" is already used by entries\[0\]$/);
    assert.equal(await readFile(path, 'utf8'), before);
  });
});

describe('secret hashes', () => {
  it('a secret is kept as the SHA-256 of the token, never the token; it verifies, a wrong or cut secret does not, nor does a malformed hash', async () => {
    const { path, registry } = await fresh();
    const { secret } = await registry.addDevice(washer('wm-1'));
    const stored = (await hashOf(path, 'wm-1'))!;
    assert.match(stored, /^sha256\$[A-Za-z0-9_-]{43}$/);
    assert.equal(stored, hashSecret(secret));
    assert.ok(!stored.includes(secret));
    assert.equal(await verifySecret(secret, stored), true);
    assert.equal(await verifySecret(Buffer.from(secret), stored), true, 'an MQTT password arrives as bytes');
    assert.equal(await verifySecret(`${secret}x`, stored), false);
    assert.equal(await verifySecret(secret.slice(0, -1), stored), false);
    for (const bad of ['sha256$', `sha256$${secret}$x`, 'md5$abc', '', 'scrypt$1$2']) assert.equal(await verifySecret(secret, bad), false, bad);
    assert.equal((await registry.authenticate('wm-1', 'wrong'))?.id, undefined);
    assert.equal((await registry.authenticate('nobody', secret))?.id, undefined);
    assert.equal((await registry.authenticate('wm-1', secret))?.id, 'wm-1');
  });

  it('a registry written with scrypt hashes still authenticates; after the login the file holds the fast form, a wrong secret changes nothing, and a secret rotated meanwhile is not overwritten', async () => {
    const { path, registry } = await fresh();
    const made = await registry.addDevices(['wm-1', 'wm-2', 'wm-3', 'wm-4'].map((id) => washer(id)));
    const secrets = new Map(made.map((m) => [m.entry.id, m.secret]));
    await writeScryptEra(path, secrets);
    const gateway = await reread(path);
    assert.match((await hashOf(path, 'wm-1')) ?? '', /^scrypt\$/);
    for (const id of ['wm-1', 'wm-2', 'wm-3']) assert.equal((await gateway.authenticate(id, secrets.get(id)!))?.id, id);
    assert.equal(await gateway.authenticate('wm-4', 'not-its-secret'), null);
    // wm-3's secret is rotated by the CLI before the gateway writes its fast hash.
    const rotatedOld = await hashOf(path, 'wm-3');
    const { secret: newSecret } = await (await reread(path)).rotateSecret('wm-3');
    assert.notEqual(await hashOf(path, 'wm-3'), rotatedOld);
    await gateway.stop();
    assert.equal(await hashOf(path, 'wm-1'), hashSecret(secrets.get('wm-1')!));
    assert.equal(await hashOf(path, 'wm-2'), hashSecret(secrets.get('wm-2')!));
    assert.equal(await hashOf(path, 'wm-3'), hashSecret(newSecret), 'the rotated secret stays');
    assert.match((await hashOf(path, 'wm-4')) ?? '', /^scrypt\$/, 'a failed login upgrades nothing');
    const next = await reread(path);
    assert.equal((await next.authenticate('wm-1', secrets.get('wm-1')!))?.id, 'wm-1');
    assert.equal(await next.authenticate('wm-3', secrets.get('wm-3')!), null, 'the old secret of a rotated device');
    assert.equal((await next.authenticate('wm-4', secrets.get('wm-4')!))?.id, 'wm-4', 'still scrypt, still works');
  });
});

describe('logins and the look at the file', () => {
  /** The gateway's reader of the file (watched, unless said) and a second writer of it, as the CLI is. */
  async function pair(watch = true) {
    const { path, registry: cli } = await fresh();
    const gateway = await reread(path);
    if (watch) gateway.watch();
    const changed = () => new Promise<void>((resolve) => { const off = gateway.onChange(() => { off(); resolve(); }); });
    return { cli, gateway, changed };
  }

  it('a known device with its secret logs in without a look at the file when the last look is under CHECK_EVERY_MS old', async () => {
    const { path, registry: cli } = await fresh();
    const { secret } = await cli.addDevice(washer('wm-1'));
    const gateway = await reread(path);
    gateway.watch();
    try {
      assert.equal((await gateway.authenticate('wm-1', secret))?.id, 'wm-1');
      assert.equal(gateway.fileChecks, 1, 'the first login looked: the reader had never looked');
      // Fifty SHA-256 checks: well under a millisecond.
      for (let i = 0; i < 50; i++) assert.equal((await gateway.authenticate('wm-1', secret))?.id, 'wm-1');
      assert.equal(gateway.fileChecks, 1, 'no further login looked at the file');
    } finally {
      await gateway.stop();
    }
  });

  it('a device just added, or a secret just rotated, is checked against the file at once; an unknown id or a wrong secret looks too and is refused', async () => {
    const { cli, gateway, changed } = await pair();
    try {
      // Logged in the moment the other process wrote it, whether or not the watch has told yet.
      const { secret } = await cli.addDevice(washer('wm-2'));
      assert.equal((await gateway.authenticate('wm-2', secret))?.id, 'wm-2');
      const rotated = changed();
      const { secret: next } = await cli.rotateSecret('wm-2');
      assert.equal((await gateway.authenticate('wm-2', next))?.id, 'wm-2', 'the new secret at once');
      await rotated;
      assert.equal(await gateway.authenticate('wm-2', secret), null, 'the old secret once the change is seen');
      const before = gateway.fileChecks;
      assert.equal(await gateway.authenticate('wm-2', 'wrong'), null);
      assert.equal(await gateway.authenticate('nobody', next), null);
      assert.equal(gateway.fileChecks, before + 2);
    } finally {
      await gateway.stop();
    }
  });

  it('watching a registry whose folder is not there yet (a first start) makes the folder and sees the first device added', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ug-registry-'));
    const path = join(dir, 'data', 'registry.json');
    const warnings: unknown[] = [];
    const log = { warn: (o: unknown) => warnings.push(o), info: () => {}, error: () => {} } as unknown as Logger;
    const gateway = new Registry(path, catalogue, log);
    await gateway.load();
    gateway.watch();
    try {
      assert.deepEqual(warnings, [], 'the watch was set up');
      const changed = new Promise<void>((resolve) => { const off = gateway.onChange(() => { off(); resolve(); }); });
      const cli = new Registry(path, catalogue);
      await cli.load();
      await cli.addDevice(washer('wm-9'));
      await changed;
      assert.equal(gateway.device('wm-9')?.id, 'wm-9', 'seen through the watch, without a login');
    } finally {
      await gateway.stop();
    }
  });

  it('without a watch (a shared volume that reports nothing), a device removed elsewhere is refused once CHECK_EVERY_MS has passed', async () => {
    const { cli, gateway } = await pair(false);
    const { secret } = await cli.addDevice(washer('wm-3'));
    assert.equal((await gateway.authenticate('wm-3', secret))?.id, 'wm-3');
    const looked = performance.now();
    await cli.remove('wm-3');
    // The property is a time bound: nothing happens in the reader to wait for.
    await new Promise((r) => setTimeout(r, Math.max(0, CHECK_EVERY_MS - (performance.now() - looked)) + 50));
    assert.equal(await gateway.authenticate('wm-3', secret), null);
  });
});
