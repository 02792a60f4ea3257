/** The dev hub's XML-RPC methods: the subset of kojihub's RootExports that Kiln and its callers use. */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DevHub } from './hub.js';
import {
  BUILD_STATES,
  BUILD_STATE_NAMES,
  ARCHIVE_CHECKSUM_TYPES,
  FaultCode,
  HUB_VERSION,
  HubFault,
  TASK_STATES,
  VERIFY_TYPES,
  assertCG,
  checkImport,
  checkRefund,
  checkReservable,
  checkNVR,
  genericError,
  parseImportMetadata,
  uploadTarget,
  type ImportLookup,
  type VerifyType,
} from './rules.js';
import { archiveInfo, buildInfo, nextId, taskInfo, type BuildRow, type HubTables, type SessionRow, type UserRow } from './state.js';

export interface CallContext {
  hub: DevHub;
  /** the request's copy of the tables; replaces the state if the call succeeds and sets `changed` */
  t: HubTables;
  session: SessionRow | null;
  user: UserRow | null;
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
  varargs?: boolean;
  fn: (ctx: CallContext, args: Args) => unknown;
}

const nowSeconds = (ctx: CallContext) => ctx.now / 1000;

function assertLogin(ctx: CallContext): UserRow {
  if (!ctx.user) throw new HubFault(FaultCode.AuthError, 'Not logged-in');
  return ctx.user;
}

function assertAdmin(ctx: CallContext): UserRow {
  const user = assertLogin(ctx);
  if (!user.perms.includes('admin')) throw new HubFault(FaultCode.ActionNotAllowed, 'admin permission required');
  return user;
}

function findUser(t: HubTables, info: unknown): UserRow | undefined {
  if (typeof info === 'number') return t.users[info];
  if (typeof info === 'string') return Object.values(t.users).find((u) => u.name === info || u.krb_principals.includes(info));
  return undefined;
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
  const id = nextId(ctx.t, 'sessions');
  ctx.t.sessions[id] = { id, key, user_id: user.id, authtype, start: ctx.now, renewed: ctx.now, callnum: null, closed: false };
  return { 'session-id': id, 'session-key': key, 'header-auth': true };
}

/** Builds by id, NVR string or {name, version, release} map (get_build's buildInfo). */
export function findBuild(t: HubTables, info: unknown): BuildRow | undefined {
  const all = Object.values(t.builds);
  if (typeof info === 'number') return t.builds[info];
  if (typeof info === 'string') {
    if (/^\d+$/.test(info)) return t.builds[Number(info)];
    const m = /^(.+)-([^-]+)-([^-]+)$/.exec(info);
    if (!m) throw genericError(`invalid format: ${info}`);
    return all.find((b) => b.name === m[1] && b.version === m[2] && b.release === m[3]);
  }
  if (info && typeof info === 'object') {
    const o = info as Record<string, unknown>;
    const id = o.id ?? o.build_id;
    if (typeof id === 'number') return t.builds[id];
    return all.find((b) => b.name === o.name && b.version === o.version && b.release === o.release);
  }
  throw genericError(`Invalid type for build info: ${JSON.stringify(info)}`);
}

function strictBuild(t: HubTables, info: unknown): BuildRow {
  const b = findBuild(t, info);
  if (!b) throw genericError(`No such build: ${JSON.stringify(info)}`);
  return b;
}

function findTag(t: HubTables, info: unknown) {
  const tag = typeof info === 'number' ? t.tags[info] : Object.values(t.tags).find((x) => x.name === info);
  return tag;
}

export function createTask(t: HubTables, task: { method: string; owner: number; request?: unknown[]; arch?: string; state?: number; parent?: number | null }): number {
  const id = nextId(t, 'tasks');
  t.tasks[id] = {
    id, method: task.method, state: task.state ?? TASK_STATES.FREE, owner: task.owner, arch: task.arch ?? 'noarch',
    channel_id: 1, host_id: null, parent: task.parent ?? null, label: null, priority: 20, weight: 1,
    request: task.request ?? [], result: null, create_time: Date.now() / 1000, start_time: null, completion_time: null,
  };
  return id;
}

function cgByName(t: HubTables, name: string) {
  return Object.hasOwn(t.cgs, name) ? t.cgs[name] : undefined;
}

/** new_build for CGInitBuild: a FAILED or CANCELED build with the same NVR is recycled, anything else is a conflict. */
function reserveBuild(ctx: CallContext, cgId: number, data: Args): BuildRow {
  checkNVR(data);
  const existing = Object.values(ctx.t.builds).find((b) => b.name === data.name && b.version === data.version && b.release === data.release);
  const row: Omit<BuildRow, 'id'> = {
    name: data.name, version: data.version, release: data.release,
    epoch: data.epoch === undefined || data.epoch === null ? null : Number(data.epoch), draft: data.draft === true,
    state: BUILD_STATES.BUILDING, owner_id: ctx.user!.id, task_id: null, source: null, extra: null, cg_id: cgId,
    creation_time: nowSeconds(ctx), start_time: null, completion_time: null, btypes: [],
  };
  checkReservable(existing, existing !== undefined && ctx.t.reservations[existing.id] !== undefined);
  if (existing) {
    Object.assign(existing, row);
    return existing;
  }
  const id = nextId(ctx.t, 'builds');
  ctx.t.builds[id] = { id, ...row };
  return ctx.t.builds[id];
}

async function cgImport(ctx: CallContext, a: Args): Promise<unknown> {
  assertLogin(ctx);
  const hub = ctx.hub;
  if (typeof a.directory !== 'string') throw genericError(`Invalid directory: ${String(a.directory)}`);
  const directory = uploadTarget(a.directory, 'x').dir;
  const uploadDir = path.join(hub.workDir, directory);
  const inUpload = (rel: string) => path.join(uploadDir, rel);
  const token = typeof a.token === 'string' ? a.token : null;
  const metadata = await parseImportMetadata(a.metadata, (name) => readFile(inUpload(name), 'utf8').catch(() => undefined));
  const t = ctx.t;
  const buildDir = (n: string, v: string, r: string) => path.join(hub.packagesDir, n, v, r);
  const lookup: ImportLookup = {
    cgByName: (name) => cgByName(t, name),
    userId: ctx.user!.id,
    buildById: (id) => t.builds[id],
    buildByNVR: (n, v, r) => Object.values(t.builds).find((b) => b.name === n && b.version === v && b.release === r),
    reservation: (id) => t.reservations[id],
    userByName: (name) => Object.values(t.users).find((u) => u.name === name),
    btypeExists: (name) => t.btypes.includes(name),
    fileSize: async (rel) => {
      const st = await stat(inUpload(rel)).catch(() => undefined);
      return st?.isFile() ? st.size : undefined;
    },
    fileDigest: async (rel, type) => (await hub.digestFile(inUpload(rel), type)).hexdigest,
    buildDirExists: async (n, v, r) => (await lstat(buildDir(n, v, r)).catch(() => undefined)) !== undefined,
  };
  const plan = await checkImport(metadata, token, lookup);
  const pb = plan.build;

  // Tables first (on a copy that only becomes real when the call succeeds), then the files.
  let build: BuildRow;
  if (pb.reservedId !== null) {
    build = t.builds[pb.reservedId];
    delete t.reservations[pb.reservedId];
  } else {
    const existing = Object.values(t.builds).find((b) => b.name === pb.name && b.version === pb.version && b.release === pb.release);
    if (existing) build = existing;
    else {
      const id = nextId(t, 'builds');
      build = t.builds[id] = { id } as BuildRow;
    }
    Object.assign(build, { name: pb.name, version: pb.version, release: pb.release, cg_id: plan.cg.id || null, creation_time: nowSeconds(ctx), draft: pb.draft, epoch: pb.epoch });
  }
  Object.assign(build, {
    state: BUILD_STATES.COMPLETE,
    owner_id: pb.owner ?? (pb.reservedId !== null ? build.owner_id : ctx.user!.id),
    task_id: pb.task_id ?? build.task_id ?? null,
    source: pb.source,
    extra: pb.extra,
    start_time: pb.start_time,
    completion_time: nowSeconds(ctx),
    btypes: pb.btypes,
  });
  const brIds = new Map<string, number>();
  for (const br of plan.buildroots) {
    const id = nextId(t, 'buildroots');
    brIds.set(br.key, id);
    t.buildroots[id] = {
      id, build_id: build.id, cg_id: plan.cg.id, cg_version: br.cg_version, container_type: br.container.type, container_arch: br.container.arch,
      host_os: br.host.os, host_arch: br.host.arch, extra: br.extra, components: br.components, tools: br.tools,
    };
  }
  const dest = buildDir(pb.name, pb.version, pb.release);
  const moves: Array<{ from: string; to: string }> = [];
  for (const out of plan.outputs) {
    const rel = path.posix.join(out.relpath, out.filename);
    let to: string;
    if (out.kind === 'log') {
      to = path.join(dest, 'data', 'logs', out.subdir, out.filename);
    } else {
      const at = out.archiveType!;
      const id = nextId(t, 'archives');
      const sub = out.btype === 'image' ? 'images' : path.join('files', out.btype!, out.subdir);
      t.archives[id] = {
        id, type_id: at.id, type_name: at.name, type_description: at.description, type_extensions: at.extensions,
        btype: out.btype!, build_id: build.id, buildroot_id: brIds.get(out.buildroot) ?? null, filename: out.filename,
        size: out.filesize, checksum: out.checksum, checksum_type: ARCHIVE_CHECKSUM_TYPES[out.checksum_type], metadata_only: out.metadata_only,
        extra: out.extra, relpath: path.posix.join(sub, out.filename), ...(out.imageArch !== undefined ? { arch: out.imageArch } : {}),
      };
      to = path.join(dest, sub, out.filename);
    }
    if (!out.metadata_only) moves.push({ from: inUpload(rel), to });
  }
  const done: typeof moves = [];
  try {
    await mkdir(dest, { recursive: true });
    for (const m of moves) {
      if (await lstat(m.to).catch(() => undefined)) throw genericError(`Error importing file. ${path.basename(m.to)} already exists.`);
      await mkdir(path.dirname(m.to), { recursive: true });
      await rename(m.from, m.to);
      done.push(m);
      await symlink(m.to, m.from);
    }
    await writeFile(path.join(dest, 'metadata.json'), JSON.stringify(plan.metadata, null, 2));
  } catch (err) {
    // The hub deletes the build directory when the import fails after moves began.
    for (const m of done.reverse()) {
      await unlink(m.from).catch(() => undefined);
      await rename(m.to, m.from).catch(() => undefined);
    }
    await rm(dest, { recursive: true, force: true });
    throw err;
  }
  ctx.changed = true;
  return buildInfo(t, build);
}

function nextRelease(t: HubTables, info: Args, incr: number): string {
  const candidates = Object.values(t.builds)
    .filter((b) => b.name === info.name && b.version === info.version && [BUILD_STATES.COMPLETE, BUILD_STATES.DELETED, BUILD_STATES.BUILDING].includes(b.state as 0 | 1 | 2))
    .sort((x, y) => y.id - x.id);
  if (candidates.length === 0) return String(incr);
  const release = candidates[0].release;
  if (/^\d+$/.test(release)) return String(Number(release) + incr);
  const m = /^(\d+)(\..*)$/.exec(release);
  if (m) return `${Number(m[1]) + incr}${m[2]}`;
  throw new HubFault(FaultCode.BuildError, `Unable to increment release value: ${release}`);
}

export const methods: Record<string, MethodSpec> = {
  echo: { params: [], varargs: true, fn: (_ctx, a) => a.args },
  getAPIVersion: { params: [], fn: () => 1 },
  getKojiVersion: { params: [], fn: () => HUB_VERSION },
  'system.listMethods': { params: [], fn: () => Object.keys(methods).sort() },
  _listapi: {
    params: [],
    fn: () => Object.entries(methods).map(([name, s]) => ({ name, argdesc: `(${s.params.map((p) => (s.defaults && p in s.defaults ? `${p}=${JSON.stringify(s.defaults[p])}` : p)).join(', ')})` })),
  },

  multiCall: {
    params: ['calls'],
    async fn(ctx, a) {
      if (!Array.isArray(a.calls)) throw new HubFault(FaultCode.ParameterError, 'multiCall: calls must be a list');
      const results: unknown[] = [];
      for (const call of a.calls as Args[]) {
        // A savepoint per call: a failing call leaves the others' changes in place.
        const saved = structuredClone(ctx.t);
        const changedBefore = ctx.changed;
        try {
          if (call.methodName === 'multiCall' || call.methodName === 'system.multicall') throw genericError('multicall not allowed in multicall');
          results.push([(await ctx.hub.dispatch(ctx, String(call.methodName), Array.isArray(call.params) ? call.params : [])) ?? null]);
        } catch (err) {
          for (const key of Object.keys(ctx.t)) delete (ctx.t as unknown as Args)[key];
          Object.assign(ctx.t, saved);
          ctx.changed = changedBefore;
          const fault = err instanceof HubFault ? err : new HubFault(FaultCode.Generic, `<class 'Exception'>: ${(err as Error).message}`);
          results.push({ faultCode: fault.faultCode, faultString: fault.message });
        }
      }
      return results;
    },
  },

  login: {
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

  logout: {
    params: ['session_id'],
    defaults: { session_id: null },
    fn(ctx, a) {
      if (!ctx.session) return null;
      let id = ctx.session.id;
      if (a.session_id !== null && a.session_id !== id) {
        assertAdmin(ctx);
        id = Number(a.session_id);
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
    params: ['userInfo', 'strict', 'krb_princs', 'groups'],
    defaults: { userInfo: null, strict: false, krb_princs: true, groups: false },
    fn(ctx, a) {
      const u = a.userInfo === null ? ctx.user : findUser(ctx.t, a.userInfo);
      if (!u) {
        if (a.strict) throw genericError(`No such user: ${String(a.userInfo)}`);
        return null;
      }
      return { id: u.id, name: u.name, status: u.status, usertype: u.usertype, krb_principals: u.krb_principals };
    },
  },

  getPerms: { params: [], fn: (ctx) => assertLogin(ctx).perms },

  grantCGAccess: {
    params: ['user', 'cg', 'create'],
    defaults: { create: false },
    fn(ctx, a) {
      assertAdmin(ctx);
      const user = findUser(ctx.t, a.user);
      if (!user) throw genericError(`No such user: ${String(a.user)}`);
      let cg = cgByName(ctx.t, a.cg);
      if (!cg) {
        if (!a.create) throw genericError(`No such entry in table content_generator: ${String(a.cg)}`);
        cg = ctx.t.cgs[a.cg] = { id: nextId(ctx.t, 'cgs'), name: a.cg, users: [] };
      }
      if (cg.users.includes(user.id)) throw genericError(`User already has access to content generator ${a.cg}`);
      cg.users.push(user.id);
      ctx.changed = true;
      return null;
    },
  },

  revokeCGAccess: {
    params: ['user', 'cg'],
    fn(ctx, a) {
      assertAdmin(ctx);
      const user = findUser(ctx.t, a.user);
      const cg = cgByName(ctx.t, a.cg);
      if (!user || !cg) throw genericError('No such user or content generator');
      cg.users = cg.users.filter((id) => id !== user.id);
      ctx.changed = true;
      return null;
    },
  },

  listCGs: {
    params: [],
    fn: (ctx) =>
      Object.fromEntries(Object.values(ctx.t.cgs).map((cg) => [cg.name, { id: cg.id, users: cg.users.map((id) => ctx.t.users[id]?.name) }])),
  },

  CGInitBuild: {
    params: ['cg', 'data'],
    fn(ctx, a) {
      assertCG(cgByName(ctx.t, a.cg), String(a.cg), ctx.user?.id ?? null);
      if (!a.data || typeof a.data !== 'object') throw genericError('Invalid build data');
      const cg = cgByName(ctx.t, a.cg)!;
      const build = reserveBuild(ctx, cg.id, a.data);
      const token = randomBytes(32).toString('hex');
      ctx.t.reservations[build.id] = { build_id: build.id, token, cg_id: cg.id, created: nowSeconds(ctx) };
      ctx.changed = true;
      return { build_id: build.id, token };
    },
  },

  CGRefundBuild: {
    params: ['cg', 'build_id', 'token', 'state'],
    defaults: { state: BUILD_STATES.FAILED },
    fn(ctx, a) {
      assertCG(cgByName(ctx.t, a.cg), String(a.cg), ctx.user?.id ?? null);
      const cg = cgByName(ctx.t, a.cg)!;
      const state = Number(a.state);
      if (state !== BUILD_STATES.FAILED && state !== BUILD_STATES.CANCELED) throw genericError('Only FAILED/CANCELLED states are allowed');
      const build = strictBuild(ctx.t, Number(a.build_id));
      checkRefund(state, build, ctx.t.reservations[build.id], String(a.token), cg.id);
      build.state = state;
      build.completion_time = nowSeconds(ctx);
      delete ctx.t.reservations[build.id];
      ctx.changed = true;
      return null;
    },
  },

  CGImport: { params: ['metadata', 'directory', 'token'], defaults: { token: null }, fn: cgImport },

  checkUpload: {
    params: ['path', 'name', 'verify', 'tail', 'volume'],
    defaults: { verify: null, tail: null, volume: null },
    async fn(ctx, a) {
      const user = assertLogin(ctx);
      const file = await ctx.hub.uploadPath(String(a.path), String(a.name), user.id, false);
      const st = await lstat(file).catch(() => undefined);
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
  // goes with it, so the NVR can be reserved again. False when the build is missing or not BUILDING.
  cancelBuild: {
    params: ['buildID'],
    fn(ctx, a) {
      const user = assertLogin(ctx);
      const build = findBuild(ctx.t, a.buildID);
      if (!build) return false;
      if (build.owner_id !== user.id && !user.perms.includes('admin')) throw new HubFault(FaultCode.ActionNotAllowed, 'Cannot cancel build, not owner');
      if (build.state !== BUILD_STATES.BUILDING) return false;
      build.state = BUILD_STATES.CANCELED;
      build.completion_time = nowSeconds(ctx);
      delete ctx.t.reservations[build.id];
      ctx.changed = true;
      return true;
    },
  },

  getBuild: {
    params: ['buildInfo', 'strict'],
    defaults: { strict: false },
    fn(ctx, a) {
      const b = a.strict ? strictBuild(ctx.t, a.buildInfo) : findBuild(ctx.t, a.buildInfo);
      return b ? buildInfo(ctx.t, b) : null;
    },
  },

  getBuildType: {
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

  getBuildLogs: {
    params: ['buildinfo'],
    async fn(ctx, a) {
      const b = strictBuild(ctx.t, a.buildinfo);
      const metadata = path.join(ctx.hub.packagesDir, b.name, b.version, b.release, 'metadata.json');
      const meta = JSON.parse(await readFile(metadata, 'utf8').catch(() => '{"output":[]}')) as { output: Args[] };
      return meta.output.filter((o) => o.type === 'log').map((o) => ({ name: o.filename, dir: o.subdir || '.', path: path.posix.join('packages', b.name, b.version, b.release, 'data/logs', o.subdir ?? '', o.filename) }));
    },
  },

  listArchives: {
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
      if (a.strict && rows.length === 0) throw genericError('No such archive');
      return rows.map((r) => archiveInfo(r, a.type === 'image'));
    },
  },

  getTaskInfo: {
    params: ['task_id', 'request', 'strict'],
    defaults: { request: false, strict: false },
    fn(ctx, a) {
      const ids: unknown[] = Array.isArray(a.task_id) ? a.task_id : [a.task_id];
      const rows = ids.map((id) => {
        const task = ctx.t.tasks[Number(id)];
        if (!task && a.strict) throw genericError(`No such task: ${String(id)}`);
        return task ? taskInfo(task, a.request === true) : null;
      });
      return Array.isArray(a.task_id) ? rows : rows[0];
    },
  },

  getBuildTarget: {
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
      const user = assertLogin(ctx);
      const tag = findTag(ctx.t, a.tag);
      if (!tag) throw genericError(`No such tagInfo: '${String(a.tag)}'`);
      const build = strictBuild(ctx.t, a.build);
      const nvr = `${build.name}-${build.version}-${build.release}`;
      if (build.state !== BUILD_STATES.COMPLETE) throw new HubFault(FaultCode.TagError, `build ${nvr} not complete: state ${BUILD_STATE_NAMES[build.state]}`);
      if (!tag.packages.includes(build.name) && !(a.force && user.perms.includes('admin'))) {
        throw new HubFault(FaultCode.TagError, `package ${build.name} not in list for tag ${tag.name}`);
      }
      const auto = ctx.hub.options.autoRunTagTasks !== false;
      const taskId = createTask(ctx.t, { method: 'tagBuild', owner: user.id, request: [tag.id, build.id, a.force, a.fromtag], state: auto ? TASK_STATES.CLOSED : TASK_STATES.FREE });
      if (auto) {
        if (!tag.builds.includes(build.id)) tag.builds.push(build.id);
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
      const tag = findTag(ctx.t, a.tag);
      if (!tag) throw genericError(`No such tagInfo: '${String(a.tag)}'`);
      return tag.builds
        .map((id) => ctx.t.builds[id])
        .filter((b) => b && (a.package === null || b.name === a.package))
        .map((b) => ({ ...buildInfo(ctx.t, b), tag_id: tag.id, tag_name: tag.name }));
    },
  },

  getNextRelease: {
    params: ['build_info', 'incr'],
    defaults: { incr: 1 },
    fn(ctx, a) {
      if (!a.build_info || typeof a.build_info !== 'object') throw genericError('build_info must be a map with name and version');
      return nextRelease(ctx.t, a.build_info, Number(a.incr));
    },
  },
};
methods['system.multicall'] = methods.multiCall;
