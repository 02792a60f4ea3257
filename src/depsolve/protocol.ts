/**
 * The osbuild-depsolve-dnf JSON protocol (reference/osbuild.md §4): Kiln's request turned into
 * a v1 or v2 wire request, and v1/v2 responses and error objects turned into Kiln's shapes.
 */
import { KilnError } from '../errors.js';
import type { DepsolveRepoConfig, DepsolveRequest, DepsolveTransactionRequest } from '../generated/depsolve-request.schema.js';
import type { DepsolvedModule, DepsolvedPackage, DepsolvedRepo } from '../generated/depsolve-result.schema.js';

export type ApiVersion = 1 | 2;

/** A solver failure (code KILN_DEPSOLVE); `kind` is the solver's error kind or one of Kiln's own. */
export class DepsolveError extends KilnError {
  readonly kind: string;
  constructor(kind: string, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super('KILN_DEPSOLVE', message, { cause, details: { kind, ...details } });
    this.kind = kind;
  }
}

function wireRepo(repo: DepsolveRepoConfig, apiVersion: ApiVersion): Record<string, unknown> {
  const { gpgkeys, ...rest } = repo;
  const out: Record<string, unknown> = { ...rest };
  if (gpgkeys) out[apiVersion === 1 ? 'gpgkeys' : 'gpgkey'] = gpgkeys;
  return out;
}

function wireTransaction(t: DepsolveTransactionRequest): Record<string, unknown> {
  return {
    'package-specs': t.package_specs,
    'exclude-specs': t.exclude_specs ?? [],
    ...(t.repo_ids ? { 'repo-ids': t.repo_ids } : {}),
    ...(t.module_enable_specs?.length ? { 'module-enable-specs': t.module_enable_specs } : {}),
    install_weak_deps: t.install_weak_deps ?? false,
  };
}

/** The request document for the solver's stdin; `transactions` defaults to all of the request's. */
export function toWireRequest(
  request: DepsolveRequest,
  apiVersion: ApiVersion,
  cacheDir: string,
  transactions: DepsolveTransactionRequest[] = request.transactions,
): Record<string, unknown> {
  return {
    api_version: apiVersion,
    command: 'depsolve',
    arch: request.arch,
    releasever: request.releasever ?? null,
    cachedir: cacheDir,
    ...(request.module_platform_id ? { module_platform_id: request.module_platform_id } : {}),
    ...(request.proxy ? { proxy: request.proxy } : {}),
    arguments: {
      repos: request.repos.map((r) => wireRepo(r, apiVersion)),
      transactions: transactions.map(wireTransaction),
    },
  };
}

/** A solver response, before the per-transaction lists are settled. */
export interface ParsedResponse {
  apiVersion: ApiVersion;
  solver: string;
  /** Disjoint per-transaction lists: v2, or v1 with Kiln's `kiln_transactions` extension. */
  transactions?: DepsolvedPackage[][];
  /** v1: the full set of the last transaction. */
  packages: DepsolvedPackage[];
  repos: DepsolvedRepo[];
  modules: Record<string, DepsolvedModule>;
}

function malformed(what: string, value?: unknown): DepsolveError {
  const shown = value === undefined ? '' : `: ${JSON.stringify(value)?.slice(0, 200)}`;
  return new DepsolveError('MalformedResponse', `depsolve: the solver's response is malformed (${what})${shown}`);
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Obj, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw malformed(`${where}.${key} is not a non-empty string`, v);
  return v;
}

function optStr(o: Obj, key: string): string | undefined {
  const v = o[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function epochOf(o: Obj, where: string): number {
  const v = o.epoch;
  // dnf reports an int; a string epoch has been seen from other tools.
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw malformed(`${where}.epoch is not an integer`, v);
  return n;
}

function checksumOf(v: unknown, where: string): string {
  if (typeof v === 'string' && /^[a-z0-9]+:[0-9a-f]+$/.test(v)) return v;
  if (isObj(v) && typeof v.algorithm === 'string' && typeof v.value === 'string' && /^[0-9a-f]+$/.test(v.value)) {
    return `${v.algorithm}:${v.value}`;
  }
  throw malformed(`${where}.checksum is missing or not <algorithm>:<hex>`, v);
}

function packageV1(p: unknown, where: string): DepsolvedPackage {
  if (!isObj(p)) throw malformed(`${where} is not an object`);
  return {
    name: str(p, 'name', where),
    epoch: epochOf(p, where),
    version: str(p, 'version', where),
    release: str(p, 'release', where),
    arch: str(p, 'arch', where),
    repo_id: str(p, 'repo_id', where),
    location: str(p, 'path', where),
    remote_location: str(p, 'remote_location', where),
    checksum: checksumOf(p.checksum, where),
  };
}

function packageV2(p: unknown, where: string): DepsolvedPackage {
  if (!isObj(p)) throw malformed(`${where} is not an object`);
  const remotes = p.remote_locations;
  const remote = Array.isArray(remotes) && typeof remotes[0] === 'string' && remotes[0] ? remotes[0] : undefined;
  if (!remote) throw malformed(`${where}.remote_locations is empty`, remotes);
  return {
    name: str(p, 'name', where),
    epoch: epochOf(p, where),
    version: str(p, 'version', where),
    release: str(p, 'release', where),
    arch: str(p, 'arch', where),
    repo_id: str(p, 'repo_id', where),
    location: str(p, 'location', where),
    remote_location: remote,
    checksum: checksumOf(p.checksum, where),
  };
}

function repoOf(r: unknown, id: string, apiVersion: ApiVersion): DepsolvedRepo {
  const where = `repos.${id}`;
  if (!isObj(r)) throw malformed(`${where} is not an object`);
  const keys = apiVersion === 1 ? r.gpgkeys : r.gpgkey;
  if (keys != null && !(Array.isArray(keys) && keys.every((k) => typeof k === 'string'))) {
    throw malformed(`${where}.${apiVersion === 1 ? 'gpgkeys' : 'gpgkey'} is not a list of strings`, keys);
  }
  const baseurl = r.baseurl;
  if (baseurl != null && !(Array.isArray(baseurl) && baseurl.every((u) => typeof u === 'string'))) {
    throw malformed(`${where}.baseurl is not a list of strings`, baseurl);
  }
  const out: DepsolvedRepo = {
    id: typeof r.id === 'string' && r.id ? r.id : id,
    gpgcheck: r.gpgcheck === true,
    repo_gpgcheck: r.repo_gpgcheck === true,
    gpgkeys: (keys as string[] | null | undefined) ?? [],
    // dnf's default is to verify; only an explicit false turns it off.
    sslverify: r.sslverify !== false,
  };
  const name = optStr(r, 'name');
  if (name) out.name = name;
  if (Array.isArray(baseurl) && baseurl.length) out.baseurl = baseurl as string[];
  for (const key of ['metalink', 'mirrorlist', 'sslcacert', 'sslclientkey', 'sslclientcert'] as const) {
    const v = optStr(r, key);
    if (v) out[key] = v;
  }
  return out;
}

function reposOf(doc: Obj, apiVersion: ApiVersion): DepsolvedRepo[] {
  const repos = doc.repos ?? {};
  if (!isObj(repos)) throw malformed('repos is not an object');
  return Object.keys(repos)
    .sort()
    .map((id) => repoOf(repos[id], id, apiVersion));
}

const FAILSAFE_DIR = '/var/lib/dnf/modulefailsafe/';
const MODULE_PART = /^[^/\s]+$/;

function moduleOf(m: unknown, key: string): DepsolvedModule {
  const where = `modules.${key}`;
  if (!isObj(m)) throw malformed(`${where} is not an object`);
  const file = m['module-file'];
  const failsafe = m['failsafe-file'];
  if (!isObj(file) || !isObj(file.data)) throw malformed(`${where}.module-file is not an object with data`, file);
  if (!isObj(failsafe)) throw malformed(`${where}.failsafe-file is not an object`, failsafe);
  const data = file.data;
  const name = str(data, 'name', `${where}.module-file.data`);
  const stream = str(data, 'stream', `${where}.module-file.data`);
  if (!MODULE_PART.test(name) || !MODULE_PART.test(stream)) throw malformed(`${where}: module name and stream must not contain / or spaces`, `${name}:${stream}`);
  const profiles = data.profiles ?? [];
  if (!Array.isArray(profiles) || !profiles.every((p) => typeof p === 'string' && p !== '')) throw malformed(`${where}.module-file.data.profiles is not a list of names`, profiles);
  if (name !== key) throw malformed(`${where} names module ${name}`);
  const path = str(failsafe, 'path', `${where}.failsafe-file`);
  const base = path.slice(FAILSAFE_DIR.length);
  // the path is written into the image: only a file directly in dnf's failsafe directory
  if (!path.startsWith(FAILSAFE_DIR) || !MODULE_PART.test(base) || base === '.' || base === '..') {
    throw malformed(`${where}.failsafe-file.path is not a file in ${FAILSAFE_DIR}`, path);
  }
  if (typeof failsafe.data !== 'string') throw malformed(`${where}.failsafe-file.data is not a string`);
  return {
    'module-file': {
      path: str(file, 'path', `${where}.module-file`),
      // osbuild's solver lists profiles from a Python set: sorted, so a result does not change order between runs
      data: { name, stream, profiles: [...new Set(profiles as string[])].sort(), state: str(data, 'state', `${where}.module-file.data`) },
    },
    'failsafe-file': { path, data: failsafe.data },
  };
}

/** The response's `modules` (null or absent: none), keyed and sorted by module name. */
function modulesOf(doc: Obj): Record<string, DepsolvedModule> {
  const modules = doc.modules ?? {};
  if (!isObj(modules)) throw malformed('modules is not an object', modules);
  return Object.fromEntries(
    Object.keys(modules)
      .sort()
      .map((key) => [key, moduleOf(modules[key], key)]),
  );
}

export function nevra(p: Pick<DepsolvedPackage, 'name' | 'epoch' | 'version' | 'release' | 'arch'>): string {
  return `${p.name}-${p.epoch}:${p.version}-${p.release}.${p.arch}`;
}

/**
 * Parses a successful solver response of either version (told apart by shape: v2 has
 * `transactions`, v1 `packages`). `transactionCount` is the number of transactions requested.
 */
export function parseResponse(doc: unknown, transactionCount: number): ParsedResponse {
  if (!isObj(doc)) throw malformed('not a JSON object');
  const solver = typeof doc.solver === 'string' && doc.solver ? doc.solver : 'unknown';
  const modules = modulesOf(doc);
  if (Array.isArray(doc.transactions)) {
    if (doc.transactions.length !== transactionCount) {
      throw malformed(`${doc.transactions.length} transactions for ${transactionCount} requested`);
    }
    const transactions = doc.transactions.map((t, i) => {
      if (!Array.isArray(t)) throw malformed(`transactions[${i}] is not a list`);
      return t.map((p, j) => packageV2(p, `transactions[${i}][${j}]`));
    });
    return { apiVersion: 2, solver, transactions, packages: transactions.flat(), repos: reposOf(doc, 2), modules };
  }
  if (!Array.isArray(doc.packages)) throw malformed('neither transactions (v2) nor packages (v1)');
  const packages = doc.packages.map((p, i) => packageV1(p, `packages[${i}]`));
  const parsed: ParsedResponse = { apiVersion: 1, solver, packages, repos: reposOf(doc, 1), modules };
  const ext = doc.kiln_transactions;
  if (Array.isArray(ext) && ext.length === transactionCount) {
    const byNevra = new Map(packages.map((p) => [nevra(p), p]));
    parsed.transactions = ext.map((names, i) => {
      if (!Array.isArray(names)) throw malformed(`kiln_transactions[${i}] is not a list`);
      return names.map((n) => {
        const p = byNevra.get(n as string);
        if (!p) throw malformed(`kiln_transactions[${i}] names ${String(n)}, which is not in packages`);
        return p;
      });
    });
    if (parsed.transactions.flat().length !== packages.length) throw malformed('kiln_transactions do not cover packages');
  }
  return parsed;
}

/**
 * Names of unmatched package and group specs in dnf's and dnf5's wording, for solvers without
 * `details` (osbuild's dnf solver: "Problems in request:\nmissing packages: a, b\nmissing
 * groups or modules: @g").
 */
function missingFromReason(reason: string): string[] {
  const dnf4 = [...reason.matchAll(/^missing (?:packages|groups or modules): (.+)$/gm)];
  if (dnf4.length) return dnf4.flatMap((m) => m[1].split(',').map((s) => s.trim()).filter(Boolean));
  return [...reason.matchAll(/No match for argument: (\S+)/g)].map((m) => m[1]);
}

function repoFromReason(reason: string): string | undefined {
  return /repo(?:sitory)? ['"]([^'"]+)['"]/.exec(reason)?.[1];
}

export interface FailureContext {
  request: DepsolveRequest;
  stderr: string;
  exitCode: number | null;
  solver: string;
}

/** Turns the solver's `{kind, reason, details?}` object into a DepsolveError naming what failed. */
export function solverFailure(doc: Obj, ctx: FailureContext): DepsolveError {
  const kind = typeof doc.kind === 'string' && doc.kind ? doc.kind : 'UnknownError';
  const reason = typeof doc.reason === 'string' ? doc.reason : JSON.stringify(doc.reason ?? null);
  const extra = isObj(doc.details) ? doc.details : {};
  const details: Record<string, unknown> = {
    reason,
    solver: ctx.solver,
    exit_code: ctx.exitCode,
    ...(ctx.stderr ? { stderr: ctx.stderr } : {}),
  };
  if (typeof extra.transaction === 'number') {
    details.transaction = extra.transaction;
    const name = ctx.request.transactions[extra.transaction]?.name;
    if (name) details.transaction_name = name;
  }
  switch (kind) {
    case 'MarkingErrors': {
      let packages: string[];
      let modules: string[];
      if (Array.isArray(extra.packages) || Array.isArray(extra.modules)) {
        packages = (extra.packages as string[] | undefined) ?? [];
        modules = (extra.modules as string[] | undefined) ?? [];
      } else {
        // osbuild's solver says "missing groups or modules: <spec>" for a module stream it cannot enable
        const streams = new Set(ctx.request.transactions.flatMap((t) => t.module_enable_specs ?? []));
        const missing = missingFromReason(reason);
        packages = missing.filter((m) => !streams.has(m));
        modules = missing.filter((m) => streams.has(m));
      }
      if (Array.isArray(extra.module_problems)) details.module_problems = extra.module_problems;
      const said: string[] = [];
      if (modules.length) {
        details.modules = modules;
        said.push(`no module stream matches ${modules.join(', ')}`);
      }
      if (packages.length) {
        details.packages = packages;
        said.push(`no package matches ${packages.join(', ')}`);
      }
      if (said.length) return new DepsolveError(kind, `depsolve: ${said.join('; ')}`, details);
      return new DepsolveError(kind, `depsolve: cannot mark packages: ${reason}`, details);
    }
    case 'RepoError': {
      const repoId = typeof extra.repo_id === 'string' ? extra.repo_id : repoFromReason(reason);
      if (repoId) {
        details.repo_id = repoId;
        const repo = ctx.request.repos.find((r) => r.id === repoId);
        const urls = repo ? [...(repo.baseurl ?? []), repo.metalink, repo.mirrorlist].filter(Boolean) : [];
        if (urls.length) details.urls = urls;
        return new DepsolveError(
          kind,
          `depsolve: cannot read repository '${repoId}'${urls.length ? ` (${urls.join(', ')})` : ''}: ${reason}`,
          details,
        );
      }
      return new DepsolveError(kind, `depsolve: cannot read a repository: ${reason}`, details);
    }
    case 'DepsolveError':
      if (Array.isArray(extra.packages)) details.packages = extra.packages;
      return new DepsolveError(kind, `depsolve: dependencies cannot be satisfied: ${reason}`, details);
    case 'InvalidRequest':
      if (typeof extra.field === 'string') details.field = extra.field;
      return new DepsolveError(
        kind,
        `depsolve: the solver rejected the request${typeof extra.field === 'string' ? ` (${extra.field})` : ''}: ${reason}`,
        details,
      );
    default:
      if (typeof doc.traceback === 'string') details.traceback = doc.traceback;
      return new DepsolveError(kind, `depsolve: ${kind}: ${reason}`, details);
  }
}
