/**
 * The dev hub's build-host side (kojihub's Host, HostExports and the Task class): hosts log in
 * as users of type host, take an exclusive session (kojid's), run tasks through subsessions,
 * open, close and fail tasks, make subtasks and wait on them, upload into their tasks'
 * directories and move scratch image builds; plus the root calls that read what tasks produced
 * (results, children, output files) and the tag and package data a builder asks for (repos:
 * repos.ts).
 * Each follows koji 1.35.3's code path and fault texts; what the dev hub does not have (the
 * scheduler, policies, inheritance, volumes) is reduced to its default behaviour, noted where.
 */
import { lstat, mkdir, readdir, readFile, rename, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { decodeResponse, XmlRpcFault } from '../koji/xmlrpc.js';
import {
  BUILD_STATES,
  FaultCode,
  HubFault,
  TASK_STATES,
  assertLoggedIn,
  convertInt,
  genericError,
  lookupName,
  pyRepr,
  pythonError,
  pyTruthy,
} from './rules.js';
import { buildInfo, tagChanged, taskInfo, type HostRow, type HubTables, type TaskRow, type TaskResult } from './state.js';
import { addSession, findBuild, findTag, makeTask, nowSeconds, strictBuild, strictTag, strictUser, type CallContext, type MethodSpec } from './methods.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Args = Record<string, any>;

const FINISHED: readonly number[] = [TASK_STATES.CLOSED, TASK_STATES.CANCELED, TASK_STATES.FAILED];

/** koji.pathinfo.taskrelpath */
export const taskRelPath = (taskId: number): string => `tasks/${taskId % 10000}/${taskId}`;

/** Host(): the session's user must be a host. */
export function hostOf(t: HubTables, userId: number | null): HostRow | undefined {
  return userId === null ? undefined : Object.values(t.hosts).find((h) => h.user_id === userId);
}

/** Host() then host.verify(): a host, holding its exclusive lock (kojid's session or a subsession of it). */
export function verifiedHost(ctx: CallContext): HostRow {
  const host = hostOf(ctx.t, ctx.user?.id ?? null);
  if (!host) throw new HubFault(FaultCode.AuthError, ctx.user ? `User ${ctx.user.id} is not a host` : 'Not logged-in');
  if (!ctx.exclusive) throw new HubFault(FaultCode.AuthError, 'This method requires an exclusive session');
  return host;
}

function strictTask(t: HubTables, id: unknown): TaskRow {
  const task = t.tasks[convertInt(id)!];
  if (!task) throw genericError(`No such task: ${String(id)}`);
  return task;
}

/** Task.verifyHost: the task is OPEN and this host runs it. */
export function taskRunBy(t: HubTables, taskId: number, hostId: number): boolean {
  const task = strictTask(t, taskId);
  return task.state === TASK_STATES.OPEN && task.host_id === hostId;
}

/** Task.assertHost */
export function assertTaskHost(t: HubTables, taskId: number, host: HostRow): void {
  if (!taskRunBy(t, taskId, host.id)) throw new HubFault(FaultCode.ActionNotAllowed, `host ${host.id} does not own task ${taskId}`);
}

/** Task.getResult */
export function taskResult(t: HubTables, taskId: number, raiseFault = true): unknown {
  const task = t.tasks[taskId];
  if (!task) throw genericError('No such task');
  if (task.state === TASK_STATES.CANCELED) throw genericError(`Task ${taskId} is canceled`);
  if (task.state !== TASK_STATES.CLOSED && task.state !== TASK_STATES.FAILED) throw genericError(`Task ${taskId} is not finished`);
  const r = task.result;
  if (r && 'faultCode' in r) {
    if (raiseFault) throw new HubFault(r.faultCode, r.faultString);
    return { faultCode: r.faultCode, faultString: r.faultString };
  }
  return r ? r.value : null;
}

/** The task result a host reports: koji.xmlrpcplus.dumps((value,), methodresponse=1) or dumps(Fault). */
async function decodeTaskResponse(response: unknown): Promise<TaskResult> {
  if (typeof response !== 'string') throw pythonError('TypeError', `expected string or bytes-like object, got '${typeof response}'`);
  try {
    return { value: await decodeResponse(response) };
  } catch (err) {
    if (err instanceof XmlRpcFault) return { faultCode: Number(err.faultCode), faultString: String(err.faultString) };
    throw pythonError('xml.parsers.expat.ExpatError', (err as Error).message);
  }
}

/** Task.cancel(recurse): CANCELED unless already ended; the task's BUILDING builds are canceled too (cancel_build). */
export function cancelTask(ctx: CallContext, taskId: number, recurse = true): boolean {
  const t = ctx.t;
  const task = strictTask(t, taskId);
  if (task.state === TASK_STATES.CANCELED) return true;
  if (task.state === TASK_STATES.CLOSED || task.state === TASK_STATES.FAILED) return false;
  task.state = TASK_STATES.CANCELED;
  task.completion_time = nowSeconds(ctx);
  for (const b of Object.values(t.builds)) {
    if (b.task_id === taskId && b.state === BUILD_STATES.BUILDING) {
      b.state = BUILD_STATES.CANCELED;
      b.completion_time = nowSeconds(ctx);
      delete t.reservations[b.id];
    }
  }
  ctx.changed = true;
  if (recurse) for (const child of Object.values(t.tasks).filter((c) => c.parent === taskId)) cancelTask(ctx, child.id, true);
  return true;
}

/** Task.lock(host, newstate): FREE, or ASSIGNED to this host, can be taken. */
function lockTask(ctx: CallContext, task: TaskRow, hostId: number, newstate: 'OPEN' | 'ASSIGNED'): boolean {
  if (task.state === TASK_STATES.FREE) {
    if (task.host_id !== null) return false;
  } else if (task.state === TASK_STATES.ASSIGNED) {
    if (task.host_id !== hostId) return false;
    if (newstate === 'ASSIGNED') return true;
  } else {
    return false;
  }
  task.state = TASK_STATES[newstate];
  task.host_id = hostId;
  if (newstate === 'OPEN') task.start_time = nowSeconds(ctx);
  ctx.changed = true;
  return true;
}

/** Where a task's files are on disk. */
const taskDir = (ctx: CallContext, taskId: number) => path.join(ctx.hub.workDir, taskRelPath(taskId));

/** koji.util.move_and_symlink(src, dst, relative=True, create_dir=True) */
async function moveAndSymlink(from: string, to: string): Promise<void> {
  await mkdir(path.dirname(to), { recursive: true });
  await rename(from, to);
  await symlink(path.relative(path.dirname(from), to), from);
}

/**
 * A tagBuild subtask run at once (autoRunTagTasks, the dev hub's default): what kojid's
 * TagBuildTask would do (the tagging, then the task closed), or the task failed with the fault
 * the hub's tagging raised.
 */
function runTagTask(ctx: CallContext, task: TaskRow): void {
  const [tagId, buildId] = task.request as unknown[];
  task.start_time = nowSeconds(ctx);
  try {
    const build = strictBuild(ctx.t, buildId);
    const tag = strictTag(ctx.t, tagId);
    if (build.state !== BUILD_STATES.COMPLETE) throw new HubFault(FaultCode.TagError, `build ${build.name}-${build.version}-${build.release} not complete: state ${build.state}`);
    if (!tag.packages.includes(build.name)) throw new HubFault(FaultCode.TagError, `Package ${build.name} not in list for ${tag.name}`);
    if (!tag.builds.includes(build.id)) {
      tag.builds.push(build.id);
      tagChanged(ctx.t, tag, nowSeconds(ctx));
    }
    Object.assign(task, { state: TASK_STATES.CLOSED, result: { value: null } });
  } catch (err) {
    if (!(err instanceof HubFault)) throw err;
    Object.assign(task, { state: TASK_STATES.FAILED, result: { faultCode: err.faultCode, faultString: err.message } });
  }
  task.completion_time = nowSeconds(ctx);
}

function checkedResults(results: unknown): Args {
  if (!results || typeof results !== 'object' || Array.isArray(results)) {
    throw new HubFault(FaultCode.ParameterError, `Invalid type for value '${String(results)}': <class '${Array.isArray(results) ? 'list' : typeof results}'>, expected type <class 'dict'>`);
  }
  return results as Args;
}

export const hostMethods: Record<string, MethodSpec> = {
  // ------------------------------------------------------------ sessions (kojihub/auth.py)
  exclusiveSession: {
    py: 'exclusiveSession',
    params: ['force'],
    defaults: { force: false },
    fn(ctx, a) {
      const session = ctx.session;
      if (!session || !ctx.user) throw new HubFault(FaultCode.AuthError, 'Not logged in');
      if (session.master != null) throw genericError('subsessions cannot become exclusive');
      if (session.exclusive) throw genericError('session is already exclusive');
      const holder = Object.values(ctx.t.sessions).find((s) => s.user_id === ctx.user!.id && !s.closed && s.exclusive === true);
      if (holder) {
        if (!pyTruthy(a.force)) throw new HubFault(FaultCode.AuthLockError, 'Cannot get exclusive session');
        Object.assign(ctx.t.sessions[holder.id], { exclusive: false, closed: true });
      }
      ctx.t.sessions[session.id].exclusive = true;
      ctx.changed = true;
      return null;
    },
  },
  sharedSession: {
    py: 'sharedSession',
    params: [],
    fn(ctx) {
      if (!ctx.session) throw new HubFault(FaultCode.AuthError, 'Not logged in');
      ctx.t.sessions[ctx.session.id].exclusive = false;
      ctx.changed = true;
      return null;
    },
  },
  subsession: {
    py: 'subsession',
    params: [],
    fn(ctx) {
      if (!ctx.session || !ctx.user) throw new HubFault(FaultCode.AuthError, 'Not logged in');
      return addSession(ctx, ctx.user.id, ctx.session.authtype, ctx.session.master ?? ctx.session.id);
    },
  },
  logoutChild: {
    py: 'logoutChild',
    params: ['session_id'],
    fn(ctx, a) {
      if (!ctx.session) throw new HubFault(FaultCode.AuthError, 'Not logged in');
      const child = ctx.t.sessions[convertInt(a.session_id)!];
      if (child && child.master === ctx.session.id) {
        Object.assign(child, { exclusive: false, closed: true });
        ctx.changed = true;
      }
      return null;
    },
  },

  // ------------------------------------------------------------ HostExports
  'host.getID': { py: 'HostExports.getID', params: [], fn: (ctx) => verifiedHost(ctx).id },
  'host.getHost': {
    py: 'HostExports.getHost',
    params: [],
    fn(ctx) {
      const h = verifiedHost(ctx);
      return { id: h.id, user_id: h.user_id, name: h.name, arches: h.arches, task_load: 0, capacity: 2, description: null, comment: null, ready: true, enabled: h.enabled };
    },
  },
  'host.updateHost': { py: 'HostExports.updateHost', params: ['task_load', 'ready', 'data'], defaults: { data: null }, fn: (ctx) => (verifiedHost(ctx), null) },
  // the scheduler's assignment, done when the host asks: FREE tasks of its channels and arches, by priority
  'host.getTasks': {
    py: 'HostExports.getTasks',
    params: [],
    fn(ctx) {
      const host = verifiedHost(ctx);
      const channels = host.channels.map((name) => lookupName(CHANNEL_ROWS, name)?.id);
      const arches = new Set([...host.arches.split(/\s+/), 'noarch']);
      const free = Object.values(ctx.t.tasks)
        .filter((t) => (t.state === TASK_STATES.FREE && t.host_id === null && channels.includes(t.channel_id) && arches.has(t.arch)) || (t.state === TASK_STATES.ASSIGNED && t.host_id === host.id))
        .sort((x, y) => x.priority - y.priority || x.id - y.id);
      for (const task of free) lockTask(ctx, task, host.id, 'ASSIGNED');
      return free.map((task) => ({ ...taskInfo(task, false), host_id: host.id }));
    },
  },
  'host.openTask': {
    py: 'HostExports.openTask',
    params: ['task_id'],
    fn(ctx, a) {
      const host = verifiedHost(ctx);
      const task = strictTask(ctx.t, a.task_id);
      if (!lockTask(ctx, task, host.id, 'OPEN')) return null;
      return { ...taskInfo(task, true), request: task.request };
    },
  },
  'host.closeTask': {
    py: 'HostExports.closeTask',
    params: ['task_id', 'response'],
    async fn(ctx, a) {
      const host = verifiedHost(ctx);
      assertTaskHost(ctx.t, convertInt(a.task_id)!, host);
      const task = ctx.t.tasks[convertInt(a.task_id)!];
      Object.assign(task, { result: await decodeTaskResponse(a.response), state: TASK_STATES.CLOSED, completion_time: nowSeconds(ctx) });
      ctx.changed = true;
      return null;
    },
  },
  'host.failTask': {
    py: 'HostExports.failTask',
    params: ['task_id', 'response'],
    async fn(ctx, a) {
      const host = verifiedHost(ctx);
      assertTaskHost(ctx.t, convertInt(a.task_id)!, host);
      const task = ctx.t.tasks[convertInt(a.task_id)!];
      Object.assign(task, { result: await decodeTaskResponse(a.response), state: TASK_STATES.FAILED, completion_time: nowSeconds(ctx) });
      ctx.changed = true;
      return null;
    },
  },
  'host.freeTasks': {
    py: 'HostExports.freeTasks',
    params: ['tasks'],
    fn(ctx, a) {
      const host = verifiedHost(ctx);
      for (const id of a.tasks as unknown[]) {
        const task = strictTask(ctx.t, id);
        if (!taskRunBy(ctx.t, task.id, host.id)) continue;
        Object.assign(task, { state: TASK_STATES.FREE, host_id: null });
        ctx.changed = true;
      }
      return null;
    },
  },
  'host.subtask': {
    py: 'HostExports.subtask',
    params: ['method', 'arglist', 'parent'],
    varkw: true,
    fn(ctx, a) {
      const host = verifiedHost(ctx);
      assertTaskHost(ctx.t, convertInt(a.parent)!, host);
      const opts: Args = { ...a.opts, parent: a.parent };
      if ('owner' in opts) throw new HubFault(FaultCode.ActionNotAllowed, 'The owner option is not allowed here');
      if ('label' in opts) {
        const existing = Object.values(ctx.t.tasks).find((t) => t.parent === opts.parent && t.label === opts.label);
        if (existing) return existing.id;
      }
      let arglist = a.arglist;
      if ('kwargs' in opts) {
        arglist = [...(arglist as unknown[]), { ...(opts.kwargs as Args), __starstar: true }];
        delete opts.kwargs;
      }
      ctx.changed = true;
      const id = makeTask(ctx.t, ctx.user, a.method, arglist, opts);
      if (a.method === 'tagBuild' && ctx.hub.options.autoRunTagTasks !== false) runTagTask(ctx, ctx.t.tasks[id]);
      return id;
    },
  },
  'host.taskSetWait': {
    py: 'HostExports.taskSetWait',
    params: ['parent', 'tasks'],
    fn(ctx, a) {
      verifiedHost(ctx);
      if (a.tasks !== null && !Array.isArray(a.tasks)) throw new HubFault(FaultCode.ParameterError, `Invalid type for value '${String(a.tasks)}': <class '${typeof a.tasks}'>, expected type <class 'list'>`);
      const parent = convertInt(a.parent)!;
      if (ctx.t.tasks[parent]) ctx.t.tasks[parent].waiting = true;
      for (const child of Object.values(ctx.t.tasks).filter((t) => t.parent === parent)) {
        if (a.tasks === null || (a.tasks as number[]).includes(child.id)) child.awaited = true;
        else if (child.awaited) child.awaited = false;
      }
      ctx.changed = true;
      return null;
    },
  },
  'host.taskWait': {
    py: 'HostExports.taskWait',
    params: ['parent'],
    fn(ctx, a) {
      verifiedHost(ctx);
      const awaited = Object.values(ctx.t.tasks).filter((t) => t.parent === convertInt(a.parent) && t.awaited === true);
      const finished = awaited.filter((t) => FINISHED.includes(t.state)).map((t) => t.id).sort((x, y) => x - y);
      const unfinished = awaited.filter((t) => !FINISHED.includes(t.state)).map((t) => t.id);
      for (const id of finished) ctx.t.tasks[id].awaited = false;
      if (finished.length) ctx.changed = true;
      return [finished, unfinished];
    },
  },
  'host.taskWaitResults': {
    py: 'HostExports.taskWaitResults',
    params: ['parent', 'tasks', 'canfail'],
    defaults: { canfail: null },
    fn(ctx, a) {
      verifiedHost(ctx);
      const parent = convertInt(a.parent)!;
      const canfail: number[] = a.canfail ?? [];
      // taskUnwait
      if (ctx.t.tasks[parent]) ctx.t.tasks[parent].waiting = false;
      for (const child of Object.values(ctx.t.tasks).filter((t) => t.parent === parent)) child.awaited = false;
      ctx.changed = true;
      const ids: number[] =
        a.tasks ?? Object.values(ctx.t.tasks).filter((t) => t.parent === parent && FINISHED.includes(t.state)).map((t) => t.id);
      return ids.map((id) => {
        const raiseFault = !canfail.includes(id);
        try {
          return [id, taskResult(ctx.t, id, raiseFault)];
        } catch (err) {
          if (!raiseFault && err instanceof HubFault && ctx.t.tasks[id]?.state === TASK_STATES.CANCELED) {
            return [id, { faultCode: err.faultCode, faultString: err.message }];
          }
          throw err;
        }
      });
    },
  },
  // HostExports.tagBuild: what kojid's TagBuildTask calls
  'host.tagBuild': {
    py: 'HostExports.tagBuild',
    params: ['task_id', 'tag', 'build', 'force', 'fromtag'],
    defaults: { force: false, fromtag: null },
    fn(ctx, a) {
      const host = verifiedHost(ctx);
      assertTaskHost(ctx.t, convertInt(a.task_id)!, host);
      const build = strictBuild(ctx.t, a.build);
      const tag = strictTag(ctx.t, a.tag);
      if (!tag.builds.includes(build.id)) {
        tag.builds.push(build.id);
        tagChanged(ctx.t, tag, nowSeconds(ctx));
      }
      ctx.changed = true;
      return null;
    },
  },
  // the dev hub has no policies: every check passes, as the hub's default policies let these through
  'host.assertPolicy': {
    py: 'HostExports.assertPolicy',
    params: ['name', 'data', 'default'],
    defaults: { default: 'deny' },
    fn(ctx) {
      verifiedHost(ctx);
      return null;
    },
  },
  'host.moveImageBuildToScratch': {
    py: 'HostExports.moveImageBuildToScratch',
    params: ['task_id', 'results'],
    async fn(ctx, a) {
      const results = checkedResults(a.results);
      const host = verifiedHost(ctx);
      const taskId = convertInt(a.task_id)!;
      assertTaskHost(ctx.t, taskId, host);
      const owner = strictUser(ctx.t, ctx.t.tasks[taskId].owner).name;
      for (const sub of Object.values(results) as Args[]) {
        if (!sub || !('task_id' in sub)) continue;
        const workdir = taskDir(ctx, convertInt(sub.task_id)!);
        const dest = path.join(ctx.hub.dir, 'scratch', owner, `task_${sub.task_id}`);
        for (const name of [...(sub.files as string[]), ...(sub.logs as string[])]) {
          const src = path.join(workdir, name);
          if (!(await lstat(src).catch(() => undefined))) throw pythonError('FileNotFoundError', `[Errno 2] No such file or directory: '${src}' -> '${path.join(dest, name)}'`);
          await moveAndSymlink(src, path.join(dest, name));
        }
      }
      return null;
    },
  },

  // ------------------------------------------------------------ RootExports: tasks
  getTaskResult: {
    params: ['taskId', 'raise_fault'],
    defaults: { raise_fault: true },
    fn: (ctx, a) => taskResult(ctx.t, convertInt(a.taskId)!, pyTruthy(a.raise_fault)),
  },
  getTaskChildren: {
    params: ['task_id', 'request', 'strict'],
    defaults: { request: false, strict: false },
    fn(ctx, a) {
      const id = convertInt(a.task_id)!;
      if (a.strict && !ctx.t.tasks[id]) throw genericError('query returned no rows');
      return Object.values(ctx.t.tasks)
        .filter((t) => t.parent === id)
        .sort((x, y) => x.id - y.id)
        .map((t) => taskInfo(t, pyTruthy(a.request)));
    },
  },
  cancelTask: {
    params: ['task_id', 'recurse'],
    defaults: { recurse: true },
    fn(ctx, a) {
      const task = strictTask(ctx.t, a.task_id);
      const host = hostOf(ctx.t, ctx.user?.id ?? null);
      const mine = (ctx.user && task.owner === ctx.user.id) || (host && taskRunBy(ctx.t, task.id, host.id));
      if (!mine && !ctx.user?.perms.includes('admin')) throw new HubFault(FaultCode.ActionNotAllowed, 'Cannot cancel task, not owner');
      cancelTask(ctx, task.id, pyTruthy(a.recurse));
      return null;
    },
  },
  cancelTaskChildren: {
    params: ['task_id'],
    fn(ctx, a) {
      assertLoggedIn(ctx.user);
      const task = strictTask(ctx.t, a.task_id);
      const host = hostOf(ctx.t, ctx.user!.id);
      const mine = task.owner === ctx.user!.id || (host && taskRunBy(ctx.t, task.id, host.id));
      if (!mine && !ctx.user!.perms.includes('admin')) throw new HubFault(FaultCode.ActionNotAllowed, 'Cannot cancel task, not owner');
      for (const child of Object.values(ctx.t.tasks).filter((t) => t.parent === task.id)) cancelTask(ctx, child.id, true);
      return null;
    },
  },
  listTaskOutput: {
    py: 'list_task_output',
    params: ['taskID', 'stat', 'all_volumes', 'strict'],
    defaults: { stat: false, all_volumes: false, strict: false },
    async fn(ctx, a) {
      const id = convertInt(a.taskID)!;
      if (a.strict && !ctx.t.tasks[id]) throw genericError("Task doesn't exist");
      const root = taskDir(ctx, id);
      const files: string[] = [];
      const walk = async (sub: string) => {
        for (const e of await readdir(path.join(root, sub), { withFileTypes: true }).catch(() => [])) {
          const rel = sub ? `${sub}/${e.name}` : e.name;
          const isDir = e.isDirectory() || (e.isSymbolicLink() && (await stat(path.join(root, rel)).catch(() => undefined))?.isDirectory());
          if (isDir) await walk(rel);
          else files.push(rel);
        }
      };
      await walk('');
      if (!a.stat && !a.all_volumes) return files;
      const out: Args = {};
      for (const f of files) {
        if (!a.stat) {
          out[f] = ['DEFAULT'];
          continue;
        }
        const st = await stat(path.join(root, f));
        const info = { st_size: String(st.size), st_atime: st.atimeMs / 1000, st_mtime: st.mtimeMs / 1000, st_ctime: st.ctimeMs / 1000 };
        out[f] = a.all_volumes ? { DEFAULT: info } : info;
      }
      return out;
    },
  },
  downloadTaskOutput: {
    params: ['taskID', 'fileName', 'offset', 'size', 'volume'],
    defaults: { offset: 0, size: -1, volume: null },
    async fn(ctx, a) {
      const size = convertInt(a.size)!;
      if (String(a.fileName).includes('..')) throw genericError(`Invalid file name: ${String(a.fileName)}`);
      const id = convertInt(a.taskID)!;
      const file = path.normalize(path.join(taskDir(ctx, id), String(a.fileName)));
      if (!(await stat(file).catch(() => undefined))?.isFile()) throw genericError(`no file "${String(a.fileName)}" output by task ${id}`);
      const data = await readFile(file);
      const offset = typeof a.offset === 'string' ? Number(a.offset) : (a.offset as number | null) ?? 0;
      const start = offset > 0 ? offset : offset < 0 ? Math.max(0, data.length + offset) : 0;
      const end = size < 0 ? data.length : Math.min(data.length, start + size);
      // base64encode(contents): a string, not a Binary
      return data.subarray(start, end).toString('base64');
    },
  },

  // ------------------------------------------------------------ RootExports: tags, packages, image builds
  getTag: {
    py: 'get_tag',
    params: ['tagInfo', 'strict', 'event', 'blocked'],
    defaults: { strict: false, event: null, blocked: false },
    fn(ctx, a) {
      const tag = findTag(ctx.t, a.tagInfo);
      if (!tag) {
        if (a.strict) throw genericError(`No such tagInfo: ${pyRepr(a.tagInfo)}`);
        return null;
      }
      return tagInfo(tag);
    },
  },
  // no inheritance in the dev hub: the tag's own arches and extra
  getBuildConfig: {
    params: ['tag', 'event'],
    defaults: { event: null },
    fn(ctx, a) {
      const tag = strictTag(ctx.t, a.tag);
      return { ...tagInfo(tag), config_inheritance: { extra: {}, arches: null } };
    },
  },
  getPackageConfig: {
    params: ['tag', 'pkg', 'event'],
    defaults: { event: null },
    fn(ctx, a) {
      const tag = findTag(ctx.t, a.tag);
      // the dev hub's package lists hold names (packageListAdd makes the package on a real hub)
      const pkg = Object.values(ctx.t.packages).find((p) => p.name === a.pkg || p.id === a.pkg);
      const name = pkg?.name ?? (typeof a.pkg === 'string' ? a.pkg : undefined);
      if (!tag || !name || !tag.packages.includes(name)) return null;
      return { package_id: pkg?.id ?? null, package_name: name, tag_id: tag.id, tag_name: tag.name, owner_id: 1, owner_name: null, extra_arches: null, blocked: false };
    },
  },
  getLatestBuilds: {
    params: ['tag', 'event', 'package', 'type', 'draft'],
    defaults: { event: null, package: null, type: null, draft: null },
    fn(ctx, a) {
      const tag = strictTag(ctx.t, a.tag);
      const latest = new Map<string, number>();
      for (const id of tag.builds) {
        const b = ctx.t.builds[id];
        if (!b || b.state !== BUILD_STATES.COMPLETE || (a.package !== null && b.name !== a.package) || (a.type !== null && !b.btypes.includes(a.type))) continue;
        latest.set(b.name, id);
      }
      return [...latest.values()].map((id) => ({ ...buildInfo(ctx.t, ctx.t.builds[id]), tag_id: tag.id, tag_name: tag.name }));
    },
  },
  getImageBuild: {
    py: 'get_image_build',
    params: ['buildInfo', 'strict'],
    defaults: { strict: false },
    fn(ctx, a) {
      const b = findBuild(ctx.t, a.buildInfo);
      if (!b) {
        if (a.strict) throw genericError(`No such build: ${pyRepr(a.buildInfo)}`);
        return null;
      }
      if (!b.btypes.includes('image')) {
        if (a.strict) throw genericError(`no such image build: ${String(a.buildInfo)}`);
        return null;
      }
      return { build_id: b.id };
    },
  },
};

const CHANNEL_ROWS = ['default', 'createrepo', 'maven', 'livecd', 'appliance', 'vm', 'image', 'livemedia'].map((name, i) => ({ id: i + 1, name }));

function tagInfo(tag: HubTables['tags'][string]): Args {
  return { id: tag.id, name: tag.name, arches: tag.arches ?? null, locked: false, perm_id: null, perm: null, maven_support: false, maven_include_all: false, extra: tag.extra ?? {} };
}

/** Where an upload into tasks/<n>/<id>/ is allowed: only by the host running that task (get_upload_path). */
export function assertTaskUpload(ctx: Pick<CallContext, 't' | 'user' | 'exclusive'>, taskId: number): void {
  verifiedHost(ctx as CallContext);
  assertTaskHost(ctx.t, taskId, hostOf(ctx.t, ctx.user!.id)!);
}

export { CHANNEL_ROWS };
export const taskFiles = { taskDir, moveAndSymlink };
export type { HostRow };
