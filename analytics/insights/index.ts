export { buildInsights, INSIGHT_KINDS, INSIGHTS_PURPOSE, type InsightsDeps, type InsightsOptions } from './compute.ts';
export { insightsHtml, insightsMarkdown } from './render/text.ts';
export { OUTGROW_MIN_WASHES, OUTGROW_SHARE } from './washer.ts';
