import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { UsageGatewayError } from '../../protocol/errors.ts';
import type { Catalogue } from '../../protocol/models.ts';
import {
  CONSENT_HISTORY_MAX,
  registryFileSchema,
  type AnalyticsEntry,
  type ConsentChange,
  type ConsentPurpose,
  type ConsentSource,
  type ConsumerEntry,
  type DeviceEntry,
  type RegistryEntry,
  type RegistryFile,
} from '../../protocol/registry.ts';
import { DEVICE_ID_RE, type TriggerCategory } from '../../protocol/topics.ts';
import { digest, DUMMY_HASH, hashSecret, newSecret, verifySecret } from './secrets.ts';

export interface NewDevice {
  id: string;
  kind: string;
  model: string;
  owner: string;
  consent?: ConsentPurpose[];
}

/** Who changes a consent, and from where: recorded in the device's consent history. */
export interface ConsentActor {
  source: ConsentSource;
  actor: string;
}

/** What a consumer identity may receive: its purposes, optionally narrowed to some categories. */
export interface ConsumerAccess {
  purposes: ConsentPurpose[];
  categories?: TriggerCategory[];
}

/** The device with one more consent change in its history (the oldest dropped past the bound). */
function withConsent(d: DeviceEntry, consent: ConsentPurpose[], by: ConsentActor, at: string): DeviceEntry {
  const change: ConsentChange = { at, owner: d.owner, consent, source: by.source, actor: by.actor };
  return { ...d, consent, consentHistory: [...(d.consentHistory ?? []), change].slice(-CONSENT_HISTORY_MAX) };
}

/**
 * The device registry: one JSON file of devices and consumer identities. The gateway reads
 * it and notices changes (a watch, and a stat before each authentication); the CLI and the API
 * change it under a lock file and replace it atomically.
 */
export class Registry {
  readonly path: string;
  private readonly catalogue: Catalogue;
  private readonly log?: Logger;
  private entries = new Map<string, RegistryEntry>();
  private stamp = '';
  /** Stamp of a file version found invalid: not read (nor reported) again until it changes. */
  private badStamp = '';
  private watcher?: FSWatcher;
  private refreshing?: Promise<void>;
  private queued?: Promise<void>;
  /** id → sha256 of a secret already verified against the current hash. */
  private readonly verified = new Map<string, { hash: string; digest: Buffer }>();
  private readonly listeners = new Set<() => void>();

  constructor(path: string, catalogue: Catalogue, log?: Logger) {
    this.path = path;
    this.catalogue = catalogue;
    this.log = log;
  }

  /** Reads the file; a missing file is an empty registry, an invalid one an error. */
  async load(): Promise<void> {
    const { file, stamp } = await this.readFile();
    this.apply(file, stamp);
  }

  /** Reloads when the file changed; keeps the last good contents when the new ones are invalid. */
  refresh(): Promise<void> {
    // A refresh under way may have looked at the file before this call was made (a device just
    // added, authenticating): such callers share one more look once it is done.
    if (this.refreshing) return (this.queued ??= this.refreshing.then(() => {
      this.queued = undefined;
      return this.refresh();
    }));
    this.refreshing = this.reload().finally(() => { this.refreshing = undefined; });
    return this.refreshing;
  }

  private async reload(): Promise<void> {
    let stamp = '';
    try {
      const st = await stat(this.path).catch(() => null);
      stamp = st ? `${st.mtimeMs}:${st.size}:${st.ino}` : 'missing';
      if (stamp === this.stamp || stamp === this.badStamp) return;
      const { file, stamp: readStamp } = await this.readFile();
      this.apply(file, readStamp);
      this.log?.info({ entries: this.entries.size }, 'registry reloaded');
    } catch (err) {
      // Every authentication refreshes: without this, each one would re-read and re-log the bad file.
      this.badStamp = stamp;
      this.log?.error({ err, code: 'GW_ERR_REGISTRY' }, 'registry file changed but is invalid; keeping the previous contents');
    }
  }

  /** Watches the registry's folder (the file itself is replaced by rename). */
  watch(): void {
    if (this.watcher) return;
    try {
      this.watcher = watch(dirname(this.path), (_event, name) => {
        if (name === null || name === basename(this.path)) void this.refresh();
      });
      this.watcher.unref();
    } catch (err) {
      this.log?.warn({ err }, 'cannot watch the registry folder; changes are picked up at the next connection');
    }
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(id: string): RegistryEntry | undefined {
    return this.entries.get(id);
  }

  device(id: string): DeviceEntry | undefined {
    const e = this.entries.get(id);
    return e?.role === 'device' ? e : undefined;
  }

  list(): RegistryEntry[] {
    return [...this.entries.values()];
  }

  devices(): DeviceEntry[] {
    return this.list().filter((e): e is DeviceEntry => e.role === 'device');
  }

  /** The entry when the secret matches, else null. Constant time in the secret. */
  async authenticate(id: string, secret: Buffer | string): Promise<RegistryEntry | null> {
    await this.refresh();
    const entry = this.entries.get(id);
    const hash = entry?.secretHash ?? DUMMY_HASH;
    const d = digest(secret);
    const cached = entry ? this.verified.get(id) : undefined;
    if (cached && cached.hash === hash && timingSafeEqual(cached.digest, d)) return entry!;
    const ok = await verifySecret(secret, hash);
    if (!ok || !entry) return null;
    this.verified.set(id, { hash, digest: d });
    return entry;
  }

  // ── changes (CLI, API) ───────────────────────────────────────────────────────────────

  async addDevice(input: NewDevice, by: ConsentActor = { source: 'cli', actor: 'unknown' }): Promise<{ entry: DeviceEntry; secret: string }> {
    const model = this.catalogue.get(input.model);
    if (!model) {
      throw new UsageGatewayError('GW_ERR_MODEL_UNKNOWN', `model "${input.model}" is not in the catalogue; see \`usage-gateway models list\``);
    }
    if (model.kind !== input.kind) {
      throw new UsageGatewayError('GW_ERR_MODEL_UNKNOWN', `model "${input.model}" is a ${model.kind}, not a ${input.kind}`);
    }
    const secret = newSecret();
    const now = new Date().toISOString();
    const entry = withConsent({
      id: input.id, role: 'device', kind: input.kind, model: input.model, owner: input.owner,
      ownerSince: now, consent: [], secretHash: await hashSecret(secret),
      createdAt: now, updatedAt: now,
    }, [...new Set(input.consent ?? [])], by, now);
    await this.mutate((entries) => {
      this.assertNew(entries, input.id);
      entries.set(entry.id, entry);
    });
    return { entry, secret };
  }

  /** Adds many devices under one lock (fleet provisioning). */
  async addDevices(inputs: NewDevice[], by: ConsentActor = { source: 'import', actor: 'unknown' }): Promise<Array<{ entry: DeviceEntry; secret: string }>> {
    const made: Array<{ entry: DeviceEntry; secret: string }> = [];
    const now = new Date().toISOString();
    for (const input of inputs) {
      const model = this.catalogue.get(input.model);
      if (!model || model.kind !== input.kind) {
        throw new UsageGatewayError('GW_ERR_MODEL_UNKNOWN', `model "${input.model}" is not a ${input.kind} in the catalogue`);
      }
      const secret = newSecret();
      made.push({
        secret,
        entry: withConsent({
          id: input.id, role: 'device', kind: input.kind, model: input.model, owner: input.owner,
          ownerSince: now, consent: [], secretHash: await hashSecret(secret),
          createdAt: now, updatedAt: now,
        }, [...new Set(input.consent ?? [])], by, now),
      });
    }
    await this.mutate((entries) => {
      for (const { entry } of made) this.assertNew(entries, entry.id);
      for (const { entry } of made) entries.set(entry.id, entry);
    });
    return made;
  }

  /** A consumer identity, or with role 'analytics' the one that publishes triggers. */
  async addConsumer(id: string, role: 'consumer' | 'analytics' = 'consumer', access?: ConsumerAccess): Promise<{ entry: ConsumerEntry | AnalyticsEntry; secret: string }> {
    const secret = newSecret();
    const now = new Date().toISOString();
    const base = { id, secretHash: await hashSecret(secret), createdAt: now, updatedAt: now };
    const entry: ConsumerEntry | AnalyticsEntry = role === 'analytics' ? { ...base, role } : {
      ...base, role, purposes: [...new Set(access?.purposes ?? [])],
      ...(access?.categories ? { categories: [...new Set(access.categories)] } : {}),
    };
    await this.mutate((entries) => {
      this.assertNew(entries, id);
      entries.set(id, entry);
    });
    return { entry, secret };
  }

  async remove(id: string): Promise<RegistryEntry> {
    let removed: RegistryEntry | undefined;
    await this.mutate((entries) => {
      removed = this.existing(entries, id);
      entries.delete(id);
    });
    return removed!;
  }

  async rotateSecret(id: string): Promise<{ entry: RegistryEntry; secret: string }> {
    const secret = newSecret();
    const secretHash = await hashSecret(secret);
    let entry: RegistryEntry | undefined;
    await this.mutate((entries) => {
      entry = { ...this.existing(entries, id), secretHash, updatedAt: new Date().toISOString() };
      entries.set(id, entry);
    });
    return { entry: entry!, secret };
  }

  /** Replaces the owner's consent and appends the change, with its source and actor, to the history. */
  async setConsent(id: string, consent: ConsentPurpose[], by: ConsentActor = { source: 'cli', actor: 'unknown' }): Promise<DeviceEntry> {
    return this.updateDevice(id, (d) => withConsent(d, [...new Set(consent)], by, new Date().toISOString()));
  }

  /** A change of owner (resale): the new owner starts with no consent given. */
  async setOwner(id: string, owner: string, consent: ConsentPurpose[] = [], by: ConsentActor = { source: 'cli', actor: 'unknown' }): Promise<DeviceEntry> {
    const now = new Date().toISOString();
    return this.updateDevice(id, (d) => withConsent({ ...d, owner, ownerSince: now }, [...new Set(consent)], by, now));
  }

  /** What a consumer identity may receive from now on. */
  async setConsumerAccess(id: string, access: ConsumerAccess): Promise<ConsumerEntry> {
    let out: ConsumerEntry | undefined;
    await this.mutate((entries) => {
      const e = this.existing(entries, id);
      if (e.role !== 'consumer') throw new UsageGatewayError('GW_ERR_DEVICE_UNKNOWN', `"${id}" is not a consumer`);
      const { categories: _old, ...rest } = e;
      out = { ...rest, purposes: [...new Set(access.purposes)], ...(access.categories ? { categories: [...new Set(access.categories)] } : {}), updatedAt: new Date().toISOString() };
      entries.set(id, out);
    });
    return out!;
  }

  /**
   * Removes one owner's consent changes from the history of devices that have another owner
   * now (resold devices); the owner's own devices are removed whole by the erasure. The number
   * of changes removed.
   */
  async eraseOwnerHistory(owner: string): Promise<number> {
    let removed = 0;
    await this.mutate((entries) => {
      for (const [id, e] of entries) {
        if (e.role !== 'device' || !e.consentHistory?.some((c) => c.owner === owner)) continue;
        const kept = e.consentHistory.filter((c) => c.owner !== owner);
        removed += e.consentHistory.length - kept.length;
        entries.set(id, { ...e, consentHistory: kept });
      }
    });
    return removed;
  }

  private async updateDevice(id: string, change: (d: DeviceEntry) => DeviceEntry): Promise<DeviceEntry> {
    let out: DeviceEntry | undefined;
    await this.mutate((entries) => {
      const e = this.existing(entries, id);
      if (e.role !== 'device') throw new UsageGatewayError('GW_ERR_DEVICE_UNKNOWN', `"${id}" is a consumer, not a device`);
      out = { ...change(e), updatedAt: new Date().toISOString() };
      entries.set(id, out);
    });
    return out!;
  }

  private assertNew(entries: Map<string, RegistryEntry>, id: string): void {
    if (!DEVICE_ID_RE.test(id)) {
      throw new UsageGatewayError('GW_ERR_USAGE', `"${id}" is not a valid id: 1-64 letters, digits, ".", "_" or "-"`);
    }
    if (entries.has(id)) throw new UsageGatewayError('GW_ERR_DEVICE_EXISTS', `"${id}" is already registered`);
  }

  private existing(entries: Map<string, RegistryEntry>, id: string): RegistryEntry {
    const e = entries.get(id);
    if (!e) throw new UsageGatewayError('GW_ERR_DEVICE_UNKNOWN', `no device or consumer "${id}" in ${this.path}`);
    return e;
  }

  private async readFile(): Promise<{ file: RegistryFile; stamp: string }> {
    let text: string;
    try {
      const st = await stat(this.path);
      text = await readFile(this.path, 'utf8');
      const file = this.parse(text);
      return { file, stamp: `${st.mtimeMs}:${st.size}:${st.ino}` };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { file: { version: 1, entries: [] }, stamp: 'missing' };
      throw err;
    }
  }

  private parse(text: string): RegistryFile {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new UsageGatewayError('GW_ERR_REGISTRY', `registry ${this.path} is not valid JSON: ${(err as Error).message}`);
    }
    const parsed = registryFileSchema.safeParse(doc);
    if (!parsed.success) {
      const lines = parsed.error.issues.slice(0, 20).map((i) => `  ${i.path.join('.')}: ${i.message}`);
      throw new UsageGatewayError('GW_ERR_REGISTRY', `registry ${this.path} is invalid:\n${lines.join('\n')}`);
    }
    return parsed.data;
  }

  private apply(file: RegistryFile, stamp: string): void {
    this.entries = new Map(file.entries.map((e) => [e.id, e]));
    this.stamp = stamp;
    for (const id of this.verified.keys()) if (!this.entries.has(id)) this.verified.delete(id);
    for (const l of this.listeners) l();
  }

  /** Read-modify-write under an exclusive lock file, replacing the file atomically. */
  private async mutate(change: (entries: Map<string, RegistryEntry>) => void): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const lock = `${this.path}.lock`;
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await (await open(lock, 'wx')).close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
        if (age > 30_000) await unlink(lock).catch(() => {}); // left by a crashed writer
        if (Date.now() > deadline) throw new UsageGatewayError('GW_ERR_REGISTRY', `registry is locked by another writer (${lock})`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    try {
      const { file } = await this.readFile();
      const entries = new Map(file.entries.map((e) => [e.id, e]));
      change(entries);
      const next: RegistryFile = { version: 1, entries: [...entries.values()] };
      const tmp = `${this.path}.${process.pid}.tmp`;
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(`${JSON.stringify(next, null, 2)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
      const st = await stat(this.path);
      this.apply(next, `${st.mtimeMs}:${st.size}:${st.ino}`);
    } finally {
      await unlink(lock).catch(() => {});
    }
  }
}
