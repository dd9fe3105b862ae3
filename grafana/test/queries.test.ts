import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DASHBOARDS } from '../src/index.ts';
import { startFleet, type Fleet } from '../../test/harness/board-fleet.ts';
import { hasData, interpolate, interval, parseRelative, provisionedDatasource, runQuery, durationMs, type TimeRange, type VariableValue } from './grafana-query.ts';

/**
 * Every panel's InfluxQL, and every variable and annotation query, with the template variables
 * filled in as Grafana would, runs against a real InfluxDB holding a simulated fleet and
 * returns data. The live boards (fleet, gateway health) are read over the last five minutes:
 * the gateway under test has only been running that long.
 */
const LIVE_RANGE: Record<string, string> = { 'fleet.json': 'now-5m', 'gateway-health.json': 'now-5m' };

let fleet: Fleet;
const ds = provisionedDatasource();
const minInterval = String(ds.jsonData.timeInterval);
// The header Grafana sends; with no token (1.x without authentication) it must not get in the way.
const headers = { [String(ds.jsonData.httpHeaderName1)]: String(ds.secureJsonData?.httpHeaderValue1).replace('${UG_INFLUX_TOKEN}', '') };

before(async () => {
  fleet = await startFleet({ statsIntervalS: 1 });
  // Rates and differences need two intervals of gateway_stats: wait for them (a real condition).
  const need = 2 * durationMs(minInterval) / 1000 + 2;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const rows = await fleet.gw.query<{ count: number }>(`SELECT count("refused") FROM "gateway_stats" WHERE "reason" = 'GW_ERR_BAD_JSON'`);
    if ((rows[0]?.count ?? 0) >= need || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
});
after(async () => {
  await fleet?.stop();
});

async function run(q: string): Promise<ReturnType<typeof runQuery>> {
  return runQuery(fleet.gw.config.influx.url, fleet.gw.database, q, headers);
}

/** Resolves the variables in order, each query filled with the ones before it. */
async function resolveVariables(board: Record<string, any>, range: TimeRange, pinned: Record<string, string> = {}): Promise<Record<string, VariableValue>> {
  const vars: Record<string, VariableValue> = {};
  for (const v of board.templating.list) {
    const series = await run(interpolate(v.query, vars, range, '1m'));
    const values = series.flatMap((s) => s.values.map((row) => String(row[1])));
    assert.ok(values.length > 0, `${board.title}: variable $${v.name} has no values (${v.query})`);
    if (pinned[v.name] !== undefined) {
      assert.ok(values.includes(pinned[v.name]), `${board.title}: $${v.name} does not offer ${pinned[v.name]}`);
      vars[v.name] = { values: [pinned[v.name]], all: false, multi: v.multi };
    } else {
      vars[v.name] = v.includeAll ? { values, all: true, allValue: v.allValue, multi: v.multi } : { values: [values[0]], all: false, multi: v.multi };
    }
  }
  return vars;
}

function panelsOf(board: Record<string, any>): Array<Record<string, any>> {
  return board.panels.flatMap((p: any) => (p.type === 'row' ? p.panels ?? [] : [p]));
}

async function panelHasData(panel: Record<string, any>, vars: Record<string, VariableValue>, boardRange: TimeRange, now: number): Promise<Array<{ refId: string; data: boolean; query: string }>> {
  const range = panel.timeFrom ? { from: now - durationMs(panel.timeFrom), to: now } : boardRange;
  const iv = interval(range, panel.interval ?? minInterval);
  const out = [];
  for (const t of panel.targets ?? []) {
    if (t.datasource?.type !== 'influxdb') continue;
    const query = interpolate(t.query, vars, range, iv);
    out.push({ refId: t.refId, data: hasData(await run(query)), query });
  }
  return out;
}

for (const [file, board] of Object.entries(DASHBOARDS) as Array<[string, Record<string, any>]>) {
  test(`${file}: every panel query returns data from the simulated fleet`, async () => {
    const now = Date.now();
    const range = { from: parseRelative(LIVE_RANGE[file] ?? board.time.from, now), to: now };
    const perDevice = board.templating.list.some((v: any) => v.name === 'device');
    // The device board is read once per device: a panel counts when some device fills it
    // (a fridge has no trips, and only electric cars report battery health).
    const choices = perDevice ? fleet.devices.map((d) => ({ device: d.id })) : [{}];
    const seen = new Map<string, { data: boolean; query: string }>();
    for (const pinned of choices) {
      const vars = await resolveVariables(board, range, pinned);
      for (const panel of panelsOf(board)) {
        for (const r of await panelHasData(panel, vars, range, now)) {
          const key = `panel ${panel.id} "${panel.title}" target ${r.refId}`;
          if (!seen.get(key)?.data) seen.set(key, r);
        }
      }
      for (const a of board.annotations.list.filter((x: any) => x.datasource?.type === 'influxdb')) {
        const query = interpolate(a.query, vars, range, '1m');
        const key = `annotation "${a.name}"`;
        const data = hasData(await run(query));
        if (!seen.get(key)?.data) seen.set(key, { data, query });
      }
    }
    const empty = [...seen].filter(([, r]) => !r.data).map(([k, r]) => `${k}: ${r.query}`);
    assert.deepEqual(empty, [], `queries that returned no data:\n${empty.join('\n')}`);
    assert.ok(seen.size >= panelsOf(board).filter((p) => p.targets?.length).length, 'every panel with targets was run');
  });
}

test('the figures on the boards match what was sent', async () => {
  const n = fleet.readings;
  const q = async (s: string) => (await run(s))[0]?.values[0]?.[1];
  assert.equal(await q(`SELECT count("load_kg") FROM "washer_cycle"`), n.washer_cycle);
  assert.equal(await q(`SELECT sum("n") FROM "rollup"."washer_cycle_1d"`), n.washer_cycle);
  assert.equal(await q(`SELECT sum("n") FROM "rollup"."fridge_state_1h"`), n.fridge_state);
  assert.equal(await q(`SELECT count("trigger_id") FROM "trigger"`), fleet.triggers);
  // The firmware version is a tag of every reading that carried one (the live reading of each washer carried none).
  const byFirmware = await run(`SELECT count("load_kg") FROM "washer_cycle" WHERE "firmware" =~ /.+/ GROUP BY "firmware"`);
  const washers = fleet.devices.filter((d) => d.kind === 'washer').length;
  assert.deepEqual(byFirmware.map((x) => x.tags!.firmware).sort(), ['4.1.0', '4.2.1']);
  assert.equal(byFirmware.reduce((a, x) => a + Number(x.values[0][1]), 0), n.washer_cycle - washers);
  // Refusals on the boards are the gateway's own counters (stats are written after the fact).
  const counters = new Map<string, number>();
  const m = fleet.gw.gateway.metrics;
  for (const v of [...(await m.readingsRefused.get()).values, ...(await m.messagesRefused.get()).values]) counters.set(String(v.labels.reason), (counters.get(String(v.labels.reason)) ?? 0) + v.value);
  const refused = await run(`SELECT last("refused") FROM "gateway_stats" WHERE "reason" =~ /.+/ GROUP BY "reason"`);
  assert.deepEqual(Object.fromEntries(refused.map((s) => [s.tags!.reason, s.values[0][1]])), Object.fromEntries(counters));
  assert.deepEqual([...counters.keys()].sort(), ['GW_ERR_BAD_JSON', 'GW_ERR_INVALID_READING']);
});
