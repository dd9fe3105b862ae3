import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { triggerId, type Trigger } from '../../protocol/trigger.ts';
import { StateStore } from '../store/state.ts';
import { assertPrivateStore, mode } from '../../test/harness/file-modes.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function freshDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ug-state-'));
  dirs.push(d);
  return d;
}

function trigger(): Trigger {
  const window = { from: '2026-03-01T00:00:00.000Z', to: '2026-03-29T00:00:00.000Z' };
  return {
    id: triggerId('washer-overload', 1, 'wm-1', window.from, window.to), ruleId: 'washer-overload', ruleVersion: 1,
    category: 'upsell', purpose: 'marketing', deviceId: 'wm-1', kind: 'washer', model: 'WM-7', owner: 'cust-1',
    offer: { type: 'model-upgrade', target: 'WM-9' },
    evidence: { summary: 'overloaded in 9 of 12 cycles', window, figures: { overload_share: 0.75 }, thresholds: { overload_share: 0.3 } },
    createdAt: window.to,
  };
}

describe('analytics state file modes', () => {
  it('triggers name owners: the LMDB files are 0600 in a 0700 folder, whatever the umask', async () => {
    const old = process.umask(0); // the widest: LMDB's own default would give 0666
    try {
      const dir = join(await freshDir(), 'data', 'analytics');
      const state = new StateStore(dir);
      state.open();
      assert.equal(await state.insert(trigger(), ['webhook']), true);
      await state.close();
      const names = await assertPrivateStore(dir, 'the analytics state');
      assert.deepEqual(names.sort(), ['data.mdb', 'lock.mdb']);
    } finally {
      process.umask(old);
    }
  });

  it('a state left wider by an older version is narrowed when it opens, and still read', async () => {
    const dir = join(await freshDir(), 'analytics');
    const old = open({ path: dir });
    await old.put('x', 1);
    await old.close();
    await chmod(dir, 0o755);
    for (const n of await readdir(dir)) await chmod(join(dir, n), 0o644);
    const state = new StateStore(dir);
    state.open();
    assert.equal(await state.insert(trigger(), []), true);
    assert.equal(state.get(trigger().id)?.trigger.owner, 'cust-1');
    await state.close();
    assert.equal(await mode(dir), '700');
    for (const n of await readdir(dir)) assert.equal(await mode(join(dir, n)), '600', n);
  });
});
