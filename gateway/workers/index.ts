export { Supervisor } from './primary.ts';
export { runWorker } from './worker.ts';
export { checkWorkers, spoolsToTakeOver, workerConfig, workerCount, workerSpoolDir } from './plan.ts';
