export * from './types.js';
export * from './errors.js';
export {
  enqueueJobs,
  dequeueJob,
  heartbeatJob,
  updateJobProgress,
  saveJobCheckpoint,
  finishJob,
  finishAndTakeJob,
  releaseJob,
  cancelJobs,
  cancelComposeJobs,
  reapLostJobs,
  getJob,
  listComposeJobs,
  queueDepth,
  deleteFinishedJobs,
  setPreparedStatements,
  type QueueDefaults,
} from './jobs.js';
export { QueueListener, type Registration } from './listener.js';
export { PgJobSource, startReaper, type JobSource, type PgJobSourceOptions } from './source.js';
export { Worker, type JobContext, type JobHandler, type HandlerRegistration, type WorkerOptions, type JobFinishedOutcome } from './worker.js';
export { HttpJobSource, type HttpJobSourceOptions } from './http-source.js';
