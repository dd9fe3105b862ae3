import { dashboard, filter, influx, math, variable } from './kit.ts';
import { kindVar, modelVar } from './vars.ts';

const categoryVar = variable({ name: 'category', label: 'Category', query: 'SHOW TAG VALUES FROM "trigger" WITH KEY = "category"' });
const ruleVar = variable({ name: 'rule', label: 'Rule', query: 'SHOW TAG VALUES FROM "trigger" WITH KEY = "rule_id" WHERE "category" =~ /^$category$/' });
const f = filter(['category', 'category'], ['rule_id', 'rule'], ['kind', 'kind'], ['model', 'model']);
const fired = `SELECT count("trigger_id") FROM "trigger" WHERE $timeFilter AND ${f}`;
const outcome = (o: string) => `SELECT count("trigger_id") FROM "trigger_feedback" WHERE $timeFilter AND "outcome" = '${o}' AND ${f}`;
const rate = (title: string, o: string) => ({
  type: 'stat' as const, title, w: 6, h: 5, unit: 'percent',
  description: `Triggers with feedback "${o}" over triggers fired, in the range.`,
  targets: [...influx([fired, outcome(o)]).map((t) => ({ ...t, hide: true })), math('C', '$B / $A * 100')],
  options: { reduceOptions: { calcs: ['lastNotNull'] } },
});

/** Triggers: what fired, why, and what came of it. */
export const triggers = dashboard({
  uid: 'ug-triggers',
  title: 'Usage Gateway · Triggers',
  description: 'Triggers fired per rule and category, the latest with their evidence, feedback and conversion rates.',
  tags: ['usage-gateway'],
  time: { from: 'now-30d', to: 'now' },
  variables: [categoryVar, ruleVar, kindVar, modelVar],
  layout: [
    {
      type: 'stat', title: 'Triggers fired', w: 6, h: 5,
      targets: influx([fired]), options: { reduceOptions: { calcs: ['sum'] } },
    },
    rate('Acceptance rate', 'accepted'),
    rate('Conversion rate', 'converted'),
    rate('Decline rate', 'declined'),
    {
      type: 'timeseries', title: 'Triggers fired per rule',
      targets: influx([[`SELECT count("trigger_id") FROM "trigger" WHERE $timeFilter AND ${f} GROUP BY time($__interval), "rule_id" fill(0)`, '$tag_rule_id']]),
      fieldConfig: { custom: { drawStyle: 'bars', fillOpacity: 60, stacking: { mode: 'normal' } } },
    },
    {
      type: 'timeseries', title: 'Triggers fired per category',
      targets: influx([[`SELECT count("trigger_id") FROM "trigger" WHERE $timeFilter AND ${f} GROUP BY time($__interval), "category" fill(0)`, '$tag_category']]),
      fieldConfig: { custom: { drawStyle: 'bars', fillOpacity: 60, stacking: { mode: 'normal' } } },
    },
    {
      type: 'table', title: 'Latest triggers with their evidence', w: 24, h: 10,
      targets: influx([`SELECT "device_id", "rule_id", "rule_version", "category", "kind", "model", "offer", "target", "summary", "trigger_id" FROM "trigger" WHERE $timeFilter AND ${f} ORDER BY time DESC LIMIT 100`], 'table'),
      options: { cellHeight: 'sm' },
    },
    {
      type: 'table', title: 'Feedback by rule and outcome',
      targets: influx([[`SELECT count("trigger_id") AS "feedback" FROM "trigger_feedback" WHERE $timeFilter AND ${f} GROUP BY "rule_id", "outcome"`, 'feedback']], 'table'),
      transformations: [{ id: 'organize', options: { excludeByName: { Time: true } } }],
    },
    {
      type: 'bargauge', title: 'Triggers fired and converted, per rule',
      targets: influx([
        [`SELECT count("trigger_id") FROM "trigger" WHERE $timeFilter AND ${f} GROUP BY "rule_id"`, '$tag_rule_id fired'],
        [`SELECT count("trigger_id") FROM "trigger_feedback" WHERE $timeFilter AND "outcome" = 'converted' AND ${f} GROUP BY "rule_id"`, '$tag_rule_id converted'],
      ]),
      options: { orientation: 'horizontal', displayMode: 'basic', reduceOptions: { calcs: ['sum'] } },
    },
  ],
});
