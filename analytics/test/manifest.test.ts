import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from '../backtest/manifest.ts';

describe('backtest manifest times', () => {
  const device = { id: 'wm-1', kind: 'washer', model: 'WM-7', persona: 'overloader' };

  it('takes a date, an RFC 3339 time with an offset, or epoch milliseconds', () => {
    const [a, b, c] = parseManifest([
      { ...device, patternStart: '2024-02-29' },
      { ...device, patternStart: '2026-03-01T01:00:00+02:00' },
      { ...device, patternStartMs: Date.UTC(2026, 2, 1) },
    ]);
    assert.equal(a.patternStart, '2024-02-29T00:00:00.000Z');
    assert.equal(b.patternStart, '2026-02-28T23:00:00.000Z');
    assert.equal(c.patternStart, '2026-03-01T00:00:00.000Z');
  });

  it('refuses an impossible or unreadable time with GW_ERR_MANIFEST and the reason, instead of rolling it over or crashing', () => {
    const refused = (patternStart: unknown, why: RegExp) => assert.throws(
      () => parseManifest([{ ...device, patternStart }]),
      (e: Error & { code?: string }) => e.code === 'GW_ERR_MANIFEST' && why.test(e.message),
    );
    refused('2026-02-30T00:00:00Z', /patternStart: .*February 2026 has 28 days, there is no day 30/);
    refused('2026-02-29', /February 2026 has 28 days, there is no day 29/);
    refused('last spring', /expected an RFC 3339 time/);
    assert.throws(() => parseManifest([{ ...device, patternStartMs: 1e20 }]), (e: Error & { code?: string }) => e.code === 'GW_ERR_MANIFEST');
  });
});
