export { Ingest, type IngestMessage, type IngestOptions, type RejectionNotice } from './ingest.ts';
export { IngestQueue, type IngestQueueOptions, type IngestQueueStats } from './queue.ts';
