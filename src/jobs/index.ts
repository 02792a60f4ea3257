import type { HandlerRegistration, JobHandler } from '../queue/index.js';

/**
 * Job types Kiln's workers run, each with its default concurrency per worker process
 * (overridden by config `workers.concurrency`). One module per job type lives beside this.
 */
export interface JobType {
  handler: JobHandler;
  defaultConcurrency: number;
}

/** `noop` finishes at once with its arguments as result: queue health checks and benchmarks. */
const noop: JobType = {
  defaultConcurrency: 4,
  handler: async ({ job }) => ({ echo: job.args }),
};

export function jobTypes(): Record<string, JobType> {
  return { noop };
}

/** Handler registrations for a worker: the selected types with configured concurrency. */
export function handlerRegistrations(
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
    if (n > 0) out[name] = { handler: type.handler, concurrency: n };
  }
  return out;
}
