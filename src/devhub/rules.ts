/**
 * The Koji hub's rules that the dev hub enforces, in one place. This is the contract Kiln's
 * client is held to; each rule names the koji 1.35.3 function it comes from (see
 * reference/koji-hub.md) and keeps the hub's fault code and message so a caller sees what a
 * real hub would say. In order:
 *
 * - sessions: key, open, active user, expiry (AuthExpired), callnum (SequenceError, RetryError
 *   for a replayed committed call; the callnum is only stored when a call commits);
 * - arguments: positional + `__starstar` keyword args, arity (ParameterError);
 * - names: NVR rules (no '-' in version/release, name regex);
 * - CG access: cg_users per (user, CG);
 * - reservations: recycling FAILED/CANCELED NVRs, refund order (state, token, CG);
 * - uploads: file and directory names, directory owner (.user), existing target vs overwrite,
 *   upload length, verify types, file locks (LockError);
 * - archive types by file extension;
 * - CGImport: metadata version, one CG, build/reservation, buildroots, outputs (size,
 *   checksum, typeinfo, archive type), destination directory. Nothing changes unless all pass.
 */
import path from 'node:path';
import { ARCHIVE_TYPES, findArchiveType, type ArchiveType } from '../koji/archive-types.js';

/** The koji version the rules were read from; sent as the Koji-Version header. */
export const HUB_VERSION = '1.35.3';

export const FaultCode = {
  Generic: 1, // any non-koji exception (KeyError, FileNotFoundError, ...)
  GenericError: 1000,
  LockError: 1001,
  AuthError: 1002,
  TagError: 1003,
  ActionNotAllowed: 1004,
  BuildError: 1005,
  AuthLockError: 1006,
  AuthExpired: 1007,
  SequenceError: 1008,
  RetryError: 1009,
  ServerOffline: 1014,
  ApplianceError: 1018,
  ParameterError: 1019,
  ImportError: 1020,
} as const;

export class HubFault extends Error {
  /** ', '.join(str(a) for a in exc.args): what multiCall reports */
  readonly args: string;
  constructor(
    readonly faultCode: number,
    message: string,
    args?: string,
    /** the Python exception class */
    readonly pyClass = 'koji.GenericError',
  ) {
    super(message);
    this.args = args ?? message;
  }
}

export const genericError = (message: string) => new HubFault(FaultCode.GenericError, message);
/** What the hub answers when Python raises KeyError on a missing metadata key. */
export const keyError = (key: string) => new HubFault(FaultCode.Generic, `<class 'KeyError'>: '${key}'`, key, 'KeyError');
/** Any other Python exception that escapes a hub call: fault 1, "<class 'TypeError'>: …". */
export const pythonError = (cls: string, message: string) => new HubFault(FaultCode.Generic, `<class '${cls}'>: ${message}`, message, cls);

// ---------------------------------------------------------------- Python's view of XML-RPC values
// Fault texts quote values the way Python prints them (repr, str, type), so the dev hub does too.

/** type(value) as Python prints it, for a decoded XML-RPC value. */
export function pyType(value: unknown): string {
  const name =
    value === null || value === undefined ? 'NoneType'
    : typeof value === 'boolean' ? 'bool'
    : typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value)) ? 'int'
    : typeof value === 'number' ? 'float'
    : typeof value === 'string' ? 'str'
    : Buffer.isBuffer(value) ? 'bytes'
    : Array.isArray(value) ? 'list'
    : 'dict';
  return `<class '${name}'>`;
}

function pyStringRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = '';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return quote + out + quote;
}

/** repr(value) */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string') return pyStringRepr(value);
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  return `{${Object.entries(value as Record<string, unknown>).map(([k, v]) => `${pyStringRepr(k)}: ${pyRepr(v)}`).join(', ')}}`;
}

/** type(value).__name__ */
export const pyTypeName = (value: unknown): string => pyType(value).slice(8, -2);

/** bool(value) */
export function pyTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) return Object.keys(value).length > 0;
  return Boolean(value);
}

/** json.dumps(value) with Python's defaults: ", " and ": " separators, non-ASCII escaped */
export function pyJsonDumps(value: unknown): string {
  const text = (v: unknown): string => {
    if (v === null || v === undefined) return 'null';
    if (Array.isArray(v)) return `[${v.map(text).join(', ')}]`;
    if (typeof v === 'object' && !Buffer.isBuffer(v)) return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${text(k)}: ${text(x)}`).join(', ')}}`;
    if (typeof v === 'bigint') return String(v);
    return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  };
  return text(value);
}

/** str(value): like repr, except that a string is itself */
export const pyStr = (value: unknown): string => (typeof value === 'string' ? value : pyRepr(value));

/** convert_value(value, cast=int): Python's int() or a ParameterError. */
export function convertInt(value: unknown, message?: string, noneAllowed = false): number | null {
  if (value === null || value === undefined) {
    if (noneAllowed) return null;
    throw new HubFault(FaultCode.ParameterError, message ?? "Invalid type, expected type <class 'int'>");
  }
  const bad = () => new HubFault(FaultCode.ParameterError, message ?? `Invalid type for value '${pyStr(value)}': ${pyType(value)}, expected type <class 'int'>`);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return Number.isFinite(value) ? Math.trunc(value) : (() => { throw bad(); })();
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && /^\s*[-+]?\d+(_\d+)*\s*$/.test(value)) return Number(value.replace(/_/g, ''));
  throw bad();
}

/** convert_value(value, cast=str, check_only=True) */
export function checkStr(value: unknown): string {
  if (value === null || value === undefined) throw new HubFault(FaultCode.ParameterError, "Invalid type, expected type <class 'str'>");
  if (typeof value !== 'string') throw new HubFault(FaultCode.ParameterError, `Invalid type for value '${pyStr(value)}': ${pyType(value)}, expected type <class 'str'>`);
  return value;
}

// ---------------------------------------------------------------- permissions (kojihub/auth.py Session)

/** Session.assertLogin */
export function assertLoggedIn<U>(user: U | null): U {
  if (!user) throw new HubFault(FaultCode.ActionNotAllowed, 'you must be logged in for this operation');
  return user;
}

/** Session.assertPerm: the permission or admin. */
export function assertPerm<U extends { name: string; perms: string[] }>(user: U | null, perm: string): U {
  if (user && (user.perms.includes(perm) || user.perms.includes('admin'))) return user;
  throw new HubFault(FaultCode.ActionNotAllowed, `${perm} permission required (${user ? `logged in as ${user.name}` : 'user not logged in'})`);
}

export const BUILD_STATES = { BUILDING: 0, COMPLETE: 1, DELETED: 2, FAILED: 3, CANCELED: 4 } as const;
export const BUILD_STATE_NAMES = ['BUILDING', 'COMPLETE', 'DELETED', 'FAILED', 'CANCELED'];
export const TASK_STATES = { FREE: 0, OPEN: 1, CLOSED: 2, CANCELED: 3, ASSIGNED: 4, FAILED: 5 } as const;
/** koji.CHECKSUM_TYPES: what an archive row may store. */
export const ARCHIVE_CHECKSUM_TYPES: Record<string, number> = { md5: 0, sha1: 1, sha256: 2 };
/** get_verify_class: what uploads, checkUpload and CGImport can compute. */
export const VERIFY_TYPES = ['adler32', 'md5', 'sha256'] as const;
export type VerifyType = (typeof VERIFY_TYPES)[number];

export const BUILTIN_BTYPES = ['rpm', 'maven', 'win', 'image'];
const LEGACY_BTYPES = ['maven', 'win', 'image'];

/** Methods that may run on an expired session and skip callnum checks (kojixmlrpc get_registry). */
export const LOGIN_METHODS = new Set(['login', 'sslLogin', 'logout', 'subsession', 'logoutChild', 'exclusiveSession', 'sharedSession']);

// ---------------------------------------------------------------- sessions (kojihub/auth.py)

/** Session.__init__: the session must exist, match its key, be open, belong to an active user and (except for logins) be fresh. */
export function checkSession(
  session: { id: number; key: string; closed: boolean; renewed: number } | undefined,
  key: string,
  user: { name: string; status: number } | undefined,
  nowMs: number,
  lifetimeMs: number,
  method: string | null,
): void {
  if (!session || session.key !== key || session.closed) throw new HubFault(FaultCode.AuthError, 'Invalid session or bad credentials');
  if (!user || user.status !== 0) throw new HubFault(FaultCode.AuthError, `logins by ${user?.name ?? '(unknown user)'} are not allowed`);
  if (nowMs - session.renewed > lifetimeMs && !(method && LOGIN_METHODS.has(method))) {
    throw new HubFault(FaultCode.AuthExpired, `session "${session.id}" expired`);
  }
}

/** Session.__init__: callnum must grow; an equal callnum means the earlier call committed. */
export function checkCallnum(sessionId: number, method: string, lastcall: number | null, callnum: number): void {
  if (lastcall === null) return;
  if (lastcall > callnum) throw new HubFault(FaultCode.SequenceError, `${lastcall} > ${callnum} (session ${sessionId})`);
  if (lastcall === callnum) {
    throw new HubFault(FaultCode.RetryError, `unable to retry call ${callnum} (method ${method}) for session ${sessionId}`);
  }
}

// ---------------------------------------------------------------- arguments (decode_args, call_with_argcheck)

/**
 * Binds positional args and keyword args to a method's parameters the way Python does; a
 * mismatch is a ParameterError with Python's TypeError text. `py` is the Python function's
 * qualified name (a method of RootExports unless the hub exports a plain function).
 */
export function bindArgs(
  method: string,
  spec: { params: string[]; defaults?: Record<string, unknown>; varargs?: boolean; varkw?: boolean; py?: string },
  args: unknown[],
  kwargs: Record<string, unknown>,
): Record<string, unknown> {
  const qual = spec.py ?? `RootExports.${method}`;
  const self = qual.includes('.') ? 1 : 0;
  const fail = (text: string) => new HubFault(FaultCode.ParameterError, `${qual}() ${text}`);
  const required = spec.params.filter((p) => !(spec.defaults && p in spec.defaults));
  const bound: Record<string, unknown> = {};
  if (spec.varargs) {
    bound.args = args.slice(spec.params.length);
  } else if (args.length > spec.params.length) {
    const n = spec.params.length + self;
    const r = required.length + self;
    const given = args.length + self;
    const takes = r === n ? `${n} positional argument${n === 1 ? '' : 's'}` : `from ${r} to ${n} positional arguments`;
    throw fail(`takes ${takes} but ${given} ${given === 1 ? 'was' : 'were'} given`);
  }
  spec.params.forEach((p, i) => {
    if (i < args.length) bound[p] = args[i];
  });
  if (spec.varkw) bound.opts = {};
  for (const [k, v] of Object.entries(kwargs)) {
    if (!spec.params.includes(k)) {
      if (!spec.varkw) throw fail(`got an unexpected keyword argument '${k}'`);
      (bound.opts as Record<string, unknown>)[k] = v;
      continue;
    }
    if (k in bound) throw fail(`got multiple values for argument '${k}'`);
    bound[k] = v;
  }
  const missing = required.filter((p) => !(p in bound)).map((p) => `'${p}'`);
  if (missing.length) {
    const list = missing.length === 1 ? missing[0] : missing.length === 2 ? missing.join(' and ') : `${missing.slice(0, -1).join(', ')}, and ${missing.at(-1)}`;
    throw fail(`missing ${missing.length} required positional argument${missing.length === 1 ? '' : 's'}: ${list}`);
  }
  for (const p of spec.params) if (!(p in bound)) bound[p] = spec.defaults![p];
  return bound;
}

// ---------------------------------------------------------------- names (koji.check_NVR, verify_name_internal, lookup_name)

const NAME_RE = /^[A-Za-z0-9/_.+-]+$/;
/** MaxNameLengthInternal's default */
export const MAX_NAME_LENGTH = 256;

/** koji.check_NVR(data, strict=True) on a map: `'-' in data['version']`, then the release. */
export function checkNVR(data: Record<string, unknown>): void {
  for (const field of ['version', 'release'] as const) {
    if (!(field in data)) throw keyError(field);
    const value = data[field];
    let has: boolean;
    if (typeof value === 'string') has = value.includes('-');
    else if (Array.isArray(value)) has = value.includes('-');
    else if (isMap(value)) has = '-' in value;
    else throw pythonError('TypeError', `argument of type '${pyTypeName(value)}' is not iterable`);
    if (has) throw genericError(`The "-" character not allowed in ${field} field`);
  }
}

/** verify_name_internal: package (and other internal) names. */
export function verifyNameInternal(name: unknown): string {
  if (typeof name !== 'string') throw genericError('Name should be string');
  if ([...name].length > MAX_NAME_LENGTH) throw genericError(`Name ${name} is too long. Max length is ${MAX_NAME_LENGTH} characters`);
  if (!NAME_RE.test(name)) throw genericError(`Name ${name} does not match RegexNameInternal value`);
  return name;
}

/** lookup_name(table, info): by id (int), name (str) or a map with either; other types are a ParameterError. */
export function lookupName<R extends { id: number; name: string }>(rows: Iterable<R>, info: unknown): R | undefined {
  let key = info;
  if (isMap(info)) {
    if ('id' in info) key = convertInt(info.id, `Invalid name or id value: ${pyStr(info)}`);
    else if ('name' in info) key = info.name;
    else throw new HubFault(FaultCode.ParameterError, `Invalid name or id value: ${pyStr(info)}`);
  }
  if (typeof key === 'number' && Number.isInteger(key)) {
    for (const r of rows) if (r.id === key) return r;
    return undefined;
  }
  if (typeof key === 'string') {
    for (const r of rows) if (r.name === key) return r;
    return undefined;
  }
  throw new HubFault(FaultCode.ParameterError, `Invalid name or id value: ${pyStr(key)}`);
}

/** lookup_name(table, info, strict=True) */
export function lookupNameStrict<R extends { id: number; name: string }>(table: string, rows: Iterable<R>, info: unknown): R {
  const row = lookupName(rows, info);
  if (!row) throw genericError(`No such entry in table ${table}: ${pyStr(info)}`);
  return row;
}

// ---------------------------------------------------------------- CG access (assert_cg)

/** assert_cg: the CG must exist (checked first, even for an anonymous caller), then a login, then access. */
export function assertCG<C extends { id: number; name: string; users: number[] }>(cgs: Iterable<C>, info: unknown, user: { id: number } | null): C {
  const cg = lookupNameStrict('content_generator', cgs, info);
  if (!user) throw new HubFault(FaultCode.AuthError, 'Not logged-in');
  if (!cg.users.includes(user.id)) throw new HubFault(FaultCode.AuthError, `Content generator access required (${cg.name})`);
  return cg;
}

// ---------------------------------------------------------------- builds (find_build_id, new_build, recycle_build, cg_refund_build)

/** find_build_id's argument: an int id, an "N-V-R" string or a map with name, version and release. */
export function buildKey(info: unknown): { id: number } | { name: unknown; version: unknown; release: unknown } {
  if (typeof info === 'number' && Number.isInteger(info)) return { id: info };
  if (typeof info === 'boolean') return { id: info ? 1 : 0 };
  if (typeof info === 'string') {
    const nvr = parseNVR(info);
    return { name: nvr.name, version: nvr.version, release: nvr.release };
  }
  if (isMap(info)) {
    if (!('name' in info && 'version' in info && 'release' in info)) throw genericError('did not provide name, version, and release');
    return { name: info.name, version: info.version, release: info.release };
  }
  throw genericError(`Invalid type for argument: ${pyType(info)}`);
}

/** koji.parse_NVR */
export function parseNVR(nvr: string): { name: string; version: string; release: string; epoch: string } {
  const p2 = nvr.lastIndexOf('-');
  if (p2 === -1 || p2 === nvr.length - 1) throw genericError(`invalid format: ${nvr}`);
  const p1 = nvr.lastIndexOf('-', p2 - 1);
  if (p1 === -1 || p1 === p2 - 1 || p2 === 0) throw genericError(`invalid format: ${nvr}`);
  let name = nvr.slice(0, p1);
  let epoch = '';
  const colon = name.indexOf(':');
  if (colon !== -1) {
    epoch = name.slice(0, colon);
    name = name.slice(colon + 1);
  }
  return { name, version: nvr.slice(p1 + 1, p2), release: nvr.slice(p2 + 1), epoch };
}

/** get_build(info, strict=True)'s fault: an id is printed as is, an NVR or a map as Python's repr. */
export const noSuchBuild = (info: unknown) => genericError(`No such build: ${typeof info === 'number' ? String(info) : pyRepr(info)}`);

/**
 * recycle_build: may a new build (new_build's data) take over the existing build of its NVR?
 * 'reuse' is a BUILDING build of the same task (the controlling task starting again), left as
 * it is; 'recycle' a FAILED or CANCELED build without tags or archives, overwritten. Anything
 * else is the hub's fault; `dataRepr` is new_build's data as Python prints it.
 */
export function checkRecycle(
  old: { id: number; state: number; task_id: number | null },
  data: { state: number; task_id: number | null },
  history: { tagged: boolean; archives: boolean },
  dataRepr: () => string,
): 'reuse' | 'recycle' {
  if (old.state === BUILD_STATES.BUILDING) {
    if (data.state === old.state && data.task_id === old.task_id) return 'reuse';
    if (old.task_id === null) throw pythonError('TypeError', '%d format: a real number is required, not NoneType');
    throw genericError(`Build already in progress (task ${old.task_id})`);
  }
  if (old.state !== BUILD_STATES.FAILED && old.state !== BUILD_STATES.CANCELED) {
    throw genericError(`Build already exists (id=${old.id}, state=${BUILD_STATE_NAMES[old.state]}): ${dataRepr()}`);
  }
  if (history.tagged) throw genericError('Build already exists. Unable to recycle, has tag history');
  if (history.archives) throw genericError('Build already exists. Unable to recycle, has archive data');
  return 'recycle';
}

/** cg_refund_build checks the target state before anything else, the caller's CG access next. */
export function checkRefundState(state: unknown): void {
  if (state !== BUILD_STATES.FAILED && state !== BUILD_STATES.CANCELED) throw genericError('Only FAILED/CANCELED build states are allowed');
}

/** cg_refund_build, once the build is found: its state, the token, the owning CG. */
export function checkRefund(
  buildId: unknown,
  build: { state: number; cg_id: number | null },
  reservation: { token: string } | undefined,
  token: unknown,
  cgId: number,
): void {
  if (build.state !== BUILD_STATES.BUILDING) throw genericError(`Build ID ${pyStr(buildId)} is not in BUILDING state`);
  if (!reservation || reservation.token !== token) throw genericError(`Token doesn't match build ID ${pyStr(buildId)}`);
  if (build.cg_id !== cgId) throw genericError(`Build ID ${pyStr(buildId)} is not reserved by this CG`);
}

// ---------------------------------------------------------------- tasks (make_task, Task.getInfo)

/** The channels schema.sql creates, in its order (their ids). */
export const CHANNELS = ['default', 'createrepo', 'maven', 'livecd', 'appliance', 'vm', 'image', 'livemedia'] as const;
/** koji.PRIO_DEFAULT */
export const PRIO_DEFAULT = 20;

/** koji.parse_arches(arches, strict=True, allow_none=True) */
export function parseArches(arches: unknown): string {
  if (arches === null || arches === undefined) return '';
  let list: unknown[];
  if (Array.isArray(arches)) list = arches;
  else if (typeof arches === 'string') list = arches.split(/\s+/).filter(Boolean);
  else throw pythonError('AttributeError', `'${pyTypeName(arches)}' object has no attribute 'split'`);
  for (const arch of list) {
    if (typeof arch !== 'string') throw pythonError('TypeError', 'expected string or bytes-like object');
    if (!/^[a-zA-Z0-9_-]*$/.test(arch)) throw genericError('Architecture can be only [a-zA-Z0-9_-]');
  }
  return list.join(' ');
}

/** tuple(arglist), as make_task stores the request: a string is its characters, a map its keys. */
export function taskRequest(arglist: unknown): unknown[] {
  if (Array.isArray(arglist)) return arglist;
  if (typeof arglist === 'string') return [...arglist];
  if (isMap(arglist)) return Object.keys(arglist);
  throw pythonError('TypeError', `'${pyTypeName(arglist)}' object is not iterable`);
}

/** What the hub's database says to a build naming a task it does not have (build.task_id references task.id). */
export function taskForeignKeyError(taskId: number): HubFault {
  return pythonError(
    'psycopg2.errors.ForeignKeyViolation',
    `insert or update on table "build" violates foreign key constraint "build_task_id_fkey"\nDETAIL:  Key (task_id)=(${taskId}) is not present in table "task".\n`,
  );
}

// ---------------------------------------------------------------- uploads (get_upload_path, handle_upload)

/**
 * get_upload_path: checks the file name and directory; returns the directory relative to work/.
 * With `create` (uploads), `tasks/<n>/<task id>/…` is only for the host running that task: the
 * caller checks that for `taskId` (and skips the directory's `.user` owner check).
 */
export function uploadTarget(reldir: string, name: string, create = false): { dir: string; name: string; taskId?: number } {
  if (name.includes('/') || name.startsWith('.')) throw genericError(`Invalid upload filename: ${name}`);
  const norm = path.posix.normalize(reldir === '' ? '.' : reldir).replace(/(.)\/+$/, '$1');
  if (norm.startsWith('..')) throw genericError(`Invalid upload directory: ${reldir}`);
  // koji.util.joinpath refuses an absolute segment
  if (norm.startsWith('/')) throw pythonError('ValueError', `Invalid path segment: ${norm}`);
  const parts = norm.split('/');
  if (create && parts[0] === 'tasks') {
    if (parts.length < 3 || !/^\s*[-+]?\d+\s*$/.test(parts[2])) throw genericError(`Invalid task upload directory: ${reldir}`);
    return { dir: norm, name, taskId: Number(parts[2]) };
  }
  return { dir: norm, name };
}

/** The `.user` file written by the first upload into a directory names its owner. */
export function checkUploadOwner(reldir: string, ownerId: number | null, userId: number): void {
  if (ownerId !== null && ownerId !== userId) throw genericError(`Invalid upload directory, not owner: ${reldir}`);
}

/**
 * The owner id in a `.user` file, read as get_upload_path does (`int(open(u_fn).read())`). The
 * hub writes the file without a lock (create, then write), so a concurrent first upload into the
 * same directory can read it empty and fail with Python's ValueError.
 */
export function parseUploadOwner(text: string): number {
  if (!/^\s*[+-]?\d+\s*$/.test(text)) throw new HubFault(FaultCode.Generic, `<class 'ValueError'>: invalid literal for int() with base 10: '${text}'`);
  return Number(text);
}

export const lockError = () => new HubFault(FaultCode.LockError, '[Errno 11] Resource temporarily unavailable');

/** handle_upload: only a logged-in session may upload. */
export function assertUploadLogin(loggedIn: boolean): void {
  if (!loggedIn) throw new HubFault(FaultCode.ActionNotAllowed, 'you must be logged-in to upload a file');
}

/** handle_upload: an existing target must be a regular file (never a symlink), and offset 0 needs overwrite. */
export function checkUploadDestination(existing: { isFile(): boolean; isSymbolicLink(): boolean } | undefined, offset: number, overwrite: boolean, file: string): void {
  if (!existing) return;
  if (existing.isSymbolicLink()) throw genericError(`destination is a symlink: ${file}`);
  if (!existing.isFile()) throw genericError(`destination not a file: ${file}`);
  if (offset === 0 && !overwrite) throw genericError(`upload path exists: ${file}`);
}

/** handle_upload without overwrite: nothing may remain after the bytes just written. */
export function checkUploadLength(end: number, offset: number, size: number, file: string): void {
  if (end !== offset + size) throw genericError(`Incorrect upload length for ${file} - Expected ${offset + size}, actual ${end}`);
}

/** handle_upload's query string: filename (required), filepath, offset, overwrite, volume. fileverify is checked later (checkUploadVerify). */
export function parseUploadQuery(query: URLSearchParams): {
  filename: string;
  filepath: string;
  verify: string;
  offset: number;
  overwrite: boolean;
  volume: string;
} {
  const filename = query.get('filename');
  if (filename === null) throw keyError('filename');
  const offsetText = query.get('offset') ?? '0';
  if (!/^\s*[-+]?\d+\s*$/.test(offsetText)) throw pythonError('ValueError', `invalid literal for int() with base 10: '${offsetText}'`);
  const offset = Number(offsetText);
  const volume = query.get('volume') ?? 'DEFAULT';
  if (volume !== 'DEFAULT') throw genericError(`No such entry in table volume: ${volume}`);
  return { filename, filepath: query.get('filepath') ?? '', verify: query.get('fileverify') ?? '', offset, overwrite: !!query.get('overwrite'), volume };
}

/** get_verify_class: an empty fileverify makes the real hub call None(), a TypeError. */
export function checkUploadVerify(verify: string): VerifyType {
  if (!verify) throw pythonError('TypeError', "'NoneType' object is not callable");
  if (!(VERIFY_TYPES as readonly string[]).includes(verify)) throw genericError(`Unsupported verify type: ${verify}`);
  return verify as VerifyType;
}

/** os.lseek / os.ftruncate with an offset below -1 */
export function checkUploadOffset(offset: number): void {
  if (offset < -1) throw pythonError('OSError', '[Errno 22] Invalid argument');
}

// ---------------------------------------------------------------- archive types (get_archive_type, schema.sql)

export { ARCHIVE_TYPES };

/** get_archive_type(filename, strict=True): the longest dotted suffix that some archive type lists wins. */
export function archiveTypeFor(filename: string): ArchiveType {
  const t = findArchiveType(filename);
  if (!t) throw genericError(`unsupported file extension: ${filename}`);
  return t;
}

// ---------------------------------------------------------------- CGImport (CG_Importer)

type Json = Record<string, unknown>;

export function isMap(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/** obj[key], or the KeyError the hub answers with; `obj` that is no map is Python's TypeError. */
function need<T = unknown>(obj: unknown, key: string): T {
  if (Array.isArray(obj)) throw pythonError('TypeError', 'list indices must be integers or slices, not str');
  if (!isMap(obj)) throw pythonError('TypeError', `'${pyTypeName(obj)}' object is not subscriptable`);
  if (!(key in obj)) throw keyError(key);
  return obj[key] as T;
}

/** `for x in value` on a decoded XML-RPC value */
function iterate(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (isMap(value)) return Object.keys(value);
  if (typeof value === 'string') return [...value];
  throw pythonError('TypeError', `'${pyTypeName(value)}' object is not iterable`);
}

/** float(value) */
function pyFloat(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  if (typeof value === 'string') throw pythonError('ValueError', `could not convert string to float: ${pyRepr(value)}`);
  throw pythonError('TypeError', `float() argument must be a string or a real number, not '${pyTypeName(value)}'`);
}

/** Python's == for the scalar values metadata carries (1 == 1.0 == True) */
const pyKey = (v: unknown) => (typeof v === 'boolean' ? String(Number(v)) : typeof v === 'bigint' ? String(v) : JSON.stringify(v) ?? 'None');

/** koji.util.joinpath(workdir, a, b, …): each later part normalized; "..", "../x" or "/x" is a ValueError. */
export function hubJoin(base: string, ...parts: string[]): string {
  const norm = parts.map((p) => {
    const n = p === '' ? '.' : path.posix.normalize(p).replace(/(.)\/+$/, '$1');
    if (n === '..' || n.startsWith('../') || n.startsWith('/')) throw pythonError('ValueError', `Invalid path segment: ${p}`);
    return n;
  });
  return path.posix.join(base, ...norm).replace(/\/\.(?=\/)/g, '/.'); // keep "/./" as os.path.join does
}

export interface BuildRowLike {
  id: number;
  name: string;
  version: string;
  release: string;
  epoch: number | null;
  state: number;
  cg_id: number | null;
  task_id: number | null;
  draft: boolean;
}

/** What the import checks need to look up in the hub's tables and files. */
export interface ImportLookup {
  cgs: Iterable<{ id: number; name: string; users: number[] }>;
  user: { id: number } | null;
  /** get_build(info): by id, NVR string or map; throws the hub's faults for a bad argument */
  findBuild(info: unknown): BuildRowLike | undefined;
  reservation(buildId: number): { token: string } | undefined;
  userByName(name: string): { id: number } | undefined;
  btypeExists(name: string): boolean;
  /** archives with this file name and size: match_file's candidates */
  archivesByFile(filename: string, size: unknown): Array<{ id: number; checksum: string; checksum_type: number }>;
  archive(id: number): { id: number; build_id: number; filename: string; size: number; checksum: string; checksum_type: number } | undefined;
  /** absolute path of a file under the hub's work/ (for the hub's fault texts) */
  workPath(...parts: string[]): string;
  /** os.path.getsize (follows symlinks); undefined when missing */
  fileSize(absPath: string): Promise<number | undefined>;
  fileDigest(absPath: string, type: VerifyType): Promise<string>;
  /** packages/<n>/<v>/<r>, absolute */
  buildDir(name: string, version: string, release: string): string;
  exists(absPath: string): Promise<boolean>;
}

export interface PlannedOutput {
  /** absolute path of the uploaded file */
  hubPath: string;
  filename: string;
  type: string;
  subdir: string | null;
  filesize: unknown;
  checksum: string;
  checksum_type: string;
  buildroot: string;
  btype?: string;
  typeInfo?: unknown;
  extra: unknown;
  metadata_only: boolean;
}

export interface ImportPlan {
  cg: { id: number; name: string };
  build: {
    reservedId: number | null;
    name: string;
    version: string;
    release: string;
    epoch: number | null;
    source: string | null;
    start_time: number;
    end_time: number;
    owner: number | null;
    task_id: number | null;
    extra: Json;
    draft: boolean;
    btypes: string[];
  };
  buildroots: Array<{ key: string; cg_version: unknown; container: { type: unknown; arch: unknown }; host: { os: unknown; arch: unknown }; components: unknown[]; tools: unknown[]; extra: unknown }>;
  outputs: PlannedOutput[];
  /** what metadata.json in the build directory gets: the document as the caller sent it */
  rawMetadata: string;
  metadata: Json;
  /** CG_Importer.log lines so far (cg_import.log) */
  log: string[];
}

/** CGImport's metadata argument: a struct, a JSON string, nil (metadata.json) or a `.json` file in the upload dir. */
export async function parseImportMetadata(
  metadata: unknown,
  readUploaded: (name: string) => Promise<string | undefined>,
): Promise<{ metadata: unknown; raw: string }> {
  if (isMap(metadata)) return { metadata, raw: JSON.stringify(metadata, null, 2) };
  let value = metadata ?? 'metadata.json';
  value = checkStr(value);
  if ((value as string).endsWith('.json')) {
    const text = await readUploaded(value as string);
    if (text === undefined) throw genericError(`No such file: ${String(value)}`);
    value = text;
  }
  try {
    return { metadata: JSON.parse(value as string), raw: value as string };
  } catch {
    throw genericError(`Invalid json data: ${pyRepr(value)}`);
  }
}

/**
 * cg_import up to the point where it writes: CG_Importer's checks in its order (metadata
 * version, CG access, prep_build, prep_brs, prep_outputs, destination directory). What fails
 * later, while the hub writes (unknown task, archive type, image arch, files already there), is
 * the caller's to check in that order: see the dev hub's cgImport.
 */
export async function checkImport(parsed: unknown, raw: string, directory: string, token: unknown, db: ImportLookup): Promise<ImportPlan> {
  const log: string[] = [];
  const metadata = parsed as Json;
  // 1. metadata version
  const version = need(metadata, 'metadata_version');
  if (version !== 0) throw genericError(`No such metadata version: ${pyRepr(version)}`);

  // 2. assert_cg_access: one content generator, and the caller may use it
  let cgInfo: { id: number; name: string; users: number[] } | undefined;
  for (const br of iterate(need(metadata, 'buildroots'))) {
    const info = need<Json>(br, 'content_generator');
    const cg = lookupNameStrict('content_generator', db.cgs, need(info, 'name'));
    if (cgInfo && cgInfo.id !== cg.id) throw genericError('Koji now support only one content-generator per import');
    cgInfo ??= cg;
  }
  // assert_cg(None) when there are no buildroots
  const cg = assertCG(db.cgs, cgInfo ? cgInfo.id : null, db.user);

  // 3. prep_build
  const build = need<Json>(metadata, 'build');
  const buildGet = (key: string) => (isMap(build) ? build[key] : undefined);
  const taskFromMetadata = (): number | null => {
    let taskId: number | null = null;
    if ('task_id' in build) taskId = convertInt(build.task_id);
    const extra = 'extra' in build ? build.extra : {};
    if (!isMap(extra) && !Array.isArray(extra) && typeof extra !== 'string') {
      throw pythonError('TypeError', `argument of type '${pyTypeName(extra)}' is not iterable`);
    }
    if (isMap(extra) && 'container_koji_task_id' in extra) {
      const task2 = convertInt(extra.container_koji_task_id)!;
      if (taskId !== null && taskId !== task2) throw genericError(`CG provided non-matching task_id ${taskId} and container_koji_task_id ${task2}`);
      return task2;
    }
    return taskId;
  };
  let reservedId: number | null = null;
  if (pyTruthy(buildGet('build_id'))) {
    const buildId = build.build_id;
    const row = db.findBuild(buildId);
    if (!row) throw noSuchBuild(buildId);
    const reservation = db.reservation(row.id);
    const taskId = taskFromMetadata();
    if (!reservation || reservation.token !== token) throw genericError(`Token doesn't match build ID ${pyStr(buildId)}`);
    if (row.cg_id !== cg.id) throw genericError(`Build ID ${pyStr(buildId)} is not reserved by this CG`);
    if (row.task_id && row.task_id !== taskId) throw genericError(`Build is owned by task ${row.task_id}`);
    if (row.state !== BUILD_STATES.BUILDING) throw genericError(`Build ID ${pyStr(buildId)} is not in BUILDING state`);
    if (row.draft !== ('draft' in build ? build.draft : false)) throw genericError(`Draft field does not match reservation (build id = ${pyStr(buildId)})`);
    if (row.name !== need(build, 'name') || row.version !== need(build, 'version') || row.release !== need(build, 'release')) {
      throw genericError(`Build (${row.id}) NVR is different`);
    }
    if ('epoch' in build && row.epoch !== build.epoch) throw genericError(`Build (${row.id}) epoch is different`);
    reservedId = row.id;
  } else if (token !== null && token !== undefined) {
    throw genericError('Reservation token given, but no build_id in metadata');
  } else {
    const existing = db.findBuild(build);
    if (existing && existing.state !== BUILD_STATES.CANCELED && existing.state !== BUILD_STATES.FAILED) {
      throw genericError(`Build already exists: ${existing.name}-${existing.version}-${existing.release} (id=${existing.id})`);
    }
  }
  // dslice(metadata['build'], ['name', 'version', 'release', 'extra', 'source'])
  for (const key of ['name', 'version', 'release', 'extra', 'source']) need(build, key);
  const epoch = 'epoch' in build ? (build.epoch as number | null) : null;
  const draft = 'draft' in build ? build.draft === true : false;
  const startTime = pyFloat(need(build, 'start_time'));
  const endTime = pyFloat(need(build, 'end_time'));
  const taskId = taskFromMetadata();
  let owner: number | null = null;
  if (pyTruthy(build.owner)) {
    if (typeof build.owner !== 'string') throw genericError(`Invalid owner format (expected username): ${pyStr(build.owner)}`);
    const user = db.userByName(build.owner);
    if (!user) throw genericError(`No such user: ${pyRepr(build.owner)}`);
    owner = user.id;
  }
  checkNVR(build);
  if (build.extra === null) throw pythonError('AttributeError', "'NoneType' object has no attribute 'setdefault'");
  const extra = structuredClone(build.extra) as Json;
  if (!isMap(extra)) throw pythonError('AttributeError', `'${pyTypeName(extra)}' object has no attribute 'setdefault'`);
  if (!('typeinfo' in extra)) extra.typeinfo = {};
  const typeinfo = extra.typeinfo as Json;
  if (!isMap(typeinfo)) throw pythonError('TypeError', `argument of type '${pyTypeName(typeinfo)}' is not iterable`);
  for (const legacy of LEGACY_BTYPES) {
    if (!(legacy in extra)) continue;
    if (legacy in typeinfo) throw genericError(`Duplicate typeinfo for ${pyRepr(legacy)}`);
    typeinfo[legacy] = extra[legacy];
  }
  const btypes = iterate(typeinfo) as string[];
  for (const bt of btypes) if (!db.btypeExists(bt)) throw genericError(`No such entry in table btype: ${bt}`);

  // 4. prep_brs
  const used = new Set(iterate(need(metadata, 'output')).map((o) => pyKey(need(o, 'buildroot_id'))));
  const plannedBrs: ImportPlan['buildroots'] = [];
  const brKeys = new Set<string>();
  for (const br of iterate(metadata.buildroots) as Json[]) {
    const id = need(br, 'id');
    const key = pyKey(id);
    if (!used.has(key)) throw genericError(`Buildroot id not used in output: ${pyRepr(id)}`);
    if (brKeys.has(key)) throw genericError(`Duplicate buildroot id in metadata: ${pyRepr(id)}`);
    brKeys.add(key);
    const cgVersion = need(need(br, 'content_generator'), 'version');
    const container = need(br, 'container');
    const host = need(br, 'host');
    const planned = {
      key,
      cg_version: cgVersion,
      container: { type: need(container, 'type'), arch: need(container, 'arch') },
      host: { os: need(host, 'os'), arch: need(host, 'arch') },
      extra: br.extra ?? null,
      components: [] as unknown[],
      tools: [] as unknown[],
    };
    planned.components = matchComponents(need(br, 'components'), db, log);
    planned.tools = iterate(need(br, 'tools'));
    plannedBrs.push(planned);
  }

  // 5. prep_outputs
  const outputs: PlannedOutput[] = [];
  for (const raw of iterate(metadata.output) as Json[]) {
    const fileinfo = raw;
    const metadataOnly = isMap(fileinfo) && fileinfo.metadata_only === true;
    const filename = need<string>(fileinfo, 'filename');
    const hubPath = db.workPath(directory, typeof fileinfo.relpath === 'string' ? fileinfo.relpath : '', String(filename));
    const size = await db.fileSize(hubPath);
    if (size === undefined) throw pythonError('FileNotFoundError', `[Errno 2] No such file or directory: '${hubPath}'`);
    const expected = need(fileinfo, 'filesize');
    if (size !== expected) throw genericError(`File size ${size} for ${pyStr(filename)} (expected ${pyStr(expected)}) doesn't match. Corrupted upload?`);
    const checksumType = need(fileinfo, 'checksum_type');
    if (!checksumType || !(VERIFY_TYPES as readonly unknown[]).includes(checksumType)) {
      if (!checksumType) throw pythonError('TypeError', "'NoneType' object is not callable");
      throw genericError(`Unsupported verify type: ${pyStr(checksumType)}`);
    }
    const actual = await db.fileDigest(hubPath, checksumType as VerifyType);
    const given = need(fileinfo, 'checksum');
    if (given !== actual) throw genericError(`File checksum mismatch for ${pyStr(filename)}: ${pyStr(given)} != ${actual}`);
    const brId = need(fileinfo, 'buildroot_id');
    if (!brKeys.has(pyKey(brId))) throw genericError(`Missing buildroot metadata for id ${pyRepr(brId)}`);
    const type = need<string>(fileinfo, 'type');
    const subdir = typeof fileinfo.subdir === 'string' && fileinfo.subdir ? fileinfo.subdir : null;
    const out: PlannedOutput = {
      hubPath, filename: String(filename), type: String(type), subdir, filesize: expected, checksum: String(given),
      checksum_type: String(checksumType), buildroot: pyKey(brId), extra: fileinfo.extra, metadata_only: metadataOnly,
    };
    if (type !== 'rpm' && type !== 'log') prepArchive(fileinfo, out, btypes, db, log);
    if (type === 'rpm') {
      if (fileinfo.subdir) throw genericError('subdir field not allowed for rpm outputs');
      checkNVRA(String(filename));
    }
    outputs.push(out);
  }

  // 6. cg_import policy (allow), volume (DEFAULT), then the destination must be new
  const name = String(build.name);
  const buildVersion = String(build.version);
  const release = String(build.release);
  const dest = db.buildDir(name, buildVersion, release);
  if (await db.exists(dest)) throw genericError(`Destination directory already exists: ${dest}`);

  return {
    cg: { id: cg.id, name: cg.name },
    build: {
      reservedId, name, version: buildVersion, release, epoch, source: typeof build.source === 'string' ? build.source : null,
      start_time: startTime, end_time: endTime, owner, task_id: taskId, extra, draft, btypes,
    },
    buildroots: plannedBrs,
    outputs,
    rawMetadata: raw,
    metadata,
    log,
  };
}

/** prep_archive: the output's btype (legacy key in extra, or extra.typeinfo) and its components. */
function prepArchive(fileinfo: Json, out: PlannedOutput, btypes: string[], db: ImportLookup, log: string[]): void {
  const extra = 'extra' in fileinfo ? fileinfo.extra : {};
  let btype: string | undefined;
  let typeInfo: unknown;
  for (const key of iterate(extra) as string[]) {
    if (!LEGACY_BTYPES.includes(key)) continue;
    if (btype !== undefined) throw genericError(`Output file has multiple types: ${out.filename}`);
    btype = key;
    typeInfo = (extra as Json)[key];
    if (fileinfo.subdir) throw genericError('subdir field not allowed for legacy btypes');
  }
  const typeinfo = isMap(extra) && 'typeinfo' in extra ? extra.typeinfo : {};
  for (const key of iterate(typeinfo) as string[]) {
    if (btype === key) throw genericError(`Duplicate typeinfo for: ${pyRepr(btype)}`);
    if (btype !== undefined) throw genericError(`Output file has multiple types: ${out.filename}`);
    btype = key;
    typeInfo = (typeinfo as Json)[key];
  }
  if (btype === undefined) throw genericError(`No typeinfo for: ${out.filename}`);
  if (!btypes.includes(btype)) throw genericError(`Output type ${btype} not listed in build types`);
  out.btype = btype;
  out.typeInfo = typeInfo;
  if ('components' in fileinfo) {
    if (btype === 'maven' || btype === 'win') throw genericError(`Component list not allowed for archives of type ${btype}`);
    matchComponents(fileinfo.components, db, log);
  }
}

/**
 * match_components: rpm, file and kojifile components are looked up; those the hub does not
 * have are dropped, each with a line in cg_import.log (the dev hub has no RPMs, so every rpm
 * component is dropped). Returns the components kept.
 */
function matchComponents(components: unknown, db: ImportLookup, log: string[]): unknown[] {
  const kept: unknown[] = [];
  for (const comp of iterate(components) as Json[]) {
    const type = need(comp, 'type');
    if (type === 'rpm') {
      if ('location' in comp) throw genericError('External rpms not allowed');
      if ('id' in comp) throw genericError("Unexpected 'id' field in component");
      log.push(`IGNORING unmatched rpm component: ${pyRepr(comp)}`);
    } else if (type === 'file') {
      let mismatches = 0;
      let found: unknown;
      for (const archive of db.archivesByFile(String(need(comp, 'filename')), need(comp, 'filesize'))) {
        const ct = comp.checksum_type;
        if (typeof ct !== 'string' || !(ct in ARCHIVE_CHECKSUM_TYPES)) throw keyError(String(ct));
        if (archive.checksum_type !== ARCHIVE_CHECKSUM_TYPES[ct]) {
          mismatches++;
          continue;
        }
        if (archive.checksum === comp.checksum) {
          found = archive;
          break;
        }
      }
      if (found) {
        kept.push(found);
        continue;
      }
      log.push(`Failed to match archive ${pyStr(comp.filename)} (size ${pyStr(comp.filesize)}, sum ${pyStr(need(comp, 'checksum'))}`);
      if (mismatches) log.push(`Match failed with ${mismatches} type mismatches`);
      log.push(`IGNORING unmatched archive: ${pyRepr(comp)}`);
    } else if (type === 'kojifile') {
      const archiveId = need(comp, 'archive_id');
      const archive = db.archive(convertInt(archiveId)!);
      if (!archive) throw genericError(`No such archive: ${pyStr(archiveId)}`);
      const owner = db.findBuild(archive.build_id)!;
      for (const key of ['nvr', 'filename']) {
        if (!(key in comp)) throw genericError(`${key} field missing for component, archive_id=${archive.id}`);
      }
      const checksumName = Object.entries(ARCHIVE_CHECKSUM_TYPES).find(([, v]) => v === archive.checksum_type)?.[0];
      const expected: Json = {
        nvr: `${owner.name}-${owner.version}-${owner.release}`, filename: archive.filename, filesize: archive.size,
        checksum: archive.checksum, checksum_type: checksumName,
      };
      for (const [key, value] of Object.entries(expected)) {
        if (key in comp && comp[key] !== value) {
          throw genericError(`Component field ${key} does not match for archive_id=${archive.id}: ${pyStr(value)} != ${pyStr(comp[key])}`);
        }
      }
      kept.push(archive);
    } else {
      throw genericError(`No such component type: ${pyStr(type)}`);
    }
  }
  return kept;
}

/** koji.check_NVRA(filename, strict=True) on an rpm output's file name */
function checkNVRA(filename: string): void {
  let nvra = filename.split('@')[0];
  if (nvra.endsWith('.rpm')) nvra = nvra.slice(0, -4);
  const dot = nvra.lastIndexOf('.');
  if (dot === -1 || dot === nvra.length - 1) throw genericError(`invalid format: ${nvra}`);
  const nvr = parseNVR(nvra.slice(0, dot));
  if (nvr.version.includes('-')) throw genericError('The "-" character not allowed in version field');
  if (nvr.release.includes('-')) throw genericError('The "-" character not allowed in release field');
}
