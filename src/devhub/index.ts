/**
 * The dev hub: a Koji hub stand-in for tests and `kiln dev-hub`. `startDevHub` starts it on
 * loopback; the returned handle carries the admin helpers a test needs (users, CG access,
 * tags, tasks, fault injection, session expiry).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DevHub, type DevHubOptions, type NegotiateResult, type UploadEvent } from './hub.js';
import { createUser, makeTask } from './methods.js';
import type { FaultKind, FaultOptions } from './faults.js';
import { newEvent, tagChanged, type BuildRow, type HubTables } from './state.js';

export type { DevHubOptions, FaultKind, FaultOptions, NegotiateResult, UploadEvent, BuildRow, HubTables };
export { DevHub };
export * as hubRules from './rules.js';

export interface DevHubHandle {
  url: string;
  sslUrl?: string;
  dir: string;
  hub: DevHub;
  close(): Promise<void>;
  /** Creates a user; returns its id. `admin` grants the admin permission. */
  createUser(user: { name: string; password?: string; krbPrincipal?: string; admin?: boolean; blocked?: boolean }): Promise<number>;
  /** grantCGAccess(user, cg, create=True) */
  grantCGAccess(user: string, cg: string): Promise<void>;
  revokeCGAccess(user: string, cg: string): Promise<void>;
  createTag(name: string, packages?: string[], options?: { arches?: string; extra?: Record<string, unknown> }): Promise<number>;
  /** addHost(name, arches) with a password login, in the given channels (default: default). */
  createHost(host: { name: string; password: string; arches: string[]; channels?: string[] }): Promise<number>;
  /** A READY repo for the tag (what kojira makes on a real hub); returns its id. */
  createRepo(tag: string): Promise<number>;
  /** A COMPLETE build of the NVR, as an RPM build the hub built (no files); returns its id. */
  createBuild(nvr: { name: string; version: string; release: string; owner?: string }): Promise<number>;
  /** Tags a COMPLETE build into a tag (as tagBuild does, without the task). */
  tagBuild(tag: string, buildId: number): Promise<void>;
  createBuildTarget(name: string, buildTag: string, destTag: string): Promise<number>;
  /**
   * A task as the hub's make_task creates it (FREE, in channel `channel` or "default"): what a
   * compose's task_id names. Over XML-RPC an admin does the same with makeTask.
   */
  createTask(task: { method: string; owner: string; request?: unknown[]; arch?: string; channel?: string }): Promise<number>;
  /** Moves every event, repo and repo request `seconds` into the past, as if that much time had passed since. */
  ageEvents(seconds: number): Promise<void>;
  /** Makes every session older than SessionRenewalTimeout, so the next call gets AuthExpired. */
  expireSessions(): Promise<void>;
  setFaults(options: FaultOptions | null): void;
  setOffline(offline: boolean): void;
  /** Holds the hub's lock on an uploaded file, as a concurrent upload would. */
  lockUpload(filepath: string, filename: string): () => void;
  builds(): BuildRow[];
  tables(): HubTables;
}

export async function startDevHub(options: Partial<DevHubOptions> = {}): Promise<DevHubHandle> {
  // a directory made here is the hub's alone and goes with it
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'kiln-devhub-')));
  const hub = new DevHub({ ...options, dir });
  await hub.start();
  const userId = (t: HubTables, name: string) => {
    const u = Object.values(t.users).find((x) => x.name === name);
    if (!u) throw new Error(`no such user ${name}`);
    return u.id;
  };
  return {
    url: hub.url,
    sslUrl: hub.sslUrl,
    dir: hub.dir,
    hub,
    close: async () => {
      await hub.close();
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
    createUser: (u) =>
      hub.transaction(
        (t) =>
          createUser(t, u.name, {
            password: u.password ?? null,
            krb_principals: u.krbPrincipal ? [u.krbPrincipal] : [],
            perms: u.admin ? ['admin'] : [],
            status: u.blocked ? 1 : 0,
          }).id,
      ),
    grantCGAccess: (user, cg) =>
      hub.transaction((t) => {
        const id = userId(t, user);
        t.cgs[cg] ??= { id: Math.max(0, ...Object.values(t.cgs).map((c) => c.id)) + 1, name: cg, users: [] };
        if (!t.cgs[cg].users.includes(id)) t.cgs[cg].users.push(id);
      }),
    revokeCGAccess: (user, cg) =>
      hub.transaction((t) => {
        const id = userId(t, user);
        if (t.cgs[cg]) t.cgs[cg].users = t.cgs[cg].users.filter((u) => u !== id);
      }),
    createTag: (name, packages = [], options = {}) =>
      hub.transaction((t) => {
        const id = (t.next.tags = (t.next.tags ?? 0) + 1);
        t.tags[id] = { id, name, packages, builds: [], arches: options.arches ?? null, extra: options.extra ?? {}, changes: [] };
        tagChanged(t, t.tags[id], Date.now() / 1000);
        return id;
      }),
    createHost: (h) =>
      hub.transaction((t) => {
        const user = createUser(t, h.name, { password: h.password, usertype: 1 });
        const id = (t.next.hosts = (t.next.hosts ?? 0) + 1);
        t.hosts[id] = { id, user_id: user.id, name: h.name, arches: h.arches.join(' '), channels: h.channels ?? ['default'], enabled: true };
        return id;
      }),
    createRepo: (tagName) =>
      hub.transaction((t) => {
        const tag = Object.values(t.tags).find((x) => x.name === tagName);
        if (!tag) throw new Error(`no such tag ${tagName}`);
        const id = (t.next.repos = (t.next.repos ?? 0) + 1);
        const now = Date.now() / 1000;
        t.repos[id] = { id, tag_id: tag.id, state: 1, create_event: newEvent(t, now), create_ts: now };
        return id;
      }),
    createBuild: (nvr) =>
      hub.transaction((t) => {
        let pkg = Object.values(t.packages).find((p) => p.name === nvr.name);
        if (!pkg) {
          const pid = (t.next.packages = (t.next.packages ?? 0) + 1);
          pkg = t.packages[pid] = { id: pid, name: nvr.name };
        }
        const id = (t.next.builds = (t.next.builds ?? 0) + 1);
        const now = Date.now() / 1000;
        t.builds[id] = {
          id, name: nvr.name, version: nvr.version, release: nvr.release, epoch: null, draft: false, state: 1,
          owner_id: nvr.owner ? userId(t, nvr.owner) : Number(Object.keys(t.users)[0] ?? 1), task_id: null, source: null, extra: null, cg_id: null,
          creation_time: now, start_time: now, completion_time: now, btypes: ['rpm'], create_event: newEvent(t, now),
        };
        return id;
      }),
    tagBuild: (tagName, buildId) =>
      hub.transaction((t) => {
        const tag = Object.values(t.tags).find((x) => x.name === tagName);
        if (!tag) throw new Error(`no such tag ${tagName}`);
        if (!tag.builds.includes(buildId)) {
          tag.builds.push(buildId);
          tagChanged(t, tag, Date.now() / 1000);
        }
      }),
    createBuildTarget: (name, buildTag, destTag) =>
      hub.transaction((t) => {
        const tag = (n: string) => {
          const found = Object.values(t.tags).find((x) => x.name === n);
          if (!found) throw new Error(`no such tag ${n}`);
          return found.id;
        };
        const id = (t.next.targets = (t.next.targets ?? 0) + 1);
        t.targets[id] = { id, name, build_tag: tag(buildTag), dest_tag: tag(destTag) };
        return id;
      }),
    createTask: (task) =>
      hub.transaction((t) => {
        const { method, request = [], owner, ...given } = task;
        const opts = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
        return makeTask(t, t.users[userId(t, owner)], method, request, opts);
      }),
    ageEvents: (seconds) =>
      hub.transaction((t) => {
        for (const id of Object.keys(t.events)) t.events[id] -= seconds;
        for (const r of Object.values(t.repos)) r.create_ts -= seconds;
        for (const q of Object.values(t.repo_queue)) Object.assign(q, { create_time: q.create_time - seconds, update_time: q.update_time - seconds });
      }),
    expireSessions: () =>
      hub.transaction((t) => {
        for (const s of Object.values(t.sessions)) s.renewed = Date.now() - hub.sessionLifetimeMs - 1000;
      }),
    setFaults: (o) => hub.setFaults(o),
    setOffline: (offline) => {
      hub.offline = offline;
    },
    lockUpload: (filepath, filename) => hub.lock(path.join(hub.workDir, path.posix.normalize(filepath), filename), 'ex'),
    builds: () => Object.values(hub.tables().builds),
    tables: () => hub.tables(),
  };
}
