import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { mkdirSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { UsageGatewayError } from '../../protocol/errors.ts';
import type { Catalogue } from '../../protocol/models.ts';
import { checkDeviceId, checkOwner, quoted } from '../../protocol/ids.ts';
import {
  CONSENT_HISTORY_MAX,
  registryEntrySchema,
  registryFileSchema,
  registryFrameSchema,
  type AnalyticsEntry,
  type ConsentChange,
  type ConsentPurpose,
  type ConsentSource,
  type ConsumerEntry,
  type DeviceEntry,
  type RegistryEntry,
  type RegistryFile,
} from '../../protocol/registry.ts';
import type { TriggerCategory } from '../../protocol/topics.ts';
import { DUMMY_HASH, hashSecret, needsRehash, newSecret, verifySecret } from './secrets.ts';

/** How a refused file is repaired, said after the list of its problems. */
/** Logins of entries hashed in an older form within this long share one registry write. */
const REHASH_DELAY_MS = 1_000;
const REPAIR = 'Repair each entry listed: `usage-gateway devices set-owner <id> <owner>` replaces an owner that is not a pseudonymous id, `usage-gateway devices remove <id>` (or `consumers remove <id>`) drops an entry, or edit the file by hand';

/** Schema issues as people read them: the entry's index and id, the field, what is wrong. */
function describeIssues(issues: readonly z.core.$ZodIssue[], doc: unknown): string[] {
  const entries = (doc as { entries?: unknown } | null)?.entries;
  return issues.map((issue) => {
    const [top, index, ...rest] = issue.path;
    if (top === 'entries' && typeof index === 'number') {
      const id = Array.isArray(entries) ? (entries[index] as { id?: unknown } | null)?.id : undefined;
      return `  entries[${index}]${typeof id === 'string' ? ` (id ${quoted(id)})` : ''}${rest.length > 0 ? ` ${rest.join('.')}` : ''}: ${issue.message}`;
    }
    return `  ${issue.path.join('.') || '(top level)'}: ${issue.message}`;
  });
}

/** The first problems of a list, so that a file broken throughout does not flood the screen. */
function listed(lines: Iterable<string>): string {
  const all = [...lines];
  return [...all.slice(0, 20), ...(all.length > 20 ? [`  … and ${all.length - 20} more`] : [])].join('\n');
}

/**
 * The problems of a file whose frame is sound, keyed by entry id, field and message (entry
 * indexes shift when an entry is removed), each with its description.
 */
function problemsOf(issues: readonly z.core.$ZodIssue[], doc: { entries: unknown[] } | unknown): Map<string, string> {
  const lines = describeIssues(issues, doc);
  const entries = (doc as { entries: Array<{ id: string }> }).entries;
  return new Map(issues.map((issue, i) => {
    const [, index, ...rest] = issue.path;
    return [`${entries[index as number]?.id}\0${rest.join('.')}\0${issue.message}`, lines[i]];
  }));
}

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
 * How long a look at the file vouches for a successful login: within it, a known entry whose
 * secret verifies is taken as the registry last read it. So a device removed or a secret
 * rotated in another process (the CLI, another host) is refused at most this long after the
 * change, where the watch has not told sooner.
 */
export const CHECK_EVERY_MS = 1_000;

/**
 * The device registry: one JSON file of devices and consumer identities. The gateway reads
 * it and notices changes (a watch; and a stat before a login when the last look is a second
 * old, or the login fails); the CLI and the API change it under a lock file and replace it
 * atomically.
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
  private checks = 0;
  /** When the last look at the file began (performance.now()); -Infinity before the first. */
  private lastCheckAt = -Infinity;
  private refreshing?: Promise<void>;
  private queued?: Promise<void>;
  /** Entries of an older hash form that logged in: id → the hash verified and its fast form. */
  private readonly rehash = new Map<string, { from: string; to: string }>();
  private rehashTimer?: NodeJS.Timeout;
  private rehashing?: Promise<void>;
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
    this.lastCheckAt = performance.now();
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
      // On a first start the folder may not be there yet (no device added): made as a write of
      // the registry would make it, so that the watch sees the first one.
      mkdirSync(dirname(this.path), { recursive: true });
      this.watcher = watch(dirname(this.path), (_event, name) => {
        if (name === null || name === basename(this.path)) void this.refresh();
      });
      this.watcher.unref();
      // A watch that fails (the folder removed, a file system that stops reporting) is dropped:
      // every login then checks the file, as without a watch.
      this.watcher.on('error', (err) => {
        this.log?.warn({ err }, 'the registry folder watch failed; changes are picked up at the next connection');
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.log?.warn({ err }, 'cannot watch the registry folder; changes are picked up at the next connection');
    }
  }

  /** Stops watching, and writes the fast hashes of entries that logged in since the last flush. */
  async stop(): Promise<void> {
    this.watcher?.close();
    this.watcher = undefined;
    await this.flushRehash();
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

  /**
   * The entry when the secret matches, else null. Constant time in the secret. An entry hashed
   * in an older form (scrypt) is stored in the fast form after it logs in: one registry write
   * for all such logins within a second, so that a fleet reconnecting at once is not a write each.
   */
  async authenticate(id: string, secret: Buffer | string): Promise<RegistryEntry | null> {
    // A known entry whose secret verifies logs in without a look at the file when the last look
    // began less than CHECK_EVERY_MS ago: a reconnect storm is thousands of those at once, and
    // the watch usually tells of a change within milliseconds anyway. Anything else may be a
    // device just added or a secret just rotated: the file is checked first. A wrong secret
    // costs two checks whether or not the id exists, so timing does not tell which.
    if (performance.now() - this.lastCheckAt < CHECK_EVERY_MS) {
      const known = this.entries.get(id);
      if (await verifySecret(secret, known?.secretHash ?? DUMMY_HASH) && known) return this.accepted(id, known, secret);
    }
    this.checks++;
    await this.refresh();
    const entry = this.entries.get(id);
    const hash = entry?.secretHash ?? DUMMY_HASH;
    const ok = await verifySecret(secret, hash);
    if (!ok || !entry) return null;
    return this.accepted(id, entry, secret);
  }

  /** Logins that looked at the file first (a stat; a re-read when it changed). */
  get fileChecks(): number {
    return this.checks;
  }

  private accepted(id: string, entry: RegistryEntry, secret: Buffer | string): RegistryEntry {
    if (needsRehash(entry.secretHash)) this.scheduleRehash(id, entry.secretHash, hashSecret(secret));
    return entry;
  }

  private scheduleRehash(id: string, from: string, to: string): void {
    this.rehash.set(id, { from, to });
    this.rehashTimer ??= setTimeout(() => void this.flushRehash(), REHASH_DELAY_MS).unref();
  }

  /**
   * Writes the fast hashes of the entries that logged in since the last flush; an entry whose
   * hash changed meanwhile (rotated, removed) is left as it is. A failed write is logged and
   * the entries stay as they were: they are rehashed at a later login.
   */
  flushRehash(): Promise<void> {
    clearTimeout(this.rehashTimer);
    this.rehashTimer = undefined;
    if (this.rehash.size === 0) return this.rehashing ?? Promise.resolve();
    const batch = new Map(this.rehash);
    this.rehash.clear();
    const run = (this.rehashing ?? Promise.resolve()).then(() => this.mutate((entries) => {
      let changed = false;
      for (const [id, { from, to }] of batch) {
        const e = entries.get(id);
        if (e?.secretHash !== from) continue;
        entries.set(id, { ...e, secretHash: to });
        changed = true;
      }
      return changed;
    })).then(
      () => this.log?.info({ entries: batch.size }, 'registry: secret hashes of an older form replaced by the fast form after login'),
      (err) => this.log?.warn({ err, code: 'GW_ERR_REGISTRY', entries: batch.size }, 'registry: could not store the fast form of secret hashes; they are kept as they are and rehashed at a later login'),
    );
    this.rehashing = run.finally(() => {
      if (this.rehashing === run) this.rehashing = undefined;
    });
    return this.rehashing;
  }

  // ── changes (CLI, API) ───────────────────────────────────────────────────────────────
  // Ids and owners are checked here before anything is read or written (GW_ERR_INVALID_ARGUMENT);
  // whatever else a change gets wrong, the whole new file is checked in mutate() before it is
  // written.

  async addDevice(input: NewDevice, by: ConsentActor = { source: 'cli', actor: 'unknown' }): Promise<{ entry: DeviceEntry; secret: string }> {
    const [made] = await this.addDevices([input], by);
    return made;
  }

  /** Adds many devices under one lock (fleet provisioning). */
  async addDevices(inputs: NewDevice[], by: ConsentActor = { source: 'import', actor: 'unknown' }): Promise<Array<{ entry: DeviceEntry; secret: string }>> {
    for (const input of inputs) {
      checkDeviceId(input.id);
      checkOwner(input.owner);
      const model = this.catalogue.get(input.model);
      if (!model) {
        throw new UsageGatewayError('GW_ERR_MODEL_UNKNOWN', `model "${input.model}" is not in the catalogue; see \`usage-gateway models list\``);
      }
      if (model.kind !== input.kind) {
        throw new UsageGatewayError('GW_ERR_MODEL_UNKNOWN', `model "${input.model}" is a ${model.kind}, not a ${input.kind}`);
      }
    }
    const made: Array<{ entry: DeviceEntry; secret: string }> = [];
    const now = new Date().toISOString();
    for (const input of inputs) {
      const secret = newSecret();
      made.push({
        secret,
        entry: withConsent({
          id: input.id, role: 'device', kind: input.kind, model: input.model, owner: input.owner,
          ownerSince: now, consent: [], secretHash: hashSecret(secret),
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
    checkDeviceId(id, `${role} id`);
    const secret = newSecret();
    const now = new Date().toISOString();
    const base = { id, secretHash: hashSecret(secret), createdAt: now, updatedAt: now };
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

  /**
   * Removes an entry. An id that breaks the id rule is accepted only when the file holds an
   * entry with exactly that id (one written before the rule was tightened): removing it is
   * how such a file is repaired.
   */
  async remove(id: string): Promise<RegistryEntry> {
    return (await this.removeEntry(id, false))!;
  }

  /** Like remove(), but an id that is not registered is not an error: undefined (erasure). */
  removeIfPresent(id: string): Promise<RegistryEntry | undefined> {
    return this.removeEntry(id, true);
  }

  private async removeEntry(id: string, missingOk: boolean): Promise<RegistryEntry | undefined> {
    let removed: RegistryEntry | undefined;
    await this.mutate((entries) => {
      removed = entries.get(id);
      if (!removed) {
        checkDeviceId(id, 'id');
        if (missingOk) return false;
        this.existing(entries, id);
      }
      entries.delete(id);
      return true;
    });
    return removed;
  }

  async rotateSecret(id: string): Promise<{ entry: RegistryEntry; secret: string }> {
    checkDeviceId(id, 'id');
    const secret = newSecret();
    const secretHash = hashSecret(secret);
    let entry: RegistryEntry | undefined;
    await this.mutate((entries) => {
      entry = { ...this.existing(entries, id), secretHash, updatedAt: new Date().toISOString() };
      entries.set(id, entry);
    });
    return { entry: entry!, secret };
  }

  /** Replaces the owner's consent and appends the change, with its source and actor, to the history. */
  async setConsent(id: string, consent: ConsentPurpose[], by: ConsentActor = { source: 'cli', actor: 'unknown' }): Promise<DeviceEntry> {
    checkDeviceId(id);
    return this.updateDevice(id, (d) => withConsent(d, [...new Set(consent)], by, new Date().toISOString()));
  }

  /** A change of owner (resale): the new owner starts with no consent given. */
  async setOwner(id: string, owner: string, consent: ConsentPurpose[] = [], by: ConsentActor = { source: 'cli', actor: 'unknown' }): Promise<DeviceEntry> {
    checkDeviceId(id);
    checkOwner(owner);
    const now = new Date().toISOString();
    return this.updateDevice(id, (d) => withConsent({ ...d, owner, ownerSince: now }, [...new Set(consent)], by, now));
  }

  /** What a consumer identity may receive from now on. */
  async setConsumerAccess(id: string, access: ConsumerAccess): Promise<ConsumerEntry> {
    checkDeviceId(id, 'consumer id');
    let out: ConsumerEntry | undefined;
    await this.mutate((entries) => {
      const e = this.existing(entries, id);
      if (e.role !== 'consumer') throw new UsageGatewayError('GW_ERR_DEVICE_UNKNOWN', `${quoted(id)} is not a consumer`);
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
    checkOwner(owner);
    let removed = 0;
    await this.mutate((entries) => {
      for (const [id, e] of entries) {
        if (e.role !== 'device' || !e.consentHistory?.some((c) => c.owner === owner)) continue;
        const kept = e.consentHistory.filter((c) => c.owner !== owner);
        removed += e.consentHistory.length - kept.length;
        entries.set(id, { ...e, consentHistory: kept });
      }
      return removed > 0;
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
    if (entries.has(id)) throw new UsageGatewayError('GW_ERR_DEVICE_EXISTS', `"${id}" is already registered`);
  }

  private existing(entries: Map<string, RegistryEntry>, id: string): RegistryEntry {
    const e = entries.get(id);
    if (!e) throw new UsageGatewayError('GW_ERR_DEVICE_UNKNOWN', `no device or consumer ${quoted(id)} in ${this.path}`);
    return e;
  }

  // ── the file ─────────────────────────────────────────────────────────────────────────

  /** The file's text and stamp; null when there is no file (an empty registry). */
  private async readText(): Promise<{ text: string; stamp: string } | null> {
    try {
      const st = await stat(this.path);
      const text = await readFile(this.path, 'utf8');
      return { text, stamp: `${st.mtimeMs}:${st.size}:${st.ino}` };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new UsageGatewayError('GW_ERR_REGISTRY', `cannot read registry ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  private parseJson(text: string): unknown {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new UsageGatewayError('GW_ERR_REGISTRY', `registry ${this.path} is not valid JSON: ${(err as Error).message}; restore it from a backup or fix it by hand`);
    }
  }

  /** The whole file, as the gateway and `devices list` read it: all valid, or GW_ERR_REGISTRY. */
  private async readFile(): Promise<{ file: RegistryFile; stamp: string }> {
    const read = await this.readText();
    if (!read) return { file: { version: 1, entries: [] }, stamp: 'missing' };
    const doc = this.parseJson(read.text);
    const parsed = registryFileSchema.safeParse(doc);
    if (!parsed.success) {
      throw new UsageGatewayError('GW_ERR_REGISTRY', `registry ${this.path} is invalid:\n${listed(describeIssues(parsed.error.issues, doc))}\n${REPAIR}`);
    }
    return { file: parsed.data, stamp: read.stamp };
  }

  /**
   * The entries a change starts from. Unlike readFile(), entries that the schema refuses are
   * kept as they are (so that a command can repair them) and listed in `problems`; only a file
   * whose frame is broken (not JSON, wrong version, an entry without an id, an id twice) is
   * refused outright, since no command can tell which entry is meant.
   */
  private async readForChange(): Promise<{ entries: Map<string, RegistryEntry>; problems: Map<string, string> }> {
    const read = await this.readText();
    if (!read) return { entries: new Map(), problems: new Map() };
    const doc = this.parseJson(read.text);
    const whole = registryFileSchema.safeParse(doc);
    if (whole.success) return { entries: new Map(whole.data.entries.map((e) => [e.id, e])), problems: new Map() };
    const frame = registryFrameSchema.safeParse(doc);
    if (!frame.success) {
      throw new UsageGatewayError('GW_ERR_REGISTRY', `registry ${this.path} is invalid and no command can change it until it is repaired by hand or restored from a backup:\n${listed(new Set(describeIssues([...frame.error.issues, ...whole.error.issues], doc)))}`);
    }
    const entries = new Map<string, RegistryEntry>();
    for (const raw of frame.data.entries) {
      const one = registryEntrySchema.safeParse(raw);
      // Kept as read: the check of the whole new file in mutate() refuses it unless the change repairs it.
      entries.set(raw.id, one.success ? one.data : (raw as unknown as RegistryEntry));
    }
    return { entries, problems: problemsOf(whole.error.issues, doc) };
  }

  /**
   * The one way the file is changed: read-modify-write under an exclusive lock file. The new
   * contents are checked against the same schema as every read before the file is replaced,
   * so no change can leave a file that the gateway or the next command refuses. `change`
   * returns false when it changed nothing (nothing is written then).
   */
  private async mutate(change: (entries: Map<string, RegistryEntry>) => boolean | void): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const lock = `${this.path}.lock`;
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await (await open(lock, 'wx', 0o600)).close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new UsageGatewayError('GW_ERR_REGISTRY', `cannot lock registry ${this.path} (${lock}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
        if (age > 30_000) await unlink(lock).catch(() => {}); // left by a crashed writer
        if (Date.now() > deadline) throw new UsageGatewayError('GW_ERR_REGISTRY', `registry is locked by another writer (${lock})`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    try {
      const { entries, problems } = await this.readForChange();
      if (change(entries) === false) return;
      const next = { version: 1 as const, entries: [...entries.values()] };
      const checked = registryFileSchema.safeParse(next);
      if (checked.success) {
        this.apply(checked.data, await this.replace(checked.data));
        return;
      }
      const left = problemsOf(checked.error.issues, next);
      if (problems.size === 0) {
        throw new UsageGatewayError('GW_ERR_REGISTRY', `the change would leave registry ${this.path} invalid; nothing was written:\n${listed(left.values())}`);
      }
      // The file was invalid already. A repair of some of its entries (set-owner, remove) is
      // written even while others are still to be repaired; any other change is not: a running
      // gateway keeps its last good registry while the file is invalid, so a removal or a new
      // secret written into a still-invalid file would not take effect there.
      const repairs = [...left.keys()].every((k) => problems.has(k)) && left.size < problems.size;
      if (!repairs) {
        throw new UsageGatewayError('GW_ERR_REGISTRY', `registry ${this.path} holds invalid entries, and the gateway does not load it while it does, so this change would not take effect; nothing was written:\n${listed(problems.values())}\n${REPAIR}; then run this command again`);
      }
      await this.replace(next as RegistryFile);
    } finally {
      await unlink(lock).catch(() => {});
    }
  }

  /**
   * Replaces the file atomically: a temporary file (mode 0600, it holds secret hashes) in the
   * same folder, fsync'd, renamed over the file, then the folder fsync'd so that the rename
   * survives a crash. Readers see the old file or the new one, never a part of either.
   */
  private async replace(file: RegistryFile): Promise<string> {
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      await unlink(tmp).catch(() => {}); // left by a crashed writer that had this pid
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(`${JSON.stringify(file, null, 2)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
      const dir = await open(dirname(this.path), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      const st = await stat(this.path);
      return `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw new UsageGatewayError('GW_ERR_REGISTRY', `cannot write registry ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }

  private apply(file: RegistryFile, stamp: string): void {
    this.entries = new Map(file.entries.map((e) => [e.id, e]));
    this.stamp = stamp;
    for (const l of this.listeners) l();
  }
}
