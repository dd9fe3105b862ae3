export { Ingest, type IngestMessage, type IngestOptions, type RejectionNotice } from './ingest.ts';
