import type { JobHandler } from '../queue/index.js';
import type { JobServices } from './services.js';

/** One job type: its handler (made with the process's services) and default concurrency. */
export interface JobType {
  create(services: JobServices): JobHandler;
  defaultConcurrency: number;
}
