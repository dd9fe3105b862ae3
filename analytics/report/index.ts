export { buildOwnerReport, explain, type ReportSources } from './report.ts';
export { formatOwnerReport } from './text.ts';
