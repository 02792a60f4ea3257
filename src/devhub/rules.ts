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
  AuthExpired: 1007,
  SequenceError: 1008,
  RetryError: 1009,
  ServerOffline: 1014,
  ParameterError: 1019,
  ImportError: 1020,
} as const;

export class HubFault extends Error {
  constructor(
    readonly faultCode: number,
    message: string,
  ) {
    super(message);
  }
}

export const genericError = (message: string) => new HubFault(FaultCode.GenericError, message);
/** What the hub answers when Python raises KeyError on a missing metadata key. */
export const keyError = (key: string) => new HubFault(FaultCode.Generic, `<class 'KeyError'>: '${key}'`);

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

/** Binds positional args and keyword args to a method's parameters; wrong arity is a ParameterError. */
export function bindArgs(
  method: string,
  spec: { params: string[]; defaults?: Record<string, unknown>; varargs?: boolean },
  args: unknown[],
  kwargs: Record<string, unknown>,
): Record<string, unknown> {
  const bound: Record<string, unknown> = {};
  if (spec.varargs) {
    bound.args = args;
  } else {
    if (args.length > spec.params.length) {
      throw new HubFault(FaultCode.ParameterError, `${method}() takes at most ${spec.params.length} arguments (${args.length} given)`);
    }
    spec.params.forEach((p, i) => {
      if (i < args.length) bound[p] = args[i];
    });
  }
  for (const [k, v] of Object.entries(kwargs)) {
    if (!spec.params.includes(k)) throw new HubFault(FaultCode.ParameterError, `${method}() got an unexpected keyword argument '${k}'`);
    if (k in bound) throw new HubFault(FaultCode.ParameterError, `${method}() got multiple values for argument '${k}'`);
    bound[k] = v;
  }
  for (const p of spec.params) {
    if (p in bound) continue;
    if (spec.defaults && p in spec.defaults) bound[p] = spec.defaults[p];
    else if (!spec.varargs) throw new HubFault(FaultCode.ParameterError, `${method}() missing required argument '${p}'`);
  }
  return bound;
}

// ---------------------------------------------------------------- names (koji.check_NVR, RegexNameInternal)

const NAME_RE = /^[A-Za-z0-9/_.+-]+$/;

export function checkNVR(data: { name?: unknown; version?: unknown; release?: unknown }): void {
  for (const field of ['version', 'release'] as const) {
    const value = data[field];
    if (value === undefined || value === null) throw genericError(`No ${field} value for build`);
    if (typeof value !== 'string' || value === '') throw genericError(`Invalid ${field} value: ${String(value)}`);
    if (value.includes('-')) throw genericError(`The "-" character not allowed in ${field} field`);
  }
  if (data.name === undefined) throw keyError('name');
  if (typeof data.name !== 'string' || !NAME_RE.test(data.name)) {
    throw genericError(`Name ${String(data.name)} does not match RegexNameInternal value ${NAME_RE.source}`);
  }
}

// ---------------------------------------------------------------- CG access (assert_cg)

export function assertCG(cg: { name: string; users: number[] } | undefined, cgName: string, userId: number | null): void {
  if (userId === null) throw new HubFault(FaultCode.AuthError, 'Not logged-in');
  if (!cg) throw genericError(`No such entry in table content_generator: ${cgName}`);
  if (!cg.users.includes(userId)) throw new HubFault(FaultCode.AuthError, `Content generator access required (${cgName})`);
}

// ---------------------------------------------------------------- reservations (cg_init_build, new_build, cg_refund_build)

/** new_build(strict=False): an NVR in use may be recycled only when FAILED or CANCELED and not reserved. */
export function checkReservable(existing: { id: number; name: string; version: string; release: string; state: number } | undefined, reserved: boolean): void {
  if (!existing) return;
  if (existing.state !== BUILD_STATES.FAILED && existing.state !== BUILD_STATES.CANCELED) {
    throw genericError(`Build already exists (id=${existing.id}, state=${BUILD_STATE_NAMES[existing.state]}): ${existing.name}-${existing.version}-${existing.release}`);
  }
  if (reserved) throw genericError('Build is already reserved');
}

/** cg_refund_build, in the hub's order: target state, build state, token, owning CG. */
export function checkRefund(
  state: number,
  build: { id: number; state: number; cg_id: number | null },
  reservation: { token: string } | undefined,
  token: string,
  cgId: number,
): void {
  if (state !== BUILD_STATES.FAILED && state !== BUILD_STATES.CANCELED) throw genericError('Only FAILED/CANCELLED states are allowed');
  if (build.state !== BUILD_STATES.BUILDING) throw genericError(`Build ID ${build.id} isn't in BUILDING state`);
  if (!reservation || reservation.token !== token) throw genericError(`Token doesn't match build ID ${build.id}`);
  if (build.cg_id !== cgId) throw genericError(`Build ID ${build.id} is not reserved by this CG`);
}

// ---------------------------------------------------------------- uploads (get_upload_path, handle_upload)

/** Resolves filepath/filename the way get_upload_path does; returns the directory relative to work/. */
export function uploadTarget(reldir: string, name: string): { dir: string; name: string } {
  if (name.includes('/') || name.startsWith('.') || name === '') throw genericError(`Invalid upload filename: ${name}`);
  // os.path.normpath; an absolute path would escape work/ on the real hub too (join drops the prefix): refuse it.
  const norm = reldir === '' ? '' : path.posix.normalize(reldir).replace(/\/+$/, '');
  if (!norm || norm === '.' || norm.startsWith('..') || norm.startsWith('/')) throw genericError(`Invalid upload directory: ${reldir}`);
  if (norm === 'tasks' || norm.startsWith('tasks/')) throw genericError(`Invalid upload directory, reserved for builder hosts: ${reldir}`);
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
  if (!loggedIn) throw new HubFault(FaultCode.ActionNotAllowed, 'you must be logged-in to upload');
}

/** handle_upload: an existing target must be a regular file, and offset 0 needs overwrite. */
export function checkUploadDestination(existing: { isFile(): boolean } | undefined, offset: number, overwrite: boolean, file: string): void {
  if (!existing) return;
  if (!existing.isFile()) throw genericError(`destination not a file: ${file}`);
  if (offset === 0 && !overwrite) throw genericError(`upload path exists: ${file}`);
}

/** handle_upload without overwrite: nothing may remain after the bytes just written. */
export function checkUploadLength(end: number, offset: number, size: number, file: string): void {
  if (end !== offset + size) throw genericError(`Incorrect upload length for ${file} - expected ${offset + size}, got ${end}`);
}

export function parseUploadQuery(query: URLSearchParams): {
  filename: string;
  filepath: string;
  verify: VerifyType;
  offset: number;
  overwrite: boolean;
  volume: string;
} {
  const filename = query.get('filename');
  if (filename === null) throw keyError('filename');
  const verify = query.get('fileverify') ?? '';
  // An empty fileverify makes the real hub call None(): a TypeError.
  if (!verify) throw new HubFault(FaultCode.Generic, "<class 'TypeError'>: 'NoneType' object is not callable");
  if (!(VERIFY_TYPES as readonly string[]).includes(verify)) throw genericError(`Unsupported verify type: ${verify}`);
  const offsetText = query.get('offset') ?? '0';
  if (!/^-?\d+$/.test(offsetText)) throw new HubFault(FaultCode.Generic, `<class 'ValueError'>: invalid literal for int() with base 10: '${offsetText}'`);
  const offset = Number(offsetText);
  if (offset < -1) throw genericError(`Invalid upload offset: ${offset}`);
  const volume = query.get('volume') ?? 'DEFAULT';
  if (volume !== 'DEFAULT') throw genericError(`No such entry in table volume: ${volume}`);
  return { filename, filepath: query.get('filepath') ?? '', verify: verify as VerifyType, offset, overwrite: !!query.get('overwrite'), volume };
}

// ---------------------------------------------------------------- archive types (get_archive_type, schema.sql)

export { ARCHIVE_TYPES };

/** The longest dotted suffix that some archive type lists wins; no match is a GenericError. */
export function archiveTypeFor(filename: string): ArchiveType {
  const t = findArchiveType(filename);
  if (!t) throw genericError(`unsupported file extension: ${filename}`);
  return t;
}

// ---------------------------------------------------------------- CGImport (CG_Importer)

type Json = Record<string, unknown>;

const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function need<T = unknown>(obj: Json, key: string): T {
  if (!(key in obj)) throw keyError(key);
  return obj[key] as T;
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

/** What the import checks need to look up in the hub's tables. */
export interface ImportLookup {
  cgByName(name: string): { id: number; name: string; users: number[] } | undefined;
  userId: number | null;
  buildById(id: number): BuildRowLike | undefined;
  buildByNVR(name: string, version: string, release: string): BuildRowLike | undefined;
  reservation(buildId: number): { token: string; cg_id: number } | undefined;
  userByName(name: string): { id: number } | undefined;
  btypeExists(name: string): boolean;
  /** Size of the uploaded file, or undefined when missing / not a regular file. */
  fileSize(relpath: string): Promise<number | undefined>;
  fileDigest(relpath: string, type: VerifyType): Promise<string>;
  buildDirExists(name: string, version: string, release: string): Promise<boolean>;
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
  buildroots: Array<{ key: string; cg_version: string; container: { type: string; arch: string }; host: { os: string; arch: string }; components: Json[]; tools: Json[]; extra: Json | null }>;
  outputs: Array<{
    relpath: string;
    filename: string;
    subdir: string;
    filesize: number;
    checksum: string;
    checksum_type: string;
    buildroot: string;
    kind: 'log' | 'archive';
    btype?: string;
    archiveType?: ArchiveType;
    imageArch?: string;
    extra: Json | null;
    metadata_only: boolean;
  }>;
  metadata: Json;
}

/** CGImport's metadata argument: a struct, a JSON string, nil (metadata.json) or a `.json` file in the upload dir. */
export async function parseImportMetadata(metadata: unknown, readUploaded: (name: string) => Promise<string | undefined>): Promise<Json> {
  let value = metadata ?? 'metadata.json';
  if (typeof value === 'string') {
    if (value.endsWith('.json')) {
      const text = await readUploaded(value);
      if (text === undefined) throw genericError(`No such file: ${value}`);
      value = text;
    }
    try {
      value = JSON.parse(value as string);
    } catch (err) {
      throw genericError(`Invalid json data: ${(err as Error).message}`);
    }
  }
  if (!isMap(value)) throw genericError('Invalid metadata: not a map');
  return value;
}

/** The checks of cg_import, in the hub's order; nothing is changed until all of them pass. */
export async function checkImport(metadata: Json, token: string | null, db: ImportLookup): Promise<ImportPlan> {
  // 1. metadata version
  const version = need(metadata, 'metadata_version');
  if (version !== 0) throw genericError(`No such metadata version: ${String(version)}`);
  const buildroots = need<unknown[]>(metadata, 'buildroots');
  const outputs = need<unknown[]>(metadata, 'output');
  const build = need<Json>(metadata, 'build');
  if (!Array.isArray(buildroots) || !Array.isArray(outputs) || !isMap(build)) throw genericError('Invalid metadata: build must be a map, buildroots and output lists');

  // 2. one content generator, and the caller may use it
  const cgNames = new Set<string>();
  for (const br of buildroots) {
    if (!isMap(br)) throw genericError('Invalid buildroot entry');
    cgNames.add(String(need(need<Json>(br, 'content_generator'), 'name')));
  }
  for (const name of cgNames) if (!db.cgByName(name)) throw genericError(`No such entry in table content_generator: ${name}`);
  if (cgNames.size > 1) throw genericError('Koji now support only one content-generator per import');
  const cgName = [...cgNames][0];
  if (cgName !== undefined) assertCG(db.cgByName(cgName), cgName, db.userId);
  const cg = cgName === undefined ? undefined : db.cgByName(cgName)!;

  // 3. build (prep_build)
  const extra: Json = isMap(build.extra) ? structuredClone(build.extra) : {};
  const typeinfo: Json = isMap(extra.typeinfo) ? (extra.typeinfo as Json) : {};
  for (const legacy of LEGACY_BTYPES) {
    if (legacy in extra) {
      if (legacy in typeinfo) throw genericError(`Duplicate typeinfo for: ${legacy}`);
      typeinfo[legacy] = extra[legacy];
      delete extra[legacy];
    }
  }
  extra.typeinfo = typeinfo;
  const btypes = Object.keys(typeinfo);
  for (const bt of btypes) if (!db.btypeExists(bt)) throw genericError(`No such entry in table btype: ${bt}`);

  const name = need<string>(build, 'name');
  const buildVersion = need<string>(build, 'version');
  const release = need<string>(build, 'release');
  checkNVR({ name, version: buildVersion, release });
  const startTime = Number(need(build, 'start_time'));
  const endTime = Number(need(build, 'end_time'));
  if (!Number.isFinite(startTime) || !Number.isFinite(endTime)) throw new HubFault(FaultCode.Generic, "<class 'ValueError'>: could not convert string to float");
  let taskId: number | null = build.task_id === undefined || build.task_id === null ? null : Number(build.task_id);
  const containerTask = isMap(build.extra) ? (build.extra as Json).container_koji_task_id : undefined;
  if (containerTask !== undefined && containerTask !== null) {
    if (taskId !== null && taskId !== Number(containerTask)) throw genericError(`Task id mismatch: ${taskId} != ${String(containerTask)}`);
    taskId = Number(containerTask);
  }
  let owner: number | null = null;
  if (build.owner !== undefined && build.owner !== null) {
    if (typeof build.owner !== 'string') throw genericError(`Invalid owner format (expected username): ${String(build.owner)}`);
    const user = db.userByName(build.owner);
    if (!user) throw genericError(`No such user: ${build.owner}`);
    owner = user.id;
  }
  const epoch = build.epoch === undefined || build.epoch === null ? null : Number(build.epoch);
  const draft = build.draft === true;

  let reservedId: number | null = null;
  if (build.build_id !== undefined && build.build_id !== null) {
    const buildId = Number(build.build_id);
    const reservation = db.reservation(buildId);
    if (!reservation || reservation.token !== token) throw genericError(`Token doesn't match build ID ${buildId}`);
    const row = db.buildById(buildId);
    if (!row) throw genericError(`No such build: ${buildId}`);
    if (!cg || row.cg_id !== cg.id) throw genericError(`Build ID ${buildId} is not reserved by this CG`);
    if (row.task_id !== null && taskId !== null && row.task_id !== taskId) throw genericError(`Build ID ${buildId} has a different task ID`);
    if (row.state !== BUILD_STATES.BUILDING) throw genericError(`Build ID ${buildId} is not in BUILDING state`);
    if (row.draft !== draft) throw genericError(`Build ID ${buildId} draft flag differs`);
    if (row.name !== name || row.version !== buildVersion || row.release !== release) throw genericError(`Build (${buildId}) NVR is different`);
    if (epoch !== null && row.epoch !== epoch) throw genericError(`Build (${buildId}) epoch is different`);
    reservedId = buildId;
  } else {
    if (token) throw genericError('Reservation token given, but no build_id in metadata');
    const existing = db.buildByNVR(name, buildVersion, release);
    if (existing && existing.state !== BUILD_STATES.FAILED && existing.state !== BUILD_STATES.CANCELED) {
      throw genericError(`Build already exists: ${name}-${buildVersion}-${release} (id=${existing.id})`);
    }
  }

  // 4. buildroots (prep_brs)
  const plannedBrs: ImportPlan['buildroots'] = [];
  const brKeys = new Set<string>();
  for (const raw of buildroots as Json[]) {
    const key = JSON.stringify(need(raw, 'id'));
    if (brKeys.has(key)) throw genericError(`Duplicate buildroot id in metadata: ${key}`);
    brKeys.add(key);
    const cgInfo = need<Json>(raw, 'content_generator');
    const container = need<Json>(raw, 'container');
    const host = need<Json>(raw, 'host');
    const components = need<Json[]>(raw, 'components');
    const tools = need<Json[]>(raw, 'tools');
    checkComponents(components);
    plannedBrs.push({
      key,
      cg_version: String(need(cgInfo, 'version')),
      container: { type: String(need(container, 'type')), arch: String(need(container, 'arch')) },
      host: { os: String(need(host, 'os')), arch: String(need(host, 'arch')) },
      components,
      tools: tools.map((t) => ({ name: need(t, 'name'), version: need(t, 'version') })),
      extra: isMap(raw.extra) ? raw.extra : null,
    });
  }
  const used = new Set<string>();

  // 5. outputs (prep_outputs)
  const plannedOutputs: ImportPlan['outputs'] = [];
  const seen = new Set<string>();
  for (const raw of outputs) {
    if (!isMap(raw)) throw genericError('Invalid output entry');
    const filename = need<string>(raw, 'filename');
    const relpath = typeof raw.relpath === 'string' ? raw.relpath : '';
    const filePath = path.posix.join(relpath, filename);
    if (filename.includes('/') || path.posix.normalize(filePath).startsWith('..')) throw genericError(`Invalid output filename: ${filePath}`);
    const size = await db.fileSize(filePath);
    if (size === undefined) throw new HubFault(FaultCode.Generic, `<class 'FileNotFoundError'>: [Errno 2] No such file or directory: '${filePath}'`);
    const filesize = Number(need(raw, 'filesize'));
    if (size !== filesize) throw genericError(`File size ${size} for ${filePath} (expected ${filesize}) doesn't match. Corrupted upload?`);
    const checksumType = String(need(raw, 'checksum_type'));
    if (!(VERIFY_TYPES as readonly string[]).includes(checksumType)) throw genericError(`Unsupported verify type: ${checksumType}`);
    const given = String(need(raw, 'checksum')).toLowerCase();
    const actual = await db.fileDigest(filePath, checksumType as VerifyType);
    if (given !== actual) throw genericError(`File checksum mismatch for ${filePath}: ${given} != ${actual}`);
    const brKey = JSON.stringify(need(raw, 'buildroot_id'));
    if (!brKeys.has(brKey)) throw genericError(`No such buildroot id in metadata: ${brKey}`);
    used.add(brKey);
    const type = need<string>(raw, 'type');
    const subdir = typeof raw.subdir === 'string' ? raw.subdir : '';
    if (subdir && (path.posix.normalize(subdir).startsWith('..') || subdir.startsWith('/'))) throw genericError(`Invalid subdir: ${subdir}`);
    const outExtra = isMap(raw.extra) ? raw.extra : null;
    const metadataOnly = raw.metadata_only === true;
    const components = Array.isArray(raw.components) ? (raw.components as Json[]) : [];
    checkComponents(components);
    const entry: ImportPlan['outputs'][number] = {
      relpath, filename, subdir, filesize, checksum: given, checksum_type: checksumType, buildroot: brKey,
      kind: 'archive', extra: outExtra, metadata_only: metadataOnly,
    };
    if (type === 'rpm') {
      // Importing rpms needs their signature headers; Kiln never sends rpm outputs.
      throw genericError(`rpm outputs are not supported by the dev hub: ${filename}`);
    } else if (type === 'log') {
      entry.kind = 'log';
      if (seen.has(`log/${subdir}/${filename}`)) throw genericError(`Error importing build log. ${filename} already exists.`);
      seen.add(`log/${subdir}/${filename}`);
    } else {
      const ex = outExtra ?? {};
      let btype: string | undefined;
      for (const key of Object.keys(ex)) {
        if (!LEGACY_BTYPES.includes(key)) continue;
        if (btype !== undefined) throw genericError(`Output file has multiple types: ${filename}`);
        btype = key;
      }
      const outTypeinfo = isMap(ex.typeinfo) ? (ex.typeinfo as Json) : {};
      for (const key of Object.keys(outTypeinfo)) {
        if (btype === key) throw genericError(`Duplicate typeinfo for: ${key}`);
        if (btype !== undefined) throw genericError(`Output file has multiple types: ${filename}`);
        btype = key;
      }
      if (btype === undefined) throw genericError(`No typeinfo for: ${filename}`);
      if (!btypes.includes(btype)) throw genericError(`Output type ${btype} not listed in build types`);
      if (subdir && LEGACY_BTYPES.includes(btype)) throw genericError(`subdir not allowed for legacy btype ${btype}: ${filename}`);
      if ((btype === 'maven' || btype === 'win') && components.length) throw genericError(`Components not allowed for ${btype} archives: ${filename}`);
      if (!(checksumType in ARCHIVE_CHECKSUM_TYPES)) throw genericError(`Unsupported checksum type: ${checksumType}`);
      entry.btype = btype;
      entry.archiveType = archiveTypeFor(filename);
      if (btype === 'image') {
        const info = (isMap(outTypeinfo.image) ? outTypeinfo.image : ex.image) as Json;
        entry.imageArch = String(need(isMap(info) ? info : {}, 'arch'));
      }
      const key = `${btype}/${subdir}/${filename}`;
      if (seen.has(key)) throw genericError(`Duplicate output file: ${filename}`);
      seen.add(key);
    }
    plannedOutputs.push(entry);
  }
  for (const key of brKeys) if (!used.has(key)) throw genericError(`Buildroot id not used in output: ${key}`);

  // 7. the destination must be new
  if (await db.buildDirExists(name, buildVersion, release)) {
    throw genericError(`Destination directory already exists: packages/${name}/${buildVersion}/${release}`);
  }

  return {
    cg: { id: cg?.id ?? 0, name: cgName ?? '' },
    build: { reservedId, name, version: buildVersion, release, epoch, source: typeof build.source === 'string' ? build.source : null, start_time: startTime, end_time: endTime, owner, task_id: taskId, extra, draft, btypes },
    buildroots: plannedBrs,
    outputs: plannedOutputs,
    metadata,
  };
}

function checkComponents(components: unknown): void {
  if (!Array.isArray(components)) throw genericError('components must be a list');
  for (const c of components) {
    if (!isMap(c)) throw genericError('Invalid component entry');
    const type = need<string>(c, 'type');
    if (type === 'rpm') {
      if ('location' in c) throw genericError('External rpms not allowed');
      if ('id' in c) throw genericError('Component rpm may not have an id');
      for (const key of ['name', 'version', 'release', 'arch']) need(c, key);
    } else if (type === 'file') {
      for (const key of ['filename', 'filesize', 'checksum', 'checksum_type']) need(c, key);
    } else if (type === 'kojifile') {
      for (const key of ['nvr', 'filename', 'archive_id']) need(c, key);
    } else {
      throw genericError(`No such component type: ${type}`);
    }
  }
}
