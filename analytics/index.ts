export { Analytics, createAnalytics, type AnalyticsConfig, type RunOptions } from './service.ts';
export { loadRules, parseRules, DEFAULT_RULES_PATH, type Rule } from './rules.ts';
export { DETECTORS, type Detector, type DeviceInfo } from './detectors/index.ts';
export { backtest, formatReport, type BacktestReport } from './backtest/backtest.ts';
export { loadManifest, parseManifest, type ManifestDevice } from './backtest/manifest.ts';
export { signWebhook } from './delivery/webhook.ts';
export type { RunSummary } from './engine/job.ts';
export { buildOwnerReport, formatOwnerReport } from './report/index.ts';
