import type { HandlerRegistration } from '../queue/index.js';
import { JOB_TYPES } from '../compose/index.js';
import type { JobType } from './types.js';
import type { JobServices } from './services.js';
import { kojiInit } from './koji-init.js';
import { depsolveJob } from './depsolve.js';
import { osbuildJob } from './osbuild.js';
import { kojiFinalize } from './koji-finalize.js';

export { checkKojiAuth, createJobServices, type JobServices } from './services.js';
export type { JobType } from './types.js';

/** `noop` finishes at once with its arguments as result: queue health checks and benchmarks. */
const noop: JobType = {
  defaultConcurrency: 4,
  create: () => async ({ job }) => ({ echo: job.args }),
};

/** Every job type Kiln's workers run, by queue type name. */
export function jobTypes(): Record<string, JobType> {
  return {
    noop,
    [JOB_TYPES.init]: kojiInit,
    [JOB_TYPES.depsolve]: depsolveJob,
    [JOB_TYPES.osbuild]: osbuildJob,
    [JOB_TYPES.finalize]: kojiFinalize,
  };
}

/** Handler registrations for a worker: the selected types (all by default) with configured concurrency. */
export function handlerRegistrations(
  services: JobServices,
  selected: readonly string[] | undefined,
  concurrency: Readonly<Record<string, number>>,
): Record<string, HandlerRegistration> {
  const all = jobTypes();
  const names = selected && selected.length ? selected : Object.keys(all);
  const out: Record<string, HandlerRegistration> = {};
  for (const name of names) {
    const type = all[name];
    if (!type) throw new Error(`unknown job type ${JSON.stringify(name)}; known: ${Object.keys(all).join(', ')}`);
    const n = concurrency[name] ?? type.defaultConcurrency;
    if (n > 0) out[name] = { handler: type.create(services), concurrency: n };
  }
  return out;
}
