import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InvalidInputError, KilnError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { validate } from '../schemas.js';
import type { DepsolveRequest, DepsolveTransactionRequest } from '../generated/depsolve-request.schema.js';
import type { DepsolveResult, DepsolvedPackage } from '../generated/depsolve-result.schema.js';
import {
  DepsolveError,
  nevra,
  parseResponse,
  solverFailure,
  toWireRequest,
  type ApiVersion,
  type ParsedResponse,
} from './protocol.js';

/** osbuild's solver, used when installed. */
export const OSBUILD_SOLVER = '/usr/libexec/osbuild-depsolve-dnf';

/** Kiln's own solver; the same relative path from src/depsolve/ and from dist/depsolve/. */
export const KILN_SOLVER = fileURLToPath(new URL('../../libexec/kiln-depsolve-dnf', import.meta.url));

export function defaultSolverCommand(): string[] {
  return [existsSync(OSBUILD_SOLVER) ? OSBUILD_SOLVER : KILN_SOLVER];
}

export interface DepsolveOptions {
  /** Repository metadata cache (the request's `cachedir`); created by the solver. */
  cacheDir: string;
  /** Solver command and arguments; default `defaultSolverCommand()`. */
  solver?: string | string[];
  /**
   * Protocol version to ask for (default 2). A solver answering InvalidRequest about the API
   * version is asked again with v1; a v1 answer is accepted either way.
   */
  apiVersion?: ApiVersion;
  /** Whole-call limit per solver run; default 15 minutes. */
  timeoutMs?: number;
  /** Aborting kills the solver (SIGTERM, then SIGKILL) and rejects with KILN_JOB_CANCELED. */
  signal?: AbortSignal;
  /** Time between SIGTERM and SIGKILL; default 5 s. */
  killGraceMs?: number;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

const DEFAULT_TIMEOUT_MS = 15 * 60_000;
const STDERR_KEEP = 64 * 1024;
// A v2 response for a full Fedora image with file lists runs to tens of MB.
const STDOUT_LIMIT = 512 * 1024 * 1024;

interface RunOutput {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

interface RunOptions {
  timeoutMs: number;
  killGraceMs: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

/** Runs the solver with `input` on stdin; rejects on timeout, abort or a failure to start. */
function runSolver(command: string[], input: string, opts: RunOptions): Promise<RunOutput> {
  const solver = command.join(' ');
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new KilnError('KILN_JOB_CANCELED', 'depsolve canceled', { cause: opts.signal.reason }));
      return;
    }
    // Its own process group, so that killing it also kills whatever a wrapper script started.
    const child = spawn(command[0], command.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      detached: true,
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let failure: Error | undefined;
    let killTimer: NodeJS.Timeout | undefined;

    const kill = (reason: Error): void => {
      if (failure) return;
      failure = reason;
      const signalGroup = (sig: NodeJS.Signals): void => {
        try {
          if (child.pid) process.kill(-child.pid, sig);
        } catch {
          // already gone
        }
      };
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), opts.killGraceMs);
      killTimer.unref();
    };
    const timer = setTimeout(
      () => kill(new DepsolveError('Timeout', `depsolve: the solver did not finish within ${opts.timeoutMs} ms`, { solver })),
      opts.timeoutMs,
    );
    const onAbort = (): void =>
      kill(new KilnError('KILN_JOB_CANCELED', 'depsolve canceled', { cause: opts.signal?.reason, details: { solver } }));
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > STDOUT_LIMIT) {
        kill(new DepsolveError('MalformedResponse', `depsolve: the solver wrote more than ${STDOUT_LIMIT} bytes`, { solver }));
        return;
      }
      out.push(chunk);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      err = (err + chunk).slice(-STDERR_KEEP);
    });
    // The solver may exit before reading all of stdin (e.g. a usage error); its answer says why.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);

    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new DepsolveError('SolverNotRunnable', `depsolve: cannot run solver ${solver}: ${e.message}`, { solver }, e));
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (failure) {
        if (failure instanceof KilnError && failure.details) {
          (failure.details as Record<string, unknown>).stderr = err;
        }
        reject(failure);
        return;
      }
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: err, exitCode, signal });
    });
  });
}

interface SolveOnce {
  parsed?: ParsedResponse;
  error?: DepsolveError;
}

async function solveOnce(
  request: DepsolveRequest,
  transactions: DepsolveTransactionRequest[],
  apiVersion: ApiVersion,
  command: string[],
  options: DepsolveOptions,
): Promise<SolveOnce> {
  const solver = command.join(' ');
  const input = JSON.stringify(toWireRequest(request, apiVersion, options.cacheDir, transactions));
  const res = await runSolver(command, input, {
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    killGraceMs: options.killGraceMs ?? 5000,
    signal: options.signal,
    env: options.env,
  });
  const text = res.stdout.trim();
  let doc: unknown;
  try {
    // One document is the protocol; a few lines (a streamed failure) are tolerated by taking the last.
    doc = text ? JSON.parse(text.includes('\n') ? text.slice(text.lastIndexOf('\n') + 1) : text) : undefined;
  } catch {
    doc = undefined;
  }
  const ctx = { request, stderr: res.stderr, exitCode: res.exitCode, solver };
  if (res.exitCode !== 0) {
    if (doc && typeof doc === 'object' && !Array.isArray(doc) && 'kind' in doc) {
      return { error: solverFailure(doc as Record<string, unknown>, ctx) };
    }
    const how = res.signal ? `was killed by ${res.signal}` : `exited with code ${res.exitCode}`;
    const lastLine = res.stderr.trim().split('\n').pop() ?? '';
    return {
      error: new DepsolveError('SolverCrashed', `depsolve: the solver ${how} without an error object${lastLine ? `: ${lastLine}` : ''}`, {
        solver,
        exit_code: res.exitCode,
        signal: res.signal,
        stderr: res.stderr,
      }),
    };
  }
  if (doc === undefined) {
    throw new DepsolveError('MalformedResponse', 'depsolve: the solver exited 0 but its output is not JSON', {
      solver,
      stdout: text.slice(0, 2000),
      stderr: res.stderr,
    });
  }
  return { parsed: parseResponse(doc, transactions.length) };
}

function subtract(full: DepsolvedPackage[], before: Set<string>): DepsolvedPackage[] {
  return full.filter((p) => !before.has(`${nevra(p)}@${p.repo_id}`));
}

/**
 * Resolves `request` with a solver speaking the osbuild-depsolve-dnf protocol. Throws
 * InvalidInputError for a bad request, DepsolveError (KILN_DEPSOLVE, with `kind` and details
 * naming the package, repository or field) when the solver fails, KILN_JOB_CANCELED on abort.
 */
export async function depsolve(request: DepsolveRequest, options: DepsolveOptions): Promise<DepsolveResult> {
  validate<DepsolveRequest>('depsolve-request.schema', request, 'depsolve');
  for (const [i, repo] of request.repos.entries()) {
    if (!repo.baseurl && !repo.metalink && !repo.mirrorlist) {
      throw new InvalidInputError(`depsolve.repos[${i}].baseurl`, 'one of baseurl, metalink or mirrorlist is required');
    }
  }
  const ids = new Set(request.repos.map((r) => r.id));
  if (ids.size !== request.repos.length) throw new InvalidInputError('depsolve.repos', 'repository ids must be unique');
  for (const [i, t] of request.transactions.entries()) {
    for (const [j, id] of (t.repo_ids ?? []).entries()) {
      if (!ids.has(id)) throw new InvalidInputError(`depsolve.transactions[${i}].repo_ids[${j}]`, `no repository ${id} in repos`);
    }
  }

  const command = options.solver === undefined ? defaultSolverCommand() : [options.solver].flat();
  if (command.length === 0 || !command[0]) throw new InvalidInputError('solver', 'the solver command is empty');
  const log = (options.logger ?? silentLogger).child({ solver: command[0], arch: request.arch });
  const started = Date.now();
  let apiVersion: ApiVersion = options.apiVersion ?? 2;

  let once = await solveOnce(request, request.transactions, apiVersion, command, options);
  if (once.error && apiVersion === 2 && once.error.kind === 'InvalidRequest' && /api.?version/i.test(String(once.error.details?.reason))) {
    log.info({ reason: once.error.details?.reason }, 'solver does not speak protocol v2; asking again with v1');
    apiVersion = 1;
    once = await solveOnce(request, request.transactions, apiVersion, command, options);
  }
  if (once.error) {
    log.warn({ err: once.error.toJSON() }, 'depsolve failed');
    throw once.error;
  }
  const parsed = once.parsed!;
  let lists = parsed.transactions;
  let runs = 1;
  if (!lists) {
    if (request.transactions.length === 1) {
      lists = [parsed.packages];
    } else {
      // A plain v1 answer has only the last transaction's full set; the earlier transactions'
      // sets come from solving each prefix of the chain (the metadata is cached by then).
      lists = [];
      const seen = new Set<string>();
      for (let k = 1; k <= request.transactions.length; k++) {
        let full = parsed.packages;
        if (k < request.transactions.length) {
          const prefix = await solveOnce(request, request.transactions.slice(0, k), apiVersion, command, options);
          runs++;
          if (prefix.error) throw prefix.error;
          full = prefix.parsed!.packages;
        }
        const added = subtract(full, seen);
        for (const p of added) seen.add(`${nevra(p)}@${p.repo_id}`);
        lists.push(added);
      }
    }
  }
  const result: DepsolveResult = {
    solver: parsed.solver,
    api_version: parsed.apiVersion,
    transactions: lists.map((packages, i) => ({
      ...(request.transactions[i].name ? { name: request.transactions[i].name } : {}),
      packages,
    })),
    repos: parsed.repos,
    modules: parsed.modules,
  };
  try {
    validate<DepsolveResult>('depsolve-result.schema', result, 'result');
  } catch (e) {
    throw new DepsolveError('MalformedResponse', `depsolve: the normalized result is invalid: ${(e as Error).message}`, {}, e);
  }
  log.info(
    {
      apiVersion: parsed.apiVersion,
      runs,
      packages: lists.map((l) => l.length),
      durationMs: Date.now() - started,
    },
    'depsolve done',
  );
  return result;
}

/** The full package set after transaction `upTo` (default: the last), in transaction order. */
export function cumulativePackages(result: DepsolveResult, upTo = result.transactions.length - 1): DepsolvedPackage[] {
  return result.transactions.slice(0, upTo + 1).flatMap((t) => t.packages);
}
