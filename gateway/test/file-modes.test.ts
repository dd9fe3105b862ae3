import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { close, connect, nextMessage, washerCycle } from '../../test/harness/mqtt.ts';

// The widest umask: a file or folder made without an explicit mode comes out 0666 or 0777.
let oldUmask: number;
let t: TestGateway;
before(async () => {
  oldUmask = process.umask(0);
  t = await startTestGateway();
});
after(async () => {
  await t.stop();
  process.umask(oldUmask);
});

/** The permission bits of `p`, or undefined when it is gone (the spool's cursor.tmp is renamed onto the cursor while the gateway runs). */
async function modeOf(p: string): Promise<string | undefined> {
  try {
    return ((await stat(p)).mode & 0o777).toString(8);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Every file and folder under `dir` that still exists when it is looked at, with its permission bits. */
async function walk(dir: string, out: Array<{ path: string; dir: boolean; mode: string }> = []): Promise<typeof out> {
  const mode = await modeOf(dir);
  if (mode === undefined) return out;
  out.push({ path: dir, dir: true, mode });
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else {
      const m = await modeOf(p);
      if (m !== undefined) out.push({ path: p, dir: false, mode: m });
    }
  }
  return out;
}

it('the spool (readings) and the dead-letter store (raw payloads) are 0600 files in 0700 folders', async () => {
  const d = await t.addDevice({ kind: 'washer' });
  const client = await connect(t.mqttUrl, d.id, d.secret);
  await client.subscribeAsync(`devices/${d.id}/rejected`, { qos: 1 });
  const notice = nextMessage(client, `devices/${d.id}/rejected`);
  await client.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify([washerCycle({ seq: 1 }), washerCycle({ spin_rpm: 9000 })]), { qos: 1 });
  await notice;
  await close(client);
  assert.equal(await t.waitForCount('washer_cycle', 1, { where: `device_id = '${d.id}'` }), 1);
  const entries = [...(await walk(t.config.spool.dir)), ...(await walk(t.config.deadletter.dir))];
  assert.ok(entries.some((e) => e.path.endsWith('.seg')), 'a spool segment');
  assert.ok(entries.some((e) => e.path.endsWith('.jsonl')), 'a dead-letter day file');
  for (const e of entries) assert.equal(e.mode, e.dir ? '700' : '600', e.path);
});
