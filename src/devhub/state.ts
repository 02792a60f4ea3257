/**
 * The dev hub's tables, kept as one JSON document (`<dir>/state.json`) next to the files
 * (`<dir>/work/` for uploads, `<dir>/packages/` for imported builds). A call works on a copy
 * and the copy replaces the state only when the call succeeds, which gives the hub's
 * one-transaction-per-request behaviour.
 */
import { existsSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BUILTIN_BTYPES } from './rules.js';

export interface UserRow {
  id: number;
  name: string;
  password: string | null;
  status: number; // 0 normal, 1 blocked
  usertype: number;
  krb_principals: string[];
  perms: string[];
}

export interface SessionRow {
  id: number;
  key: string;
  user_id: number;
  authtype: number; // 1 normal (password), 2 kerberos, 3 ssl
  start: number; // ms
  renewed: number; // ms
  callnum: number | null;
  closed: boolean;
  /** the session a subsession was made from (kojid's task sessions) */
  master?: number | null;
  /** holds the user's exclusive lock (exclusiveSession; hosts need it) */
  exclusive?: boolean;
}

/** A build host (kojid): its user logs in; it takes tasks of its channels and arches. */
export interface HostRow {
  id: number;
  user_id: number;
  name: string;
  /** space-separated, as the hub stores them */
  arches: string;
  channels: string[];
  enabled: boolean;
}

/** A tag's repository (what kojira makes; here an admin helper). */
export interface RepoRow {
  id: number;
  tag_id: number;
  /** koji.REPO_STATES: 1 READY */
  state: number;
  create_event: number;
  create_ts: number;
  /** the newRepo task that made it (the dev hub's kojira closes one per request it fulfils) */
  task_id?: number | null;
  opts?: RepoOpts;
  custom_opts?: Partial<RepoOpts>;
}

/** A tag's repository options (get_repo_opts' keys). */
export interface RepoOpts {
  src: boolean;
  debuginfo: boolean;
  separate_src: boolean;
  maven: boolean;
}

/** A repo request (repo_queue): kojira's queue, which the dev hub also works off (src/devhub/repos.ts). */
export interface RepoQueueRow {
  id: number;
  create_time: number; // s
  owner: number;
  priority: number;
  tag_id: number;
  at_event: number | null;
  min_event: number | null;
  opts: Partial<RepoOpts>;
  update_time: number; // s
  active: boolean;
  task_id: number | null;
  tries: number;
  repo_id: number | null;
}

/** A task's result as Task.getResult reads it: a value (closeTask) or a fault (failTask). */
export type TaskResult = { value: unknown } | { faultCode: number; faultString: string };

export interface BuildRow {
  id: number;
  name: string;
  version: string;
  release: string;
  epoch: number | null;
  draft: boolean;
  state: number;
  owner_id: number;
  task_id: number | null;
  source: string | null;
  extra: Record<string, unknown> | null;
  cg_id: number | null;
  creation_time: number; // s
  start_time: number | null;
  completion_time: number | null;
  btypes: string[];
  /** the event that created (or recycled) the row */
  create_event?: number;
}

export interface ArchiveRow {
  id: number;
  type_id: number;
  type_name: string;
  type_description: string;
  type_extensions: string;
  btype: string;
  build_id: number;
  buildroot_id: number | null;
  filename: string;
  size: number;
  checksum: string;
  checksum_type: number;
  metadata_only: boolean;
  extra: Record<string, unknown> | null;
  arch?: string;
  relpath: string;
}

export interface BuildrootRow {
  id: number;
  build_id: number;
  cg_id: number;
  cg_version: string;
  container_type: string;
  container_arch: string;
  host_os: string;
  host_arch: string;
  extra: Record<string, unknown> | null;
  components: Record<string, unknown>[];
  tools: Record<string, unknown>[];
}

export interface TaskRow {
  id: number;
  method: string;
  state: number;
  owner: number;
  arch: string;
  channel_id: number;
  host_id: number | null;
  parent: number | null;
  label: string | null;
  priority: number;
  weight: number;
  request: unknown[];
  result: TaskResult | null;
  create_time: number;
  start_time: number | null;
  completion_time: number | null;
  waiting?: boolean | null;
  awaited?: boolean | null;
}

export interface TagRow {
  id: number;
  name: string;
  packages: string[];
  builds: number[];
  /** space-separated arches (the build tag's), or null */
  arches?: string | null;
  extra?: Record<string, unknown>;
  /** the events that changed it, oldest first: its creation, then tagging and package list changes */
  changes?: number[];
}

export interface HubTables {
  next: Record<string, number>;
  users: Record<string, UserRow>;
  sessions: Record<string, SessionRow>;
  cgs: Record<string, { id: number; name: string; users: number[] }>;
  packages: Record<string, { id: number; name: string }>;
  btypes: string[];
  builds: Record<string, BuildRow>;
  reservations: Record<string, { build_id: number; token: string; cg_id: number; created: number }>;
  archives: Record<string, ArchiveRow>;
  buildroots: Record<string, BuildrootRow>;
  tasks: Record<string, TaskRow>;
  tags: Record<string, TagRow>;
  hosts: Record<string, HostRow>;
  repos: Record<string, RepoRow>;
  repo_queue: Record<string, RepoQueueRow>;
  /** the events table: id → time (s) */
  events: Record<string, number>;
  targets: Record<string, { id: number; name: string; build_tag: number; dest_tag: number }>;
}

export function emptyTables(): HubTables {
  return {
    next: {},
    users: {},
    sessions: {},
    cgs: {},
    packages: {},
    btypes: [...BUILTIN_BTYPES],
    builds: {},
    reservations: {},
    archives: {},
    buildroots: {},
    tasks: {},
    tags: {},
    hosts: {},
    repos: {},
    repo_queue: {},
    events: {},
    targets: {},
  };
}

export function nextId(t: HubTables, table: string): number {
  const id = (t.next[table] ?? 0) + 1;
  t.next[table] = id;
  return id;
}

/** A new event (what each hub transaction that changes versioned data gets), at `ts` seconds. */
export function newEvent(t: HubTables, ts: number): number {
  const id = nextId(t, 'events');
  t.events[id] = ts;
  return id;
}

/** A change to a tag (tagging, package list, config): a new event that is now its last change. */
export function tagChanged(t: HubTables, tag: TagRow, ts: number): void {
  (tag.changes ??= []).push(newEvent(t, ts));
}

export function loadTables(dir: string): HubTables {
  const file = path.join(dir, 'state.json');
  // a state file from an older dev hub lacks the tables added since
  return existsSync(file) ? { ...emptyTables(), ...(JSON.parse(readFileSync(file, 'utf8')) as Partial<HubTables>) } : emptyTables();
}

export async function saveTables(dir: string, tables: HubTables): Promise<void> {
  const file = path.join(dir, 'state.json');
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(tables));
  await rename(tmp, file);
}

/** The hub's timestamp format (str() of a timestamptz): "YYYY-MM-DD HH:MM:SS[.ffffff]+00:00", next to float `_ts` fields. */
export function isoTime(seconds: number | null): string | null {
  if (seconds === null) return null;
  const iso = new Date(seconds * 1000).toISOString();
  const ms = iso.slice(20, 23);
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${ms === '000' ? '' : `.${ms}000`}+00:00`;
}

/** getBuild's shape. */
export function buildInfo(t: HubTables, b: BuildRow): Record<string, unknown> {
  const owner = t.users[b.owner_id];
  const cg = b.cg_id === null ? undefined : Object.values(t.cgs).find((c) => c.id === b.cg_id);
  return {
    id: b.id,
    build_id: b.id,
    package_id: Object.values(t.packages).find((p) => p.name === b.name)?.id ?? null,
    package_name: b.name,
    name: b.name,
    version: b.version,
    release: b.release,
    epoch: b.epoch,
    nvr: `${b.name}-${b.version}-${b.release}`,
    draft: b.draft,
    state: b.state,
    owner_id: b.owner_id,
    owner_name: owner?.name ?? null,
    task_id: b.task_id,
    volume_id: 0,
    volume_name: 'DEFAULT',
    source: b.source,
    extra: b.extra,
    cg_id: b.cg_id,
    cg_name: cg?.name ?? null,
    creation_event_id: b.create_event ?? null,
    creation_time: isoTime(b.creation_time),
    creation_ts: b.creation_time,
    start_time: isoTime(b.start_time),
    start_ts: b.start_time,
    completion_time: isoTime(b.completion_time),
    completion_ts: b.completion_time,
    promoter_id: null,
    promoter_name: null,
    promotion_time: null,
    promotion_ts: null,
  };
}

export function archiveInfo(a: ArchiveRow, withImageArch: boolean): Record<string, unknown> {
  const { relpath: _relpath, arch, ...row } = a;
  return {
    ...row,
    btype_id: ['rpm', 'maven', 'win', 'image'].indexOf(a.btype) + 1,
    compression_type: null,
    ...(withImageArch && arch !== undefined ? { arch } : {}),
  };
}

export function taskInfo(task: TaskRow, withRequest: boolean): Record<string, unknown> {
  const { request, result: _result, ...row } = task;
  return {
    ...row,
    create_time: isoTime(task.create_time),
    create_ts: task.create_time,
    start_time: isoTime(task.start_time),
    start_ts: task.start_time,
    completion_time: isoTime(task.completion_time),
    completion_ts: task.completion_time,
    waiting: task.waiting ?? null,
    awaited: task.awaited ?? null,
    ...(withRequest ? { request } : {}),
  };
}
