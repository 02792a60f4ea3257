/** The dev hub's XML-RPC methods: the subset of kojihub's RootExports that Kiln and its callers use. */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DevHub } from './hub.js';
import {
  BUILD_STATES,
  BUILD_STATE_NAMES,
  ARCHIVE_CHECKSUM_TYPES,
  CHANNELS,
  FaultCode,
  HUB_VERSION,
  HubFault,
  PRIO_DEFAULT,
  TASK_STATES,
  VERIFY_TYPES,
  archiveTypeFor,
  assertCG,
  assertLoggedIn,
  assertPerm,
  buildKey,
  checkImport,
  checkNVR,
  checkRecycle,
  checkRefund,
  checkRefundState,
  checkStr,
  convertInt,
  genericError,
  keyError,
  lookupName,
  lookupNameStrict,
  noSuchBuild,
  parseArches,
  parseImportMetadata,
  pyJsonDumps,
  pyRepr,
  pythonError,
  pyTruthy,
  pyTypeName,
  taskForeignKeyError,
  taskRequest,
  uploadTarget,
  verifyNameInternal,
  type ImportLookup,
  type ImportPlan,
  type VerifyType,
} from './rules.js';
import { hostMethods } from './host.js';
import { kilnPluginMethods } from './kiln-plugin.js';
import { repoMethods } from './repos.js';
import { archiveInfo, buildInfo, newEvent, nextId, tagChanged, taskInfo, type BuildRow, type HubTables, type SessionRow, type TaskRow, type UserRow } from './state.js';

export interface CallContext {
  hub: DevHub;
  /** the request's copy of the tables; replaces the state if the call succeeds and sets `changed` */
  t: HubTables;
  session: SessionRow | null;
  user: UserRow | null;
  /** the session holds (or its master holds) the user's exclusive lock */
  exclusive: boolean;
  changed: boolean;
  identity: { cn?: string; principal?: string };
  now: number;
  method: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Args = Record<string, any>;

export interface MethodSpec {
  params: string[];
  defaults?: Record<string, unknown>;
  /** *args: positional arguments beyond `params` go to `args` */
  varargs?: boolean;
  /** **opts: keyword arguments not in `params` go to `opts` */
  varkw?: boolean;
  /** the Python function's qualified name, for argument faults; default RootExports.<method> */
  py?: string;
  fn: (ctx: CallContext, args: Args) => unknown;
}

export const nowSeconds = (ctx: CallContext) => ctx.now / 1000;

/** get_user(info): by id, name or Kerberos principal, or a map with id / name / krb_principal. */
export function findUser(t: HubTables, info: unknown): UserRow | undefined {
  const users = Object.values(t.users);
  if (typeof info === 'number' && Number.isInteger(info)) return t.users[info];
  if (typeof info === 'string') return users.find((u) => u.name === info || u.krb_principals.includes(info));
  if (info && typeof info === 'object' && !Array.isArray(info)) {
    const o = info as Args;
    return users.find(
      (u) => (o.id == null || u.id === o.id) && (!o.name || u.name === o.name) && (!o.krb_principal || u.krb_principals.includes(o.krb_principal)),
    );
  }
  throw genericError(`Invalid type for userInfo: <class '${pyTypeName(info)}'>`);
}

/** get_user(info, strict=True) */
export function strictUser(t: HubTables, info: unknown): UserRow {
  const user = findUser(t, info);
  if (!user) throw genericError(`No such user: ${pyRepr(info)}`);
  return user;
}

export function createUser(t: HubTables, name: string, extra: Partial<UserRow> = {}): UserRow {
  if (Object.values(t.users).some((u) => u.name === name)) throw genericError(`user already exists: ${name}`);
  const id = nextId(t, 'users');
  const user: UserRow = { id, name, password: null, status: 0, usertype: 0, krb_principals: [], perms: [], ...extra };
  t.users[id] = user;
  return user;
}

/** A random session key in the hub's format: `<uid>-<19 alnum>`. */
function sessionKey(userId: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return `${userId}-${Array.from(randomBytes(19), (b) => alphabet[b % alphabet.length]).join('')}`;
}

function createSession(ctx: CallContext, user: UserRow, authtype: number, renew: boolean): Record<string, unknown> {
  if (user.status !== 0) throw new HubFault(FaultCode.AuthError, `logins by ${user.name} are not allowed`);
  ctx.changed = true;
  const key = sessionKey(user.id);
  if (ctx.session) {
    if (!renew) throw new HubFault(FaultCode.AuthError, 'Already logged in');
    if (ctx.session.user_id !== user.id) throw new HubFault(FaultCode.AuthError, 'Renewal for a different user');
    // Renewal keeps the session id; the key changes and the call sequence starts again.
    Object.assign(ctx.t.sessions[ctx.session.id], { key, renewed: ctx.now, callnum: null });
    return { 'session-id': ctx.session.id, 'session-key': key, 'header-auth': true };
  }
  return addSession(ctx, user.id, authtype);
}

/** Session.createSession: a new open session of the user (a login, or a subsession). */
export function addSession(ctx: CallContext, userId: number, authtype: number, master: number | null = null): Record<string, unknown> {
  ctx.changed = true;
  const key = sessionKey(userId);
  const id = nextId(ctx.t, 'sessions');
  ctx.t.sessions[id] = { id, key, user_id: userId, authtype, start: ctx.now, renewed: ctx.now, callnum: null, closed: false, master };
  return { 'session-id': id, 'session-key': key, 'header-auth': true };
}

/** get_build(info): by id, "N-V-R" string or {name, version, release} map; a bad argument is the hub's fault. */
export function findBuild(t: HubTables, info: unknown): BuildRow | undefined {
  const key = buildKey(info);
  if ('id' in key) return t.builds[key.id];
  return Object.values(t.builds).find((b) => b.name === key.name && b.version === key.version && b.release === key.release);
}

export function strictBuild(t: HubTables, info: unknown): BuildRow {
  const b = findBuild(t, info);
  if (!b) throw noSuchBuild(info);
  return b;
}

export function findTag(t: HubTables, info: unknown) {
  return lookupName(Object.values(t.tags), info);
}

export function strictTag(t: HubTables, info: unknown) {
  const tag = findTag(t, info);
  if (!tag) throw genericError(`No such tagInfo: ${pyRepr(info)}`);
  return tag;
}

export function taskRow(t: HubTables, task: Partial<TaskRow> & { method: string; owner: number }): number {
  const id = nextId(t, 'tasks');
  t.tasks[id] = {
    id, state: TASK_STATES.FREE, arch: 'noarch', channel_id: 1, host_id: null, parent: null, label: null, priority: PRIO_DEFAULT, weight: 1,
    request: [], result: null, create_time: Date.now() / 1000, start_time: null, completion_time: null, ...task,
  };
  return id;
}

/**
 * make_task(method, arglist, **opts), the hub's internal call behind makeTask and every task
 * the hub creates: the argument checks, subtasks (parent must exist and be OPEN; owner, arch and
 * priority from it), and the default channel policy (the requested channel, a subtask's
 * parent's, else "default"). The task is FREE, waiting for a builder.
 */
export function makeTask(t: HubTables, caller: UserRow | null, method: unknown, arglist: unknown, opts: Args = {}): number {
  checkStr(method);
  const parent = 'parent' in opts ? convertInt(opts.parent) : undefined;
  if ('label' in opts) checkStr(opts.label);
  let owner: number | undefined;
  if ('owner' in opts) owner = typeof opts.owner === 'number' && Number.isInteger(opts.owner) ? opts.owner : strictUser(t, opts.owner).id;
  const arch = 'arch' in opts ? parseArches(opts.arch) : undefined;
  let priority = 'priority' in opts ? convertInt(opts.priority)! : undefined;
  if ('assign' in opts) {
    // get_host(assign, strict=True): the dev hub has no build hosts
    throw genericError(`Invalid hostInfo: ${String(opts.assign)}`);
  }
  let row: Partial<TaskRow>;
  if (parent !== undefined) {
    const p = t.tasks[parent!];
    if (!p) throw genericError(`Invalid parent task: ${parent}`);
    if (p.state !== TASK_STATES.OPEN) throw genericError(`Parent task (id ${parent}) is not open`);
    priority ??= p.priority - 1;
    row = { parent, label: 'label' in opts ? opts.label : null, owner: owner ?? p.owner, arch: arch ?? p.arch, channel_id: p.channel_id };
  } else {
    if (owner === undefined) {
      if (!caller) throw genericError('task must have an owner');
      owner = caller.id;
    }
    row = { parent: null, label: null, owner, arch: arch ?? 'noarch', channel_id: 1 };
  }
  if ('channel' in opts) {
    const channel = lookupName(CHANNELS.map((name, i) => ({ id: i + 1, name })), opts.channel);
    if (!channel) throw genericError(`No such channel: ${String(opts.channel)}`);
    row.channel_id = channel.id;
  }
  const request = taskRequest(arglist);
  return taskRow(t, { ...row, method: method as string, owner: row.owner!, priority: priority ?? PRIO_DEFAULT, request, state: TASK_STATES.FREE });
}

/** Task.cancelFull(strict=False): the top-level task and every task under it that has not ended. */
function cancelTaskTree(ctx: CallContext, taskId: number): void {
  const t = ctx.t;
  let top = t.tasks[taskId];
  const seen = new Set<number>();
  while (top?.parent != null && !seen.has(top.id)) {
    seen.add(top.id);
    top = t.tasks[top.parent];
  }
  if (!top) return;
  const queue = [top];
  while (queue.length) {
    const task = queue.shift()!;
    if (task.state !== TASK_STATES.CLOSED && task.state !== TASK_STATES.FAILED && task.state !== TASK_STATES.CANCELED) {
      task.state = TASK_STATES.CANCELED;
      task.completion_time = nowSeconds(ctx);
    }
    queue.push(...Object.values(t.tasks).filter((c) => c.parent === task.id));
  }
}

function packageId(t: HubTables, name: string): number {
  const found = Object.values(t.packages).find((p) => p.name === name);
  if (found) return found.id;
  const id = nextId(t, 'packages');
  t.packages[id] = { id, name };
  return id;
}

/**
 * new_build(data): a new build row, or the recycled row of a FAILED or CANCELED build of the same
 * NVR (checkRecycle). `data` keeps the caller's keys in their order, as the hub's fault texts
 * print it. A task id the hub does not have fails as the hub's foreign key does.
 */
function newBuild(ctx: CallContext, input: Args): BuildRow {
  const t = ctx.t;
  const data: Args = { ...input };
  if ('pkg_id' in data) data.name = lookupNameStrict('package', Object.values(t.packages), data.pkg_id).name;
  else {
    if (!pyTruthy(data.name)) throw genericError('No name or package id provided for build');
    verifyNameInternal(data.name);
    data.pkg_id = packageId(t, data.name);
  }
  if (pyTruthy(data.owner)) data.owner = strictUser(t, data.owner).id;
  for (const f of ['version', 'release', 'epoch']) if (!(f in data)) throw genericError(`No ${f} value for build`);
  data.extra = 'extra' in data ? pyJsonDumps(data.extra) : null;
  if ('draft' in data) data.draft = pyTruthy(data.draft);
  const defaults: Args = {
    state: BUILD_STATES.COMPLETE, start_time: 'NOW', completion_time: 'NOW', source: null, owner: ctx.user?.id ?? null, task_id: null, volume_id: 0, draft: false,
  };
  for (const [k, v] of Object.entries(defaults)) if (!(k in data)) data[k] = v;
  const time = (v: unknown) => (v === 'NOW' ? nowSeconds(ctx) : (v as number | null));
  const old = findBuild(t, data);
  const row = {
    name: data.name as string, version: data.version as string, release: data.release as string, epoch: data.epoch === null ? null : Number(data.epoch),
    draft: data.draft as boolean, state: data.state as number, owner_id: data.owner as number, task_id: data.task_id === null ? null : Number(data.task_id),
    source: data.source as string | null, extra: data.extra === null ? null : (JSON.parse(data.extra) as Record<string, unknown> | null), cg_id: (data.cg_id ?? null) as number | null,
    creation_time: nowSeconds(ctx), start_time: time(data.start_time), completion_time: time(data.completion_time), btypes: [] as string[],
    create_event: newEvent(t, nowSeconds(ctx)),
  };
  if (old) {
    if (data.draft) throw genericError(`Target build already exists: ${old.name}-${old.version}-${old.release} (id=${old.id})`);
    const history = {
      tagged: Object.values(t.tags).some((tag) => tag.builds.includes(old.id)),
      archives: Object.values(t.archives).some((a) => a.build_id === old.id),
    };
    if (checkRecycle(old, row, history, () => pyRepr(data)) === 'reuse') return old;
  }
  if (row.task_id !== null && !t.tasks[row.task_id]) throw taskForeignKeyError(row.task_id);
  if (old) {
    Object.assign(old, row);
    return old;
  }
  const id = nextId(t, 'builds');
  t.builds[id] = { id, ...row };
  return t.builds[id];
}

/** What CGImport writes; a failure after the first file moved removes the build directory, and the moved uploads with it, as the hub does. */
async function cgImport(ctx: CallContext, a: Args): Promise<unknown> {
  const hub = ctx.hub;
  const t = ctx.t;
  const directory = a.directory;
  const work = (...parts: string[]) => path.join(hub.workDir, ...parts.map((p) => (p === '' ? '.' : p)));
  const { metadata: parsed, raw } = await parseImportMetadata(a.metadata, async (name) => {
    if (typeof directory !== 'string') throw pythonError('TypeError', `expected str, bytes or os.PathLike object, not ${pyTypeName(directory)}`);
    return readFile(work(directory, name), 'utf8').catch(() => undefined);
  });
  if (typeof directory !== 'string') throw pythonError('TypeError', `expected str, bytes or os.PathLike object, not ${pyTypeName(directory)}`);
  const buildDir = (n: string, v: string, r: string) => path.join(hub.packagesDir, n, v, r);
  const lookup: ImportLookup = {
    cgs: Object.values(t.cgs),
    user: ctx.user,
    findBuild: (info) => findBuild(t, info),
    reservation: (id) => t.reservations[id],
    userByName: (name) => findUser(t, name),
    btypeExists: (name) => t.btypes.includes(name),
    archivesByFile: (filename, size) => Object.values(t.archives).filter((r) => r.filename === filename && r.size === size),
    archive: (id) => t.archives[id],
    workPath: (...parts) => {
      const norm = parts.map((p) => {
        const n = p === '' ? '.' : path.posix.normalize(p);
        if (n === '..' || n.startsWith('../') || n.startsWith('/')) throw pythonError('ValueError', `Invalid path segment: ${p}`);
        return n;
      });
      // os.path.join keeps "." segments: the hub's fault texts show them
      return [hub.workDir, ...norm].join('/');
    },
    fileSize: async (p) => {
      const st = await stat(p).catch(() => undefined);
      return st?.size;
    },
    fileDigest: async (p, type) => (await hub.digestFile(p, type as VerifyType)).hexdigest,
    buildDir,
    exists: async (p) => (await lstat(p).catch(() => undefined)) !== undefined,
  };
  let plan: ImportPlan | undefined;
  try {
    plan = await checkImport(parsed, raw, directory, a.token, lookup);
    return await writeImport(ctx, plan, buildDir(plan.build.name, plan.build.version, plan.build.release));
  } catch (err) {
    // CG_Importer leaves its log under work/cg_import_logs when the import does not finish
    const lines = plan?.log ?? [];
    if (lines.length) {
      const logs = path.join(hub.workDir, 'cg_import_logs');
      await mkdir(logs, { recursive: true });
      await writeFile(path.join(await mkdtemp(path.join(logs, 'tmp')), 'cg_import.log'), lines.join('\n') + '\n');
    }
    throw err;
  }
}

async function writeImport(ctx: CallContext, plan: ImportPlan, dest: string): Promise<unknown> {
  const t = ctx.t;
  const pb = plan.build;
  // get_build: update the reservation, or a new (or recycled) build
  let build: BuildRow;
  if (pb.reservedId !== null) {
    build = t.builds[pb.reservedId];
    if (pb.task_id !== null && !t.tasks[pb.task_id]) throw taskForeignKeyError(pb.task_id);
    Object.assign(build, {
      state: BUILD_STATES.COMPLETE,
      extra: Object.keys(pb.extra).length ? pb.extra : null,
      owner_id: pb.owner ?? ctx.user!.id,
      source: pb.source,
      task_id: pb.task_id,
      completion_time: nowSeconds(ctx),
    });
    delete t.reservations[pb.reservedId];
  } else {
    build = newBuild(ctx, {
      name: pb.name, version: pb.version, release: pb.release, extra: pb.extra, source: pb.source, epoch: pb.epoch, draft: pb.draft,
      start_time: pb.start_time, completion_time: pb.end_time, task_id: pb.task_id, ...(pb.owner !== null ? { owner: pb.owner } : {}), cg_id: plan.cg.id,
    });
  }
  build.btypes = [...pb.btypes];
  if (!build.btypes.includes('rpm') && plan.outputs.some((o) => o.type === 'rpm')) build.btypes.push('rpm');
  // import_brs
  const brIds = new Map<string, number>();
  for (const br of plan.buildroots) {
    const id = nextId(t, 'buildroots');
    brIds.set(br.key, id);
    t.buildroots[id] = {
      id, build_id: build.id, cg_id: plan.cg.id, cg_version: String(br.cg_version), container_type: String(br.container.type), container_arch: String(br.container.arch),
      host_os: String(br.host.os), host_arch: String(br.host.arch), extra: (br.extra ?? null) as Record<string, unknown> | null,
      components: br.components as Record<string, unknown>[], tools: br.tools as Record<string, unknown>[],
    };
  }
  // import_outputs, then the metadata and the importer's log; a failure on the way deletes the build directory
  try {
    for (const out of plan.outputs) {
      if (out.type === 'rpm') throw genericError(`rpm outputs are not supported by the dev hub: ${out.filename}`);
      if (out.type === 'log') {
        if (out.metadata_only) continue;
        const logdir = path.join(dest, 'data', 'logs', out.subdir ?? '');
        await mkdir(logdir, { recursive: true });
        const final = path.join(logdir, path.basename(out.hubPath));
        if (await exists(final)) throw genericError(`Error importing build log. ${final} already exists.`);
        if (!(await isRegularFile(out.hubPath))) throw genericError(`Error importing build log. ${out.hubPath} is not a regular file.`);
        await moveAndSymlink(out.hubPath, final);
        continue;
      }
      if (!out.metadata_only && !(await exists(out.hubPath))) throw genericError(`No such file: ${out.hubPath}`);
      if (out.metadata_only && !['md5', 'sha256'].includes(out.checksum_type)) throw genericError(`Unsupported checksum type: ${out.checksum_type}`);
      const filename = out.metadata_only ? out.filename : path.basename(out.hubPath);
      const at = archiveTypeFor(filename);
      const btype = out.btype!;
      let relpath: string;
      let arch: string | undefined;
      if (btype === 'image') {
        const info = out.typeInfo as Args;
        if (!info || typeof info !== 'object' || !('arch' in info)) throw keyError('arch');
        arch = String(info.arch);
        relpath = path.posix.join('images', filename);
      } else {
        relpath = path.posix.join('files', btype, out.subdir ?? '', filename);
      }
      const id = nextId(t, 'archives');
      t.archives[id] = {
        id, type_id: at.id, type_name: at.name, type_description: at.description, type_extensions: at.extensions,
        btype, build_id: build.id, buildroot_id: brIds.get(out.buildroot) ?? null, filename,
        size: Number(out.filesize), checksum: out.checksum, checksum_type: ARCHIVE_CHECKSUM_TYPES[out.checksum_type], metadata_only: out.metadata_only,
        extra: (out.extra ?? null) as Record<string, unknown> | null, relpath, ...(arch !== undefined ? { arch } : {}),
      };
      if (out.metadata_only) continue;
      const final = path.join(dest, relpath);
      if (await exists(final)) throw genericError(`Error importing archive file, ${final} already exists`);
      if (!(await isRegularFile(out.hubPath))) throw genericError(`Error importing archive file, ${out.hubPath} is not a regular file`);
      await mkdir(path.dirname(final), { recursive: true });
      await moveAndSymlink(out.hubPath, final);
    }
    await mkdir(dest, { recursive: true });
    await writeFile(path.join(dest, 'metadata.json'), plan.rawMetadata);
  } catch (err) {
    plan.log.push(`Deleting build directory: ${dest}`);
    await rm(dest, { recursive: true, force: true });
    throw err;
  }
  if (plan.log.length) {
    await mkdir(path.join(dest, 'data', 'logs'), { recursive: true });
    await writeFile(path.join(dest, 'data', 'logs', 'cg_import.log'), [...plan.log, 'CG import was SUCCESSFUL.'].join('\n') + '\n');
    plan.log.length = 0;
  }
  ctx.changed = true;
  return buildInfo(t, build);
}

const exists = async (p: string) => (await stat(p).catch(() => undefined)) !== undefined;
const isRegularFile = async (p: string) => (await lstat(p).catch(() => undefined))?.isFile() === true;

/** koji.util.move_and_symlink: the upload becomes a relative symlink to where it went. */
async function moveAndSymlink(from: string, to: string): Promise<void> {
  await rename(from, to);
  await symlink(path.relative(path.dirname(from), to), from);
}

/** get_next_release: from the newest BUILDING, COMPLETE or DELETED non-draft build of name and version. */
function nextRelease(t: HubTables, info: unknown, incrArg: unknown): string {
  const incr = convertInt(incrArg, 'incr parameter must be an integer')!;
  if (typeof info === 'string') throw pythonError('TypeError', "string indices must be integers, not 'str'");
  if (Array.isArray(info)) throw pythonError('TypeError', 'list indices must be integers or slices, not str');
  if (!info || typeof info !== 'object') throw pythonError('TypeError', `'${pyTypeName(info)}' object is not subscriptable`);
  const nv = info as Args;
  if (!('name' in nv)) throw keyError('name');
  if (!('version' in nv)) throw keyError('version');
  const latest = Object.values(t.builds)
    .filter((b) => b.name === nv.name && b.version === nv.version && !b.draft && [BUILD_STATES.COMPLETE, BUILD_STATES.DELETED, BUILD_STATES.BUILDING].includes(b.state as 0 | 1 | 2))
    .sort((x, y) => y.id - x.id)[0];
  const release = latest?.release;
  if (!release) return String(incr);
  const parts = release.split('.');
  if (/^\d+$/.test(release)) return String(Number(release) + incr);
  if (parts.length === 2 && /^\d+$/.test(parts[0])) return [String(Number(parts[0]) + incr), parts[1]].join('.');
  if (parts.length === 3 && /^\d+$/.test(parts[2])) return [parts[0], parts[1], String(Number(parts[2]) + incr)].join('.');
  throw new HubFault(FaultCode.BuildError, `Unable to increment release value: ${release}`);
}

/**
 * multiCall: each call under its own savepoint, so a failing call leaves the others' changes in
 * place. A call's fault is reported in the list; a Python exception there is ', '.join(exc.args)
 * without its class. Calls may nest (the hub dispatches multiCall like any method).
 */
async function multiCall(ctx: CallContext, a: Args): Promise<unknown[]> {
  const calls = Array.isArray(a.calls) ? a.calls : typeof a.calls === 'string' ? [...a.calls] : a.calls && typeof a.calls === 'object' ? Object.keys(a.calls) : null;
  if (calls === null) throw pythonError('TypeError', `'${pyTypeName(a.calls)}' object is not iterable`);
  const results: unknown[] = [];
  for (const call of calls as unknown[]) {
    const saved = structuredClone(ctx.t);
    const changedBefore = ctx.changed;
    try {
      if (typeof call === 'string') throw pythonError('TypeError', "string indices must be integers, not 'str'");
      if (!call || typeof call !== 'object' || Array.isArray(call)) throw pythonError('TypeError', `'${pyTypeName(call)}' object is not subscriptable`);
      const c = call as Args;
      if (!('methodName' in c)) throw keyError('methodName');
      if (!('params' in c)) throw keyError('params');
      results.push([(await ctx.hub.dispatch(ctx, String(c.methodName), Array.isArray(c.params) ? c.params : [])) ?? null]);
    } catch (err) {
      for (const key of Object.keys(ctx.t)) delete (ctx.t as unknown as Args)[key];
      Object.assign(ctx.t, saved);
      ctx.changed = changedBefore;
      const fault = err instanceof HubFault ? err : new HubFault(FaultCode.Generic, `<class 'Exception'>: ${(err as Error).message}`, (err as Error).message, 'Exception');
      results.push({ faultCode: fault.faultCode, faultString: fault.args, traceback: [`${fault.pyClass}: ${fault.args}\n`] });
    }
  }
  return results;
}

export const methods: Record<string, MethodSpec> = {
  echo: { params: [], varargs: true, fn: (_ctx, a) => a.args },
  getAPIVersion: { params: [], fn: () => 1 },
  getKojiVersion: { params: [], fn: () => HUB_VERSION },
  // multiCall is the request handler's own, not in the registry
  'system.listMethods': { py: 'HandlerRegistry.system_listMethods', params: [], fn: () => Object.keys(methods).filter((m) => methods[m].fn !== multiCall).sort() },
  _listapi: {
    py: 'HandlerRegistry.list_api',
    params: [],
    fn: () =>
      Object.entries(methods)
        .filter(([, spec]) => spec.fn !== multiCall)
        .map(([name, s]) => {
          const params = s.params.map((p) => (s.defaults && p in s.defaults ? `${p}=${pyRepr(s.defaults[p])}` : p));
          return { name, argdesc: `(${[...params, ...(s.varargs ? ['*args'] : []), ...(s.varkw ? ['**opts'] : [])].join(', ')})` };
        }),
  },

  multiCall: { py: 'ModXMLRPCRequestHandler.multiCall', params: ['calls'], fn: multiCall },

  login: {
    py: 'Session.login',
    params: ['user', 'password', 'opts', 'renew', 'exclusive'],
    defaults: { opts: null, renew: false, exclusive: false },
    fn(ctx, a) {
      if (!a.user || !a.password) throw new HubFault(FaultCode.AuthError, 'username and password required');
      const user = Object.values(ctx.t.users).find((u) => u.name === a.user);
      if (!user || user.password === null || user.password !== a.password) throw new HubFault(FaultCode.AuthError, 'invalid username or password');
      return createSession(ctx, user, 1, a.renew === true);
    },
  },

  sslLogin: {
    py: 'Session.sslLogin',
    params: ['proxyuser', 'proxyauthtype', 'renew', 'exclusive'],
    defaults: { proxyuser: null, proxyauthtype: null, renew: false, exclusive: null },
    fn(ctx, a) {
      if (a.proxyuser) throw new HubFault(FaultCode.AuthError, `${ctx.identity.principal ?? ctx.identity.cn ?? 'client'} is not authorized to login other users`);
      const { principal, cn } = ctx.identity;
      let user: UserRow | undefined;
      let authtype: number;
      if (principal) {
        authtype = 2;
        user = Object.values(ctx.t.users).find((u) => u.krb_principals.includes(principal));
        if (!user) {
          if (ctx.hub.options.loginCreatesUser === false) throw new HubFault(FaultCode.AuthError, `Unknown Kerberos principal: ${principal}`);
          const name = principal.split('@')[0];
          user = Object.values(ctx.t.users).find((u) => u.name === name) ?? createUser(ctx.t, name);
          user.krb_principals.push(principal);
        }
      } else if (cn) {
        authtype = 3;
        user = Object.values(ctx.t.users).find((u) => u.name === cn);
        if (!user) {
          if (ctx.hub.options.loginCreatesUser === false) throw new HubFault(FaultCode.AuthError, `Unknown user: ${cn}`);
          user = createUser(ctx.t, cn);
        }
      } else {
        throw new HubFault(FaultCode.AuthError, 'could not verify client: NONE');
      }
      return createSession(ctx, user, authtype, a.renew === true);
    },
  },

  // Session.logout: one's own session, or another one of one's own (an admin's: any)
  logout: {
    py: 'Session.logout',
    params: ['session_id'],
    defaults: { session_id: null },
    fn(ctx, a) {
      if (!ctx.session || !ctx.user) throw new HubFault(FaultCode.AuthError, 'Not logged in');
      let id = ctx.session.id;
      if (pyTruthy(a.session_id)) {
        id = convertInt(a.session_id)!;
        const row = ctx.t.sessions[id];
        if (!ctx.user.perms.includes('admin') && (!row || row.user_id !== ctx.user.id)) throw genericError('query returned no rows');
      }
      const row = ctx.t.sessions[id];
      if (row) {
        row.closed = true;
        ctx.changed = true;
      }
      return null;
    },
  },

  getLoggedInUser: {
    params: [],
    fn(ctx) {
      if (!ctx.user) return null;
      const u = ctx.user;
      return {
        id: u.id, name: u.name, status: u.status, usertype: u.usertype, krb_principals: u.krb_principals,
        krb_principal: u.krb_principals[0] ?? null, authtype: ctx.session?.authtype ?? null,
      };
    },
  },

  getUser: {
    py: 'get_user',
    params: ['userInfo', 'strict', 'krb_princs', 'groups'],
    defaults: { userInfo: null, strict: false, krb_princs: true, groups: false },
    fn(ctx, a) {
      if (a.userInfo === null && !ctx.user) throw genericError('No user provided');
      const u = a.userInfo === null ? ctx.user : findUser(ctx.t, a.userInfo);
      if (!u) {
        if (a.strict) throw genericError(`No such user: ${pyRepr(a.userInfo)}`);
        return null;
      }
      return { id: u.id, name: u.name, status: u.status, usertype: u.usertype, krb_principals: u.krb_principals };
    },
  },

  getPerms: { params: [], fn: (ctx) => ctx.user?.perms ?? [] },

  grantCGAccess: {
    py: 'grant_cg_access',
    params: ['user', 'cg', 'create'],
    defaults: { create: false },
    fn(ctx, a) {
      assertPerm(ctx.user, 'admin');
      const user = strictUser(ctx.t, a.user);
      let cg = lookupName(Object.values(ctx.t.cgs), a.cg);
      if (!cg) {
        if (!a.create) throw genericError(`No such entry in table content_generator: ${String(a.cg)}`);
        if (typeof a.cg !== 'string') throw genericError('Name must be a string');
        cg = ctx.t.cgs[a.cg] = { id: nextId(ctx.t, 'cgs'), name: a.cg, users: [] };
      }
      if (cg.users.includes(user.id)) throw genericError(`User already has access to content generator ${cg.name}`);
      cg.users.push(user.id);
      ctx.changed = true;
      return null;
    },
  },

  revokeCGAccess: {
    py: 'revoke_cg_access',
    params: ['user', 'cg'],
    fn(ctx, a) {
      assertPerm(ctx.user, 'admin');
      const user = strictUser(ctx.t, a.user);
      const cg = lookupNameStrict('content_generator', Object.values(ctx.t.cgs), a.cg);
      cg.users = cg.users.filter((id) => id !== user.id);
      ctx.changed = true;
      return null;
    },
  },

  listCGs: {
    py: 'list_cgs',
    params: [],
    fn: (ctx) =>
      Object.fromEntries(Object.values(ctx.t.cgs).map((cg) => [cg.name, { id: cg.id, users: cg.users.map((id) => ctx.t.users[id]?.name) }])),
  },

  // cg_init_build: the CG access, the NVR checks, then new_build (which may recycle a FAILED or
  // CANCELED build, or hand back the BUILDING build of the same task), then the reservation.
  CGInitBuild: {
    py: 'cg_init_build',
    params: ['cg', 'data'],
    fn(ctx, a) {
      const cg = assertCG(Object.values(ctx.t.cgs), a.cg, ctx.user);
      const data = a.data;
      if (Array.isArray(data)) throw pythonError('TypeError', 'list indices must be integers or slices, not str');
      if (!data || typeof data !== 'object') throw pythonError('TypeError', `'${pyTypeName(data)}' object does not support item assignment`);
      const fields: Args = { ...data, owner: ctx.user!.id, state: BUILD_STATES.BUILDING, completion_time: null, cg_id: cg.id };
      if (!('epoch' in fields)) fields.epoch = null;
      checkNVR(fields);
      const build = newBuild(ctx, fields);
      if (ctx.t.reservations[build.id]) throw genericError('Build is already reserved');
      const token = randomBytes(32).toString('hex');
      ctx.t.reservations[build.id] = { build_id: build.id, token, cg_id: cg.id, created: nowSeconds(ctx) };
      ctx.changed = true;
      return { build_id: build.id, token };
    },
  },

  CGRefundBuild: {
    py: 'cg_refund_build',
    params: ['cg', 'build_id', 'token', 'state'],
    defaults: { state: BUILD_STATES.FAILED },
    fn(ctx, a) {
      checkRefundState(a.state);
      const cg = assertCG(Object.values(ctx.t.cgs), a.cg, ctx.user);
      const build = strictBuild(ctx.t, a.build_id);
      checkRefund(a.build_id, build, ctx.t.reservations[build.id], a.token, cg.id);
      build.state = a.state;
      build.completion_time = nowSeconds(ctx);
      delete ctx.t.reservations[build.id];
      ctx.changed = true;
      return null;
    },
  },

  CGImport: { py: 'cg_import', params: ['metadata', 'directory', 'token'], defaults: { token: null }, fn: cgImport },

  checkUpload: {
    params: ['path', 'name', 'verify', 'tail', 'volume'],
    defaults: { verify: null, tail: null, volume: null },
    async fn(ctx, a) {
      const file = await ctx.hub.uploadPath(String(a.path), String(a.name), null, false);
      const st = await stat(file).catch(() => undefined);
      if (!st) return null;
      if (!st.isFile()) throw genericError(`Not a regular file: ${file}`);
      const release = ctx.hub.lock(file, 'sh');
      try {
        const data: Args = { size: st.size, mtime: st.mtimeMs / 1000 };
        if (a.verify) {
          if (!(VERIFY_TYPES as readonly string[]).includes(a.verify)) throw genericError(`Unsupported verify type: ${a.verify}`);
          const tail = a.tail === null ? undefined : Number(a.tail);
          if (tail !== undefined) throw genericError('tail is not supported by the dev hub');
          const d = await ctx.hub.digestFile(file, a.verify as VerifyType);
          data.sumlength = d.length;
          data.hexdigest = d.hexdigest;
        }
        return data;
      } finally {
        release();
      }
    },
  },

  // RootExports.cancelBuild: the owner (or an admin) cancels a BUILDING build; its reservation
  // goes with it, so the NVR can be reserved again, and so does the build's task (cancel_build).
  // False when the build is missing (unless strict) or not BUILDING.
  cancelBuild: {
    params: ['buildID', 'strict'],
    defaults: { strict: false },
    fn(ctx, a) {
      const user = assertLoggedIn(ctx.user);
      const build = a.strict ? strictBuild(ctx.t, a.buildID) : findBuild(ctx.t, a.buildID);
      if (!build) return false;
      if (build.owner_id !== user.id && !user.perms.includes('admin')) throw new HubFault(FaultCode.ActionNotAllowed, 'Cannot cancel build, not owner');
      if (build.state !== BUILD_STATES.BUILDING) return false;
      build.state = BUILD_STATES.CANCELED;
      build.completion_time = nowSeconds(ctx);
      if (build.task_id !== null) cancelTaskTree(ctx, build.task_id);
      delete ctx.t.reservations[build.id];
      ctx.changed = true;
      return true;
    },
  },

  getBuild: {
    py: 'get_build',
    params: ['buildInfo', 'strict'],
    defaults: { strict: false },
    fn(ctx, a) {
      const b = a.strict ? strictBuild(ctx.t, a.buildInfo) : findBuild(ctx.t, a.buildInfo);
      return b ? buildInfo(ctx.t, b) : null;
    },
  },

  getBuildType: {
    py: 'get_build_type',
    params: ['buildInfo', 'strict'],
    defaults: { strict: false },
    fn(ctx, a) {
      const b = a.strict ? strictBuild(ctx.t, a.buildInfo) : findBuild(ctx.t, a.buildInfo);
      if (!b) return null;
      return Object.fromEntries(b.btypes.map((bt) => [bt, { build_id: b.id, ...((b.extra?.typeinfo as Args | undefined)?.[bt] ?? {}) }]));
    },
  },

  listBuilds: {
    params: ['packageID', 'userID', 'taskID', 'prefix', 'state', 'volumeID', 'source', 'createdBefore', 'createdAfter', 'completeBefore', 'completeAfter', 'type', 'typeInfo', 'queryOpts', 'pattern', 'cgID', 'draft'],
    defaults: Object.fromEntries(['packageID', 'userID', 'taskID', 'prefix', 'state', 'volumeID', 'source', 'createdBefore', 'createdAfter', 'completeBefore', 'completeAfter', 'type', 'typeInfo', 'queryOpts', 'pattern', 'cgID', 'draft'].map((k) => [k, null])),
    fn(ctx, a) {
      return Object.values(ctx.t.builds)
        .filter((b) => (a.state === null || b.state === a.state) && (a.prefix === null || b.name.startsWith(a.prefix)) && (a.cgID === null || b.cg_id === a.cgID) && (a.taskID === null || b.task_id === a.taskID))
        .map((b) => buildInfo(ctx.t, b));
    },
  },

  // get_build_logs: every regular file under the build's data/logs (cg_import.log too)
  getBuildLogs: {
    py: 'get_build_logs',
    params: ['buildinfo'],
    async fn(ctx, a) {
      const b = strictBuild(ctx.t, a.buildinfo);
      const rel = path.posix.join('packages', b.name, b.version, b.release, 'data', 'logs');
      const root = path.join(ctx.hub.dir, rel);
      const logs: Array<{ name: string; dir: string; path: string }> = [];
      const walk = async (sub: string) => {
        const entries = await readdir(path.join(root, sub), { withFileTypes: true }).catch(() => []);
        for (const e of entries) {
          if (e.isDirectory()) await walk(path.posix.join(sub, e.name));
          // "%s/%s/%s" % (logreldir, subdir, fn): the top directory shows as "."
          else if (e.isFile()) logs.push({ name: e.name, dir: sub || '.', path: `${rel}/${sub || '.'}/${e.name}` });
        }
      };
      await walk('');
      return logs;
    },
  },

  listArchives: {
    py: 'list_archives',
    params: ['buildID', 'buildrootID', 'componentBuildrootID', 'hostID', 'type', 'filename', 'size', 'checksum', 'checksum_type', 'typeInfo', 'queryOpts', 'imageID', 'archiveID', 'strict'],
    defaults: {
      ...Object.fromEntries(['buildID', 'buildrootID', 'componentBuildrootID', 'hostID', 'type', 'filename', 'size', 'checksum', 'checksum_type', 'typeInfo', 'queryOpts', 'imageID', 'archiveID'].map((k) => [k, null])),
      strict: false,
    },
    fn(ctx, a) {
      const rows = Object.values(ctx.t.archives).filter(
        (r) =>
          (a.buildID === null || r.build_id === a.buildID) &&
          (a.buildrootID === null || r.buildroot_id === a.buildrootID) &&
          (a.type === null || r.btype === a.type) &&
          (a.filename === null || r.filename === a.filename) &&
          (a.size === null || r.size === a.size) &&
          (a.checksum === null || r.checksum === a.checksum) &&
          (a.archiveID === null || r.id === a.archiveID),
      );
      if (a.strict && rows.length === 0) throw genericError('No archives found.');
      return rows.map((r) => archiveInfo(r, a.type === 'image'));
    },
  },

  // Task(id).getInfo(strict, request) for one id or a list of them
  getTaskInfo: {
    params: ['task_id', 'request', 'strict'],
    defaults: { request: false, strict: false },
    fn(ctx, a) {
      const single = !Array.isArray(a.task_id);
      const ids: unknown[] = single ? [a.task_id] : a.task_id;
      const rows = ids.map((id) => {
        const task = ctx.t.tasks[convertInt(id)!];
        if (!task && a.strict) throw genericError('query returned no rows');
        return task ? taskInfo(task, a.request === true) : null;
      });
      return single ? rows[0] : rows;
    },
  },

  // RootExports.makeTask: admins only, and not on behalf of another owner
  makeTask: {
    params: [],
    varargs: true,
    varkw: true,
    fn(ctx, a) {
      assertPerm(ctx.user, 'admin');
      if ('owner' in a.opts) throw new HubFault(FaultCode.ActionNotAllowed, 'The owner option is not allowed here');
      const args: unknown[] = [...a.args];
      const named: Args = { ...a.opts };
      for (const [i, p] of ['method', 'arglist'].entries()) {
        if (p in named) {
          if (i < args.length) throw pythonError('TypeError', `make_task() got multiple values for argument '${p}'`);
          args[i] = named[p];
          delete named[p];
        }
      }
      if (args.length > 2) throw pythonError('TypeError', `make_task() takes 2 positional arguments but ${args.length} were given`);
      const missing = ['method', 'arglist'].slice(args.length).map((p) => `'${p}'`);
      if (missing.length) {
        throw pythonError('TypeError', `make_task() missing ${missing.length} required positional argument${missing.length > 1 ? 's' : ''}: ${missing.join(' and ')}`);
      }
      ctx.changed = true;
      return makeTask(ctx.t, ctx.user, args[0], args[1], named);
    },
  },

  getBuildTarget: {
    py: 'get_build_target',
    params: ['info', 'event', 'strict'],
    defaults: { event: null, strict: false },
    fn(ctx, a) {
      const target = typeof a.info === 'number' ? ctx.t.targets[a.info] : Object.values(ctx.t.targets).find((x) => x.name === a.info);
      if (!target) {
        if (a.strict) throw genericError(`No such build target: ${String(a.info)}`);
        return null;
      }
      return {
        id: target.id, name: target.name, build_tag: target.build_tag, build_tag_name: ctx.t.tags[target.build_tag]?.name,
        dest_tag: target.dest_tag, dest_tag_name: ctx.t.tags[target.dest_tag]?.name,
      };
    },
  },

  tagBuild: {
    params: ['tag', 'build', 'force', 'fromtag'],
    defaults: { force: false, fromtag: null },
    fn(ctx, a) {
      const user = assertLoggedIn(ctx.user);
      const build = strictBuild(ctx.t, a.build);
      const tag = strictTag(ctx.t, a.tag);
      const fromtag = pyTruthy(a.fromtag) ? strictTag(ctx.t, a.fromtag).id : null;
      const nvr = `${build.name}-${build.version}-${build.release}`;
      if (build.state !== BUILD_STATES.COMPLETE) throw new HubFault(FaultCode.TagError, `build ${nvr} not complete: state ${BUILD_STATE_NAMES[build.state]}`);
      if (!tag.packages.includes(build.name)) {
        if (!(a.force && user.perms.includes('admin'))) throw new HubFault(FaultCode.TagError, `Package ${build.name} not in list for ${tag.name}`);
        tag.packages.push(build.name);
        tagChanged(ctx.t, tag, nowSeconds(ctx));
      }
      const auto = ctx.hub.options.autoRunTagTasks !== false;
      const taskId = taskRow(ctx.t, {
        method: 'tagBuild', owner: user.id, request: [tag.id, build.id, a.force, fromtag], priority: 10, state: auto ? TASK_STATES.CLOSED : TASK_STATES.FREE,
      });
      if (auto) {
        if (!tag.builds.includes(build.id)) {
          tag.builds.push(build.id);
          tagChanged(ctx.t, tag, nowSeconds(ctx));
        }
        ctx.t.tasks[taskId].completion_time = nowSeconds(ctx);
      }
      ctx.changed = true;
      return taskId;
    },
  },

  listTagged: {
    params: ['tag', 'event', 'inherit', 'prefix', 'latest', 'package', 'owner', 'type', 'strict', 'extra', 'draft'],
    defaults: { event: null, inherit: false, prefix: null, latest: false, package: null, owner: null, type: null, strict: true, extra: false, draft: null },
    fn(ctx, a) {
      const tag = strictTag(ctx.t, a.tag);
      return tag.builds
        .map((id) => ctx.t.builds[id])
        .filter((b) => b && (a.package === null || b.name === a.package))
        .map((b) => ({ ...buildInfo(ctx.t, b), tag_id: tag.id, tag_name: tag.name }));
    },
  },

  getNextRelease: {
    py: 'get_next_release',
    params: ['build_info', 'incr'],
    defaults: { incr: 1 },
    fn: (ctx, a) => nextRelease(ctx.t, a.build_info, a.incr),
  },
};
methods['system.multicall'] = methods.multiCall;
Object.assign(methods, hostMethods, repoMethods, kilnPluginMethods);
