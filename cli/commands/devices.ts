import { userInfo } from 'node:os';
import { Command } from 'commander';
import { CONSENT_PURPOSES, type ConsentPurpose, type RegistryEntry } from '../../protocol/registry.ts';
import { checkDeviceId, checkOwner, DEVICE_ID_RULE, OWNER_RULE, quoted } from '../../protocol/ids.ts';
import { TRIGGER_CATEGORIES, type TriggerCategory } from '../../protocol/topics.ts';
import { KIND_NAMES } from '../../protocol/kinds/index.ts';
import type { ConsentActor, Registry } from '../../core/registry/index.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { cliContext, printRows, usageError } from '../context.ts';
import { eraseDeviceEverywhere } from './erase.ts';

function parseConsent(value: string | undefined): ConsentPurpose[] {
  if (value === undefined || value.trim() === '' || value === 'none') return [];
  const items = value.split(',').map((s) => s.trim());
  const bad = items.filter((s) => !(CONSENT_PURPOSES as readonly string[]).includes(s));
  if (bad.length > 0) throw usageError(`--consent: unknown purpose ${bad.map((b) => `"${b}"`).join(', ')}; expected a comma-separated list of ${CONSENT_PURPOSES.join(', ')} (or "none")`);
  return items as ConsentPurpose[];
}

/** A consent change made from the command line, by the login that ran it. */
function cliActor(): ConsentActor {
  let name = process.env.USER ?? '';
  try {
    name = userInfo().username;
  } catch {
    // no passwd entry (a container's arbitrary uid): the environment's name, if any
  }
  return { source: 'cli', actor: name || `uid:${process.getuid?.() ?? 'unknown'}` };
}

function parseList<T extends string>(value: string, option: string, allowed: readonly T[]): T[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((s) => !(allowed as readonly string[]).includes(s));
  if (items.length === 0 || bad.length > 0) throw usageError(`${option}: ${bad.length ? `unknown ${bad.map((b) => `"${b}"`).join(', ')}` : 'empty'}; expected a comma-separated list of ${allowed.join(', ')}`);
  return items as T[];
}

/** The entry as shown to people: never the secret hash. */
function shown(e: RegistryEntry): Record<string, unknown> {
  const { secretHash: _hash, ...rest } = e;
  return rest;
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** For the commands that change the registry (see cliContext). */
const CHANGE = { readRegistry: false };

/**
 * After a remove or set-owner, which may have repaired one entry of a registry file that is
 * invalid on disk: says on stderr what is still to repair (the change itself succeeded).
 */
async function reportLeftToRepair(registry: Registry): Promise<void> {
  await registry.load().catch((err: { code?: string; message?: string }) => {
    process.stderr.write(`warning ${err.code ?? 'GW_ERR_REGISTRY'}: the change was written, but ${err.message}\n`);
  });
}

export function devicesCommand(): Command {
  const cmd = new Command('devices').description('the device registry: add, list, remove devices and rotate their secrets');
  cmd
    .command('add <id>')
    .description(`register a device; prints JSON with its secret (shown once, only its hash is kept). The id: ${DEVICE_ID_RULE}`)
    .requiredOption('--kind <kind>', `device kind: ${KIND_NAMES.join(', ')}`)
    .requiredOption('--model <model>', 'catalogue model id (see `models list`)')
    .requiredOption('--owner <owner>', OWNER_RULE)
    .option('--consent <purposes>', `comma-separated: ${CONSENT_PURPOSES.join(', ')}`)
    .action(async (id: string, opts: { kind: string; model: string; owner: string; consent?: string }, c: Command) => {
      checkDeviceId(id);
      checkOwner(opts.owner);
      if (!KIND_NAMES.includes(opts.kind)) throw usageError(`--kind: "${opts.kind}" is not a device kind; expected one of ${KIND_NAMES.join(', ')}`);
      const consent = parseConsent(opts.consent);
      const { registry } = await cliContext(c.optsWithGlobals(), CHANGE);
      const { entry, secret } = await registry.addDevice({ id, kind: opts.kind, model: opts.model, owner: opts.owner, consent }, cliActor());
      printJson({ ...shown(entry), secret });
    });
  cmd
    .command('list')
    .description('list registered devices')
    .option('--kind <kind>', 'only devices of this kind')
    .option('--json', 'print a JSON array')
    .action(async (opts: { kind?: string; json?: boolean }, c: Command) => {
      const { registry } = await cliContext(c.optsWithGlobals());
      const rows = registry.devices().filter((d) => !opts.kind || d.kind === opts.kind).map(({ consentHistory: _h, ...d }) => shown(d));
      printRows(rows, Boolean(opts.json), ['id', 'kind', 'model', 'owner', 'consent', 'createdAt']);
    });
  cmd
    .command('remove <id>')
    .description('remove a device from the registry (its stored data stays); also repairs a registry file by dropping an entry it refuses')
    .action(async (id: string, _opts: unknown, c: Command) => {
      // The id is checked by remove() before anything changes: one that breaks the id rule is
      // accepted only if the file holds exactly that entry (written before the rule was tightened).
      const { registry } = await cliContext(c.optsWithGlobals(), CHANGE);
      printJson({ removed: shown(await registry.remove(id)) });
      await reportLeftToRepair(registry);
    });
  cmd
    .command('rotate-secret <id>')
    .description('issue a new secret; the old one is refused from now on')
    .action(async (id: string, _opts: unknown, c: Command) => {
      checkDeviceId(id);
      const { registry } = await cliContext(c.optsWithGlobals(), CHANGE);
      const { entry, secret } = await registry.rotateSecret(id);
      printJson({ ...shown(entry), secret });
    });
  cmd
    .command('consent <id> [purposes]')
    .description(`set the owner's consent: comma-separated ${CONSENT_PURPOSES.join(', ')}, or "none"; each change is kept in the device's consent history with who made it`)
    .option('--history', 'show the consent history (every change: when, the consent from then on, owner, source, actor) instead of changing it')
    .option('--json', 'with --history: print a JSON array')
    .action(async (id: string, purposes: string | undefined, opts: { history?: boolean; json?: boolean }, c: Command) => {
      checkDeviceId(id);
      if (opts.history && purposes !== undefined) throw usageError('give either purposes to set or --history to show, not both');
      if (!opts.history && purposes === undefined) throw usageError(`missing purposes: comma-separated ${CONSENT_PURPOSES.join(', ')}, or "none" (or --history to show the changes)`);
      if (opts.history) {
        const { registry } = await cliContext(c.optsWithGlobals());
        const d = registry.device(id);
        if (!d) throw new UsageGatewayError('GW_ERR_DEVICE_UNKNOWN', `no device ${quoted(id)} in ${registry.path}`);
        const rows = (d.consentHistory ?? []).map((h) => ({ ...h, consent: h.consent.length ? h.consent : ['none'] }));
        printRows(rows, Boolean(opts.json), ['at', 'consent', 'owner', 'source', 'actor']);
        return;
      }
      const consent = parseConsent(purposes);
      const { registry } = await cliContext(c.optsWithGlobals(), CHANGE);
      printJson(shown(await registry.setConsent(id, consent, cliActor())));
    });
  cmd
    .command('set-owner <id> <owner>')
    .description('record a change of owner (resale); the new owner starts without consent unless --consent')
    .option('--consent <purposes>', `comma-separated: ${CONSENT_PURPOSES.join(', ')}`)
    .action(async (id: string, owner: string, opts: { consent?: string }, c: Command) => {
      checkDeviceId(id);
      checkOwner(owner);
      const consent = parseConsent(opts.consent);
      const { registry } = await cliContext(c.optsWithGlobals(), CHANGE);
      printJson(shown(await registry.setOwner(id, owner, consent, cliActor())));
      await reportLeftToRepair(registry);
    });
  cmd
    .command('erase <id>')
    .description('erase everything stored about a device (data-protection request): registry entry and consent history, every point in InfluxDB (raw, roll-ups, triggers, feedback), its dead-letter entries and its analytics state (triggers, feedback, pending deliveries, holds)')
    .option('--yes', 'confirm: the erasure cannot be undone')
    .option('--url <url>', 'the running gateway, whose spool is let drain first (default: http://127.0.0.1:<http.port>)')
    .option('--wait <seconds>', 'longest wait for that spool', '60')
    .action(async (id: string, opts: { yes?: boolean; url?: string; wait: string }, c: Command) => {
      const wait = Number(opts.wait);
      if (!Number.isFinite(wait) || wait < 0) throw usageError(`--wait: expected seconds (a number from 0), got "${opts.wait}"`);
      if (!opts.yes) throw usageError(`erasing ${quoted(id)} deletes its data for good; add --yes to confirm`);
      // The erasure checks the id before it changes anything (as remove does).
      const { config, registry } = await cliContext(c.optsWithGlobals(), CHANGE);
      printJson(await eraseDeviceEverywhere(id, {
        config, registry, gatewayUrl: opts.url ?? `http://127.0.0.1:${config.http.port}`, waitMs: wait * 1000,
        onProgress: (step) => process.stderr.write(`${step}\n`),
      }));
    });
  return cmd;
}

export function consumersCommand(): Command {
  const cmd = new Command('consumers').description('consumer identities (marketing and service tools) that may subscribe to the triggers of their purposes');
  const access = (o: { purpose: string; category?: string }) => ({
    purposes: parseList(o.purpose, '--purpose', CONSENT_PURPOSES),
    ...(o.category ? { categories: parseList<TriggerCategory>(o.category, '--category', TRIGGER_CATEGORIES) } : {}),
  });
  cmd
    .command('add <id>')
    .description(`register a consumer; prints JSON with its secret. The id: ${DEVICE_ID_RULE}`)
    .requiredOption('--purpose <purposes>', `the purposes it serves, comma-separated: marketing (triggers/upsell, triggers/retention), service (triggers/service)`)
    .option('--category <categories>', `only these trigger categories of its purposes: ${TRIGGER_CATEGORIES.join(', ')}`)
    .action(async (id: string, opts: { purpose: string; category?: string }, c: Command) => {
      checkDeviceId(id, 'consumer id');
      const a = access(opts);
      const { registry } = await cliContext(c.optsWithGlobals(), CHANGE);
      const { entry, secret } = await registry.addConsumer(id, 'consumer', a);
      printJson({ ...shown(entry), secret });
    });
  cmd
    .command('access <id>')
    .description('change what a consumer may receive; its open connections are closed and it subscribes again under the new purposes')
    .requiredOption('--purpose <purposes>', 'the purposes it serves, comma-separated')
    .option('--category <categories>', `only these trigger categories of its purposes: ${TRIGGER_CATEGORIES.join(', ')}`)
    .action(async (id: string, opts: { purpose: string; category?: string }, c: Command) => {
      checkDeviceId(id, 'consumer id');
      const a = access(opts);
      const { registry } = await cliContext(c.optsWithGlobals(), CHANGE);
      printJson(shown(await registry.setConsumerAccess(id, a)));
    });
  cmd
    .command('list')
    .option('--json', 'print a JSON array')
    .action(async (opts: { json?: boolean }, c: Command) => {
      const { registry } = await cliContext(c.optsWithGlobals());
      printRows(registry.list().filter((e) => e.role === 'consumer').map(shown), Boolean(opts.json), ['id', 'purposes', 'categories', 'createdAt']);
    });
  cmd
    .command('remove <id>')
    .action(async (id: string, _opts: unknown, c: Command) => {
      const { registry } = await cliContext(c.optsWithGlobals(), CHANGE);
      printJson({ removed: shown(await registry.remove(id)) });
      await reportLeftToRepair(registry);
    });
  cmd
    .command('rotate-secret <id>')
    .action(async (id: string, _opts: unknown, c: Command) => {
      checkDeviceId(id, 'consumer id');
      const { registry } = await cliContext(c.optsWithGlobals(), CHANGE);
      const { entry, secret } = await registry.rotateSecret(id);
      printJson({ ...shown(entry), secret });
    });
  return cmd;
}
