import { z } from 'zod';

/**
 * The product-insight report (`usage-gateway insights --format json`, `GET /api/insights`): per
 * model, how the range is used, where it fails (error rates by usage band and firmware, with the
 * counts behind each rate and a confidence interval), the opportunities it shows (owners who
 * outgrow their model, programs almost nobody uses) and the trends month over month. Built from
 * aggregates of the devices whose owners consented to `analytics` only; every cell, bar and
 * finding built from fewer than `minDevices` devices carries no figure (`tooFew`). It names no
 * device and no owner. docs/insights.md says what each figure means.
 */

const iso = z.iso.datetime();
const count = z.number().int().min(0);

/** One bar of a chart, or one point of a trend: null figures when fewer than minDevices devices stand behind it. */
export const insightCellSchema = z
  .object({
    label: z.string(),
    value: z.number().nullable(),
    /** Devices behind the cell; null when too few. */
    devices: count.nullable(),
    tooFew: z.boolean(),
  })
  .strict();

export const insightChartSchema = z
  .object({
    id: z.string(),
    /** `bars`: a distribution or a choice (programs, temperatures); `line`: a series in order (months, distance). */
    type: z.enum(['bars', 'line']),
    title: z.string(),
    /** Unit of the values: `%` for shares (0–100), or a unit such as `km`, `washes a week`. */
    unit: z.string(),
    /** What the labels are (the x axis). */
    x: z.string(),
    cells: z.array(insightCellSchema),
  })
  .strict();

/** An error rate with the counts behind it and its two-sided confidence interval. */
export const insightRateSchema = z
  .object({
    /** `usage`: a usage band; `firmware`: a firmware version; `model`: the model as a whole. */
    group: z.enum(['usage', 'firmware', 'model']),
    label: z.string(),
    /** `100 washes`, `1,000 km`, `1,000 days`. */
    per: z.string(),
    events: count.nullable(),
    /** Washes, km or days of use behind the rate. */
    exposure: z.number().min(0).nullable(),
    devices: count.nullable(),
    rate: z.number().min(0).nullable(),
    lower: z.number().min(0).nullable(),
    upper: z.number().min(0).nullable(),
    tooFew: z.boolean(),
  })
  .strict();

/** How much higher one group's rate is than another's (rate ratio), with its confidence interval. */
export const insightComparisonSchema = z
  .object({
    title: z.string(),
    a: z.string(),
    b: z.string(),
    ratio: z.number().min(0).nullable(),
    lower: z.number().min(0).nullable(),
    upper: z.number().min(0).nullable(),
    /** The interval excludes 1 (no difference); null when too few devices stand behind either group. */
    differs: z.boolean().nullable(),
    tooFew: z.boolean(),
  })
  .strict();

export const insightOutgrowingSchema = z
  .object({
    /** Devices with enough washes in the period to tell (the denominator). */
    eligible: count.nullable(),
    outgrowing: count.nullable(),
    /** Share of eligible owners who outgrow the model, 0–100, with its confidence interval. */
    share: z.number().min(0).max(100).nullable(),
    lower: z.number().min(0).max(100).nullable(),
    upper: z.number().min(0).max(100).nullable(),
    /** The model each outgrowing owner would need (smallest capacity that holds their loads); `none` when no model of the range does. */
    needs: z.array(insightCellSchema),
    tooFew: z.boolean(),
  })
  .strict();

export const insightProgramSchema = z
  .object({
    program: z.string(),
    /** Share of all washes (0–100). */
    washShare: z.number().min(0).max(100),
    /** Share of owners who used it at least once in the period (0–100). */
    ownerShare: z.number().min(0).max(100),
  })
  .strict();

export const modelInsightSchema = z
  .object({
    kind: z.string(),
    model: z.string(),
    name: z.string().optional(),
    /** The model's capacity in words (`8 kg`, `350 l`, `EV, 45 kWh`). */
    capacity: z.string().optional(),
    /** Devices counted (consented, reporting in the period); null when too few. */
    devices: count.nullable(),
    tooFew: z.boolean(),
    /** One line each, in plain words. */
    findings: z.array(z.string()),
    usage: z.array(insightChartSchema),
    afterSales: z.object({ rates: z.array(insightRateSchema), comparisons: z.array(insightComparisonSchema) }).strict(),
    opportunities: z
      .object({
        outgrowing: insightOutgrowingSchema.optional(),
        /** Programs used on under 3% of washes and by under 10% of owners. */
        rarePrograms: z.array(insightProgramSchema),
      })
      .strict(),
    trends: z.array(insightChartSchema),
  })
  .strict();

/** A kind as a whole (every model pooled): error rates by usage band, where one model alone has too few devices in a band. */
export const kindInsightSchema = z
  .object({
    kind: z.string(),
    devices: count.nullable(),
    tooFew: z.boolean(),
    findings: z.array(z.string()),
    afterSales: z.object({ rates: z.array(insightRateSchema), comparisons: z.array(insightComparisonSchema) }).strict(),
  })
  .strict();

export const insightsReportSchema = z
  .object({
    version: z.literal(1),
    generatedAt: iso,
    /** The period: [from, to), whole UTC days. */
    from: iso,
    to: iso,
    /** Smallest number of devices behind any figure shown. */
    minDevices: z.number().int().min(1),
    /** The consent purpose every counted device's owner gave. */
    purpose: z.literal('analytics'),
    filter: z.object({ model: z.string().optional(), kind: z.string().optional() }).strict(),
    /** Confidence level of every interval (two-sided). */
    level: z.number().min(0.5).max(0.999),
    /** Findings across models (a model that fails more than the rest of its kind). */
    findings: z.array(z.string()),
    kinds: z.array(kindInsightSchema),
    models: z.array(modelInsightSchema),
  })
  .strict();

export type InsightCell = z.infer<typeof insightCellSchema>;
export type InsightChart = z.infer<typeof insightChartSchema>;
export type InsightRate = z.infer<typeof insightRateSchema>;
export type InsightComparison = z.infer<typeof insightComparisonSchema>;
export type InsightOutgrowing = z.infer<typeof insightOutgrowingSchema>;
export type ModelInsight = z.infer<typeof modelInsightSchema>;
export type KindInsight = z.infer<typeof kindInsightSchema>;
export type InsightsReport = z.infer<typeof insightsReportSchema>;

/** What a suppressed cell, bar, rate or finding says instead of a figure. */
export const TOO_FEW = 'too few devices';
