/**
 * Tag repos as koji 1.35.3's hub keeps them (kojihub/repos.py) and the events they are judged
 * by: getRepo / repo.get, repo.request (with the RepoLag default for min_event), repo.checkRequest,
 * tagLastChangeEvent / tagFirstChangeEvent, getEvent / getLastEvent. kojid's getRepo
 * (koji.util.RepoWatcher) takes a repo only if its create_event is not older than the request's
 * min_event; otherwise it waits on the request. kojira works the queue on a real hub; the dev hub
 * plays kojira at each repo.checkRequest: every active request gets a new READY repo made through a
 * CLOSED newRepo task (check_repo_queue, repo_init at a new event, repo_done_hook).
 */
import {
  FaultCode,
  HubFault,
  PRIO_DEFAULT,
  TASK_STATES,
  assertLoggedIn,
  convertInt,
  genericError,
  isMap,
  lookupNameStrict,
  pyTruthy,
  pyType,
} from './rules.js';
import { isoTime, newEvent, taskInfo, type HubTables, type RepoOpts, type RepoQueueRow, type RepoRow, type TagRow } from './state.js';
import { nowSeconds, strictTag, taskRow, type CallContext, type MethodSpec } from './methods.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Args = Record<string, any>;

/** hub.conf RepoLag and RepoLagWindow defaults (kojixmlrpc.py) */
const REPO_LAG = 3600;
const REPO_LAG_WINDOW = 600;
const REPO_READY = 1;
const OPT_KEYS = ['src', 'debuginfo', 'separate_src', 'maven'] as const;
/** the createrepo channel's id (CHANNEL_ROWS) */
const CREATEREPO_CHANNEL = 2;

/** get_tag_id(tag, strict=True) */
const tagId = (t: HubTables, info: unknown): TagRow => lookupNameStrict('tag', Object.values(t.tags), info);

/** The tag's change events; a tag from an older state file has none recorded, so its first event stands in. */
const changes = (tag: TagRow): number[] => (tag.changes?.length ? tag.changes : [1]);

/** tag_last_change_event(tag, before): the newest change before `before` (no inheritance in the dev hub) */
export function tagLastChange(tag: TagRow, before: number | null = null): number | null {
  const events = changes(tag).filter((e) => before === null || e < before);
  return events.length ? Math.max(...events) : null;
}

/** tag_first_change_event(tag, after): the tag's creation, or the first change after `after` */
export function tagFirstChange(tag: TagRow, after: number | null = null): number | null {
  if (after === null) return changes(tag)[0];
  const events = changes(tag).filter((e) => e > after);
  return events.length ? Math.min(...events) : null;
}

/** getLastEvent(before): the newest event whose time is before `before` */
function lastEvent(t: HubTables, before: number | null): { id: number; ts: number } | null {
  const ids = Object.keys(t.events).map(Number).filter((id) => before === null || t.events[id] < before);
  if (!ids.length) return null;
  const id = Math.max(...ids);
  return { id, ts: t.events[id] };
}

const eventExists = (t: HubTables, id: number) => id in t.events || (id >= 1 && id <= (t.next.events ?? 0));

/** convert_repo_opts(opts, strict=True) */
function convertRepoOpts(opts: unknown): Partial<RepoOpts> {
  if (opts === null || opts === undefined) return {};
  if (!isMap(opts)) throw new HubFault(FaultCode.ParameterError, 'Repo opts must be a dictionary');
  const out: Partial<RepoOpts> = {};
  for (const [key, value] of Object.entries(opts)) {
    if (!(OPT_KEYS as readonly string[]).includes(key)) throw new HubFault(FaultCode.ParameterError, `Invalid repo option: ${key}`);
    if (value === null) continue;
    out[key as keyof RepoOpts] = pyTruthy(value);
  }
  return out;
}

/** get_repo_opts(tag, override): the defaults, the tag's repo.opts / with_debuginfo, then the overrides (no maven: EnableMaven is off) */
function tagRepoOpts(tag: TagRow, override: Partial<RepoOpts> | null): { opts: RepoOpts; custom: Partial<RepoOpts> } {
  const opts: RepoOpts = { src: false, debuginfo: false, separate_src: false, maven: false };
  const extra = tag.extra ?? {};
  const tagOpts: Args = isMap(extra['repo.opts']) ? { ...(extra['repo.opts'] as Args) } : {};
  if ('with_debuginfo' in extra && !('repo.opts' in extra)) tagOpts.debuginfo = pyTruthy(extra.with_debuginfo);
  for (const key of OPT_KEYS) if (key in tagOpts && tagOpts[key] !== null) opts[key] = pyTruthy(tagOpts[key]);
  opts.maven = false;
  const custom: Partial<RepoOpts> = {};
  for (const key of OPT_KEYS) if (override && key in override && override[key] !== opts[key]) custom[key] = override[key];
  return { opts: { ...opts, ...custom }, custom };
}

const repoOpts = (repo: RepoRow): RepoOpts => repo.opts ?? { src: false, debuginfo: false, separate_src: false, maven: false };

/** RepoQuery with fields='**' */
function repoInfo(t: HubTables, repo: RepoRow): Args {
  const time = isoTime(repo.create_ts);
  const task = repo.task_id ? t.tasks[repo.task_id] : undefined;
  return {
    id: repo.id, tag_id: repo.tag_id, creation_time: time, creation_ts: repo.create_ts, state_time: time, state_ts: repo.create_ts,
    create_event: repo.create_event, create_ts: t.events[repo.create_event] ?? repo.create_ts, begin_event: null, begin_ts: null, end_event: null, end_ts: null,
    state: repo.state, dist: false, opts: repoOpts(repo), custom_opts: repo.custom_opts ?? {},
    task_id: repo.task_id ?? null, task_state: task?.state ?? null, tag_name: t.tags[repo.tag_id]?.name,
  };
}

/** RepoQueueQuery with fields='**' */
function requestInfo(t: HubTables, req: RepoQueueRow): Args {
  return {
    id: req.id, create_time: isoTime(req.create_time), create_ts: req.create_time, owner: req.owner, owner_name: t.users[req.owner]?.name ?? null,
    priority: req.priority, tag_id: req.tag_id, tag_name: t.tags[req.tag_id]?.name, at_event: req.at_event, min_event: req.min_event, opts: req.opts,
    update_time: isoTime(req.update_time), update_ts: req.update_time, active: req.active, task_id: req.task_id,
    task_state: req.task_id ? (t.tasks[req.task_id]?.state ?? null) : null, tries: req.tries, repo_id: req.repo_id,
  };
}

/** repos.get_repo: the newest READY repo with every asked option and no custom option not asked for */
function bestRepo(t: HubTables, tag: TagRow, minEvent: number | null, atEvent: number | null, opts: Partial<RepoOpts>): RepoRow | undefined {
  return Object.values(t.repos)
    .filter((r) => r.tag_id === tag.id && r.state === REPO_READY)
    .filter((r) => OPT_KEYS.every((k) => !(k in opts) || repoOpts(r)[k] === opts[k]))
    .filter((r) => Object.entries(r.custom_opts ?? {}).every(([k, v]) => opts[k as keyof RepoOpts] === v))
    .filter((r) => (atEvent !== null ? r.create_event === atEvent : minEvent === null || r.create_event >= minEvent))
    .sort((x, y) => y.create_event - x.create_event)[0];
}

/** default_min_event: the last event before now − RepoLag (rounded down to RepoLagWindow), but no later than the tag's last change */
function defaultMinEvent(t: HubTables, tag: TagRow, now: number): number {
  const last = tagLastChange(tag)!;
  const tagLag = tag.extra?.['repo.lag'];
  const lag = typeof tagLag === 'number' && Number.isInteger(tagLag) ? tagLag : REPO_LAG;
  const baseTs = Math.floor((now - lag) / REPO_LAG_WINDOW) * REPO_LAG_WINDOW;
  const base = lastEvent(t, baseTs)?.id ?? tagFirstChange(tag)!;
  return Math.min(base, last);
}

/** An event argument: an int naming an existing event (getEvent(ev, strict=False)), else ParameterError. */
function strictEvent(t: HubTables, value: unknown): number {
  const id = convertInt(value)!;
  if (!eventExists(t, id)) throw new HubFault(FaultCode.ParameterError, `Invalid event: ${id}`);
  return id;
}

/**
 * The dev hub's kojira: check_repo_queue makes a newRepo task per active request, the task's
 * repo_init takes a new event (or the request's at_event), repo_done makes it READY and
 * repo_done_hook hands it to every active request of the tag it satisfies.
 */
export function workRepoQueue(ctx: CallContext): void {
  const t = ctx.t;
  const now = nowSeconds(ctx);
  const waiting = Object.values(t.repo_queue)
    .filter((r) => r.active && r.repo_id === null)
    .sort((x, y) => x.priority - y.priority || x.id - y.id);
  for (const req of waiting) {
    if (!req.active) continue; // satisfied by a repo made for an earlier request
    const tag = t.tags[req.tag_id];
    if (!tag) continue;
    const { opts, custom } = tagRepoOpts(tag, req.opts);
    const request = [{ id: tag.id, name: tag.name }, { __starstar: true, opts: req.opts, ...(req.at_event !== null ? { event: req.at_event } : {}) }];
    const taskId = taskRow(t, { method: 'newRepo', owner: req.owner, request, priority: 15, channel_id: CREATEREPO_CHANNEL, state: TASK_STATES.CLOSED, create_time: now, start_time: now, completion_time: now });
    const createEvent = req.at_event ?? newEvent(t, now);
    const repoId = (t.next.repos = (t.next.repos ?? 0) + 1);
    t.repos[repoId] = { id: repoId, tag_id: tag.id, state: REPO_READY, create_event: createEvent, create_ts: now, task_id: taskId, opts, custom_opts: custom };
    t.tasks[taskId].result = { value: [repoId, createEvent] };
    req.task_id = taskId;
    req.tries += 1;
    req.update_time = now;
    for (const other of Object.values(t.repo_queue)) {
      if (other.tag_id !== tag.id || !other.active || other.repo_id !== null) continue;
      const optsFit = Object.entries(other.opts).every(([k, v]) => opts[k as keyof RepoOpts] === v) && Object.entries(custom).every(([k, v]) => other.opts[k as keyof RepoOpts] === v);
      const eventFits = other.at_event !== null ? other.at_event === createEvent : (other.min_event ?? 0) <= createEvent;
      if (optsFit && eventFits) Object.assign(other, { repo_id: repoId, active: false, update_time: now });
    }
  }
  if (waiting.length) ctx.changed = true;
}

export const repoMethods: Record<string, MethodSpec> = {
  // repos.old_get_repo: the newest repo of the tag (READY unless a state is given; an event looks back without a state)
  getRepo: {
    params: ['tag', 'state', 'event', 'dist', 'min_event'],
    defaults: { state: null, event: null, dist: false, min_event: null },
    fn(ctx, a) {
      const tag = tagId(ctx.t, a.tag);
      const state = convertInt(a.state, undefined, true);
      const event = convertInt(a.event, undefined, true);
      const minEvent = convertInt(a.min_event, undefined, true);
      // the dev hub makes no dist repos
      if (pyTruthy(a.dist)) return null;
      const repo = Object.values(ctx.t.repos)
        .filter((r) => r.tag_id === tag.id && (event ? r.create_event <= event : r.state === (state ?? REPO_READY)) && (minEvent === null || r.create_event >= minEvent))
        .sort((x, y) => y.create_ts - x.create_ts || y.id - x.id)[0];
      return repo ? repoInfo(ctx.t, repo) : null;
    },
  },
  'repo.get': {
    py: 'get_repo',
    params: ['tag', 'min_event', 'at_event', 'opts'],
    defaults: { min_event: null, at_event: null, opts: null },
    fn(ctx, a) {
      const tag = tagId(ctx.t, a.tag);
      const minEvent = convertInt(a.min_event, undefined, true);
      const atEvent = convertInt(a.at_event, undefined, true);
      const repo = bestRepo(ctx.t, tag, minEvent, atEvent, convertRepoOpts(a.opts));
      return repo ? repoInfo(ctx.t, repo) : null;
    },
  },
  'repo.request': {
    py: 'request_repo',
    params: ['tag', 'min_event', 'at_event', 'opts', 'priority', 'force'],
    defaults: { min_event: null, at_event: null, opts: null, priority: null, force: false },
    fn(ctx, a) {
      const t = ctx.t;
      const user = assertLoggedIn(ctx.user);
      const tag = strictTag(t, a.tag);
      const opts = convertRepoOpts(a.opts);
      if (opts.maven) throw genericError('Maven support not enabled');
      let atEvent: number | null = null;
      let minEvent: number;
      if (a.at_event !== null) {
        if (a.min_event !== null) throw new HubFault(FaultCode.ParameterError, 'The min_event and at_event options conflict');
        atEvent = strictEvent(t, a.at_event);
        minEvent = 0;
      } else if (a.min_event === 'last') {
        minEvent = tagLastChange(tag)!;
      } else if (a.min_event === null) {
        minEvent = defaultMinEvent(t, tag, nowSeconds(ctx));
      } else {
        minEvent = strictEvent(t, a.min_event);
      }
      let priority = PRIO_DEFAULT;
      if (a.priority !== null) {
        const p = convertInt(a.priority)!;
        if (p < 0 && !user.perms.includes('admin')) throw new HubFault(FaultCode.ActionNotAllowed, 'only admins may create high-priority requests');
        priority = PRIO_DEFAULT + p;
      }
      if (!pyTruthy(a.force)) {
        const repo = bestRepo(t, tag, atEvent === null ? minEvent : null, atEvent, opts);
        if (repo) return { repo: repoInfo(t, repo), request: null, duplicate: false };
      }
      const sameOpts = (o: Partial<RepoOpts>) => JSON.stringify(o) === JSON.stringify(opts);
      const dup = Object.values(t.repo_queue)
        .filter((r) => r.tag_id === tag.id && r.active && sameOpts(r.opts) && (atEvent !== null ? r.at_event === atEvent : r.min_event !== null && r.min_event >= minEvent))
        .sort((x, y) => x.priority - y.priority || x.id - y.id)[0];
      if (dup) {
        if (dup.priority > priority) {
          dup.priority = priority;
          ctx.changed = true;
        }
        return { repo: null, request: requestInfo(t, dup), duplicate: true };
      }
      const now = nowSeconds(ctx);
      const id = (t.next.repo_queue = (t.next.repo_queue ?? 0) + 1);
      t.repo_queue[id] = {
        id, create_time: now, owner: user.id, priority, tag_id: tag.id, at_event: atEvent, min_event: atEvent === null ? minEvent : null, opts,
        update_time: now, active: true, task_id: null, tries: 0, repo_id: null,
      };
      ctx.changed = true;
      return { repo: null, request: requestInfo(t, t.repo_queue[id]), duplicate: false };
    },
  },
  'repo.checkRequest': {
    py: 'check_repo_request',
    params: ['req_id'],
    fn(ctx, a) {
      const id = convertInt(a.req_id)!;
      // kojira's pass over the queue, which a real hub runs on its own schedule
      workRepoQueue(ctx);
      const req = ctx.t.repo_queue[id];
      if (!req) throw genericError('No such request');
      const ret: Args = { repo: null, request: requestInfo(ctx.t, req) };
      if (req.repo_id) ret.repo = repoInfo(ctx.t, ctx.t.repos[req.repo_id]);
      else if (req.task_id) ret.task = taskInfo(ctx.t.tasks[req.task_id], false);
      return ret;
    },
  },
  tagLastChangeEvent: {
    py: 'tag_last_change_event',
    params: ['tag', 'before', 'inherit'],
    defaults: { before: null, inherit: true },
    fn: (ctx, a) => tagLastChange(strictTag(ctx.t, a.tag), convertInt(a.before, undefined, true)),
  },
  tagFirstChangeEvent: {
    py: 'tag_first_change_event',
    params: ['tag', 'after', 'inherit'],
    defaults: { after: null, inherit: true },
    fn: (ctx, a) => tagFirstChange(tagId(ctx.t, a.tag), convertInt(a.after, undefined, true)),
  },
  getEvent: {
    params: ['id', 'strict'],
    defaults: { strict: true },
    fn(ctx, a) {
      const id = convertInt(a.id)!;
      if (eventExists(ctx.t, id)) return { id, ts: ctx.t.events[id] ?? null };
      if (pyTruthy(a.strict)) throw genericError('query returned no rows');
      return null;
    },
  },
  getLastEvent: {
    params: ['before', 'strict'],
    defaults: { before: null, strict: true },
    fn(ctx, a) {
      if (a.before !== null && typeof a.before !== 'number') throw genericError(`Invalid type for before: ${pyType(a.before)}`);
      const ev = lastEvent(ctx.t, a.before as number | null);
      if (!ev && pyTruthy(a.strict)) throw genericError('query returned no rows');
      return ev;
    },
  },
};
