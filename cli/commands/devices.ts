import { Command } from 'commander';
import { CONSENT_PURPOSES, type ConsentPurpose, type RegistryEntry } from '../../protocol/registry.ts';
import { checkDeviceId, checkOwner, DEVICE_ID_RULE, OWNER_RULE, quoted } from '../../protocol/ids.ts';
import { KIND_NAMES } from '../../protocol/kinds/index.ts';
import { createInfluxStore } from '../../core/influx/index.ts';
import type { Registry } from '../../core/registry/index.ts';
import { eraseDevice } from './erase.ts';
import { cliContext, printRows, usageError } from '../context.ts';

function parseConsent(value: string | undefined): ConsentPurpose[] {
  if (value === undefined || value.trim() === '' || value === 'none') return [];
  const items = value.split(',').map((s) => s.trim());
  const bad = items.filter((s) => !(CONSENT_PURPOSES as readonly string[]).includes(s));
  if (bad.length > 0) throw usageError(`--consent: unknown purpose ${bad.map((b) => `"${b}"`).join(', ')}; expected a comma-separated list of ${CONSENT_PURPOSES.join(', ')} (or "none")`);
  return items as ConsentPurpose[];
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
      const { entry, secret } = await registry.addDevice({ id, kind: opts.kind, model: opts.model, owner: opts.owner, consent });
      printJson({ ...shown(entry), secret });
    });
  cmd
    .command('list')
    .description('list registered devices')
    .option('--kind <kind>', 'only devices of this kind')
    .option('--json', 'print a JSON array')
    .action(async (opts: { kind?: string; json?: boolean }, c: Command) => {
      const { registry } = await cliContext(c.optsWithGlobals());
      const rows = registry.devices().filter((d) => !opts.kind || d.kind === opts.kind).map(shown);
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
    .command('consent <id> <purposes>')
    .description(`set the owner's consent: comma-separated ${CONSENT_PURPOSES.join(', ')}, or "none"`)
    .action(async (id: string, purposes: string, _opts: unknown, c: Command) => {
      checkDeviceId(id);
      const consent = parseConsent(purposes);
      const { registry } = await cliContext(c.optsWithGlobals(), CHANGE);
      printJson(shown(await registry.setConsent(id, consent)));
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
      printJson(shown(await registry.setOwner(id, owner, consent)));
      await reportLeftToRepair(registry);
    });
  cmd
    .command('erase <id>')
    .description("erase everything stored about a device (data-protection request): registry entry, every point in InfluxDB (raw, roll-ups, triggers) and its dead-letter entries")
    .option('--yes', 'confirm: the erasure cannot be undone')
    .option('--url <url>', 'the running gateway, whose spool is let drain first (default: http://127.0.0.1:<http.port>)')
    .option('--wait <seconds>', 'longest wait for that spool', '60')
    .action(async (id: string, opts: { yes?: boolean; url?: string; wait: string }, c: Command) => {
      const wait = Number(opts.wait);
      if (!Number.isFinite(wait) || wait < 0) throw usageError(`--wait: expected seconds (a number from 0), got "${opts.wait}"`);
      if (!opts.yes) throw usageError(`erasing ${quoted(id)} deletes its data for good; add --yes to confirm`);
      // eraseDevice checks the id before it erases anything (as remove does).
      const { config, registry } = await cliContext(c.optsWithGlobals(), CHANGE);
      const report = await eraseDevice(id, {
        registry,
        store: createInfluxStore(config.influx),
        deadletterDir: config.deadletter.dir,
        gatewayUrl: opts.url ?? `http://127.0.0.1:${config.http.port}`,
        waitMs: wait * 1000,
        onProgress: (step) => process.stderr.write(`${step}\n`),
      });
      printJson(report);
    });
  return cmd;
}

export function consumersCommand(): Command {
  const cmd = new Command('consumers').description('consumer identities (marketing and service tools) that may subscribe to triggers/#');
  cmd
    .command('add <id>')
    .description(`register a consumer; prints JSON with its secret. The id: ${DEVICE_ID_RULE}`)
    .action(async (id: string, _opts: unknown, c: Command) => {
      checkDeviceId(id, 'consumer id');
      const { registry } = await cliContext(c.optsWithGlobals(), CHANGE);
      const { entry, secret } = await registry.addConsumer(id);
      printJson({ ...shown(entry), secret });
    });
  cmd
    .command('list')
    .option('--json', 'print a JSON array')
    .action(async (opts: { json?: boolean }, c: Command) => {
      const { registry } = await cliContext(c.optsWithGlobals());
      printRows(registry.list().filter((e) => e.role === 'consumer').map(shown), Boolean(opts.json), ['id', 'createdAt']);
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
