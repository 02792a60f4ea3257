import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { KilnError, type ErrorCode } from '../errors.js';
import type { ManifestTaskInput, ManifestTaskOutput } from '../osbuild/manifest-task.js';

let pool: Piscina | undefined;

// From dist/ the task is compiled JavaScript; from the sources (tests, tsx) it is the .ts file,
// which the worker threads load through the tsx loader they inherit from the process.
function taskFile(): string {
  const js = fileURLToPath(new URL('../osbuild/manifest-task.js', import.meta.url));
  return existsSync(js) ? js : fileURLToPath(new URL('../osbuild/manifest-task.ts', import.meta.url));
}

/** The process's thread pool for CPU-heavy job steps (created on first use). */
function cpuPool(): Piscina {
  return (pool ??= new Piscina({ filename: taskFile(), maxThreads: 2, minThreads: 0, idleTimeout: 30_000 }));
}

/** Generates an osbuild manifest on a worker thread; errors keep their Kiln code. */
export async function generateManifestOffThread(input: ManifestTaskInput): Promise<string> {
  const out: ManifestTaskOutput = await cpuPool().run(input);
  if (out.ok) return out.manifest;
  throw new KilnError(out.error.code as ErrorCode, out.error.message, out.error.details ? { details: out.error.details } : {});
}

export async function closeCpuPool(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.destroy();
}
