/**
 * koji-init and koji-finalize against the Koji hub stand-in, run directly as a worker would run
 * them: retries must never reserve twice, import twice or refund what was not reserved.
 */
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/index.js';
import { InvalidInputError } from '../src/errors.js';
import { silentLogger } from '../src/log.js';
import { createJobServices, jobTypes, type JobServices } from '../src/jobs/index.js';
import { startDevHub, type DevHubHandle } from '../src/devhub/index.js';
import { FaultInjector } from '../src/devhub/faults.js';
import type { JobContext, RunningJob, DependencyResult } from '../src/queue/index.js';

let hub: DevHubHandle;
let services: JobServices;
let dir: string;

test.before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-jobs-koji-'));
  hub = await startDevHub({ dir: path.join(dir, 'hub') });
  await hub.createUser({ name: 'kiln', password: 'pw' });
  await hub.grantCGAccess('kiln', 'kiln');
  writeFileSync(path.join(dir, 'pw'), 'pw\n');
  services = createJobServices(
    loadConfig({ env: {}, overrides: { state_dir: dir, koji: { hubs: [{ url: hub.url, auth: 'password', user: 'kiln', password_file: path.join(dir, 'pw') }] } } }),
    silentLogger,
  );
});
test.after.always(async () => {
  await services?.close();
  await hub?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function run(type: string, args: unknown, extra: Partial<RunningJob> = {}, saved: unknown[] = [], using: { services?: JobServices; signal?: AbortSignal } = {}) {
  const job: RunningJob = {
    id: '00000000-0000-4000-8000-000000000001',
    type,
    args,
    token: '00000000-0000-4000-8000-000000000002',
    channel: 'default',
    arch: 'noarch',
    composeId: null,
    attempts: 1,
    retries: 0,
    heartbeatTimeoutSeconds: 120,
    checkpoint: null,
    dependencies: [],
    ...extra,
  };
  const ctx: JobContext = {
    job,
    signal: using.signal ?? new AbortController().signal,
    log: silentLogger,
    progress: async () => undefined,
    checkpoint: async (data) => {
      saved.push(data);
    },
  };
  return jobTypes()[type].create(using.services ?? services)(ctx);
}

const nvr = (release: string) => ({ compose_id: 'c', server: hub.url, name: 'img', version: '1', release });

test.serial('koji-init checkpoints its reservation, and a retried attempt reuses it instead of reserving again', async (t) => {
  const saved: unknown[] = [];
  const first = (await run('koji-init', nvr('1'), {}, saved)) as { build_id: number; token: string };
  t.true(first.build_id > 0);
  t.like(saved[0], { reserving: true }, 'that a reservation may exist was saved before asking for it');
  t.deepEqual(saved[1], first, 'the reservation was saved before the job reported anything');
  saved.shift();
  const reservations = Object.keys(hub.tables().reservations).length;
  const retry = await run('koji-init', nvr('1'), { attempts: 2, retries: 1, checkpoint: saved[0] });
  t.deepEqual(retry, first);
  t.is(Object.keys(hub.tables().reservations).length, reservations, 'no second reservation');
  t.is(Object.values(hub.tables().builds).filter((b) => b.release === '1').length, 1);
});

test.serial('koji-init: an earlier attempt reserved and died before saving the token → the lost reservation is canceled and the NVR reserved again (same build)', async (t) => {
  const saved: unknown[] = [];
  const lost = (await run('koji-init', nvr('lost1'), {}, saved)) as { build_id: number; token: string };
  // the worker died here: only the "reserving" checkpoint reached the database
  const retry = (await run('koji-init', nvr('lost1'), { attempts: 2, retries: 1, checkpoint: saved[0] })) as { build_id: number; token: string };
  t.is(retry.build_id, lost.build_id, 'the canceled build is recycled');
  t.not(retry.token, lost.token);
  t.is(hub.tables().builds[retry.build_id].state, 0);
  t.is(hub.tables().reservations[retry.build_id]?.token, retry.token);
  t.is(Object.values(hub.tables().builds).filter((b) => b.release === 'lost1').length, 1, 'exactly one build');
  // the new token is the one that counts: the refund with it works
  await t.throwsAsync(run('koji-finalize', finalizeArgs('lost1'), { dependencies: [dep('koji-init', 'success', retry), dep('osbuild', 'failure', null, 'x')] }));
  t.is(hub.tables().builds[retry.build_id].state, 3);
});

test.serial("koji-init: CGInitBuild committed but its reply was lost (RetryError on the retry) → recovered in the same attempt", async (t) => {
  hub.setFaults({ rate: 1, kinds: ['drop-reply'], methods: ['CGInitBuild'], limit: 1 });
  try {
    const r = (await run('koji-init', nvr('drop1'))) as { build_id: number; token: string };
    t.is(hub.tables().reservations[r.build_id]?.token, r.token);
    t.is(Object.values(hub.tables().builds).filter((b) => b.release === 'drop1').length, 1);
    t.true(hub.hub.calls.some((c) => c.method === 'cancelBuild'), 'the lost reservation was canceled');
  } finally {
    hub.setFaults(null);
  }
});

test.serial("koji-init: an NVR another compose holds is a conflict on the first attempt; nobody's build is canceled", async (t) => {
  const other = (await run('koji-init', nvr('taken1'))) as { build_id: number; token: string };
  const err = await t.throwsAsync(run('koji-init', nvr('taken1')));
  t.regex(err!.message, /Build already exists|already reserved/);
  t.is(hub.tables().builds[other.build_id].state, 0, 'the other compose keeps its reservation');
  t.is(hub.tables().reservations[other.build_id]?.token, other.token);
});

/** A seed whose first four picks at `rate` go: fault, none, fault, none (each pick of a fault draws twice). */
function seedFaultingFirstAndThird(rate: number): number {
  for (let seed = 1; seed < 10_000; seed++) {
    const inj = new FaultInjector({ seed, rate, kinds: ['drop-reply'] });
    if (inj.pick('m') && !inj.pick('m') && inj.pick('m') && !inj.pick('m')) return seed;
  }
  throw new Error('no such seed');
}

test.serial('koji-init: the reply is lost again after the lost reservation was canceled → canceled and reserved once more in the same attempt', async (t) => {
  // requests: CGInitBuild (committed, reply dropped), its retry (RetryError), CGInitBuild again (dropped), its retry (RetryError), CGInitBuild
  hub.setFaults({ rate: 0.5, seed: seedFaultingFirstAndThird(0.5), kinds: ['drop-reply'], methods: ['CGInitBuild'], limit: 2 });
  try {
    const r = (await run('koji-init', nvr('drop2'))) as { build_id: number; token: string };
    t.is(hub.hub.faultStats.injected, 2, 'two replies were lost');
    t.is(hub.tables().reservations[r.build_id]?.token, r.token);
    t.is(Object.values(hub.tables().builds).filter((b) => b.release === 'drop2').length, 1, 'one build, recycled');
    t.is(hub.hub.calls.filter((c) => c.method === 'cancelBuild').length >= 2, true, 'both lost reservations were canceled');
  } finally {
    hub.setFaults(null);
  }
});

test.serial('koji-init: every CGInitBuild reply lost → the attempt fails saying a reservation may exist, and koji-finalize cancels it', async (t) => {
  hub.setFaults({ rate: 1, kinds: ['drop-reply'], methods: ['CGInitBuild'] });
  let failure: Error | undefined;
  try {
    failure = await t.throwsAsync(run('koji-init', nvr('drop3')));
  } finally {
    hub.setFaults(null);
  }
  const error = JSON.parse(JSON.stringify(failure)) as { code: string; message: string; details?: Record<string, unknown> };
  t.true(error.details?.reservation_unknown, 'the job error says a reservation may exist');
  t.regex(error.message, /may hold a reservation/);
  const left = Object.values(hub.tables().builds).filter((b) => b.release === 'drop3');
  t.is(left.length, 1);
  t.is(left[0].state, 0, 'the hub holds a BUILDING reservation nobody has the token of');
  const init: DependencyResult = { ...dep('koji-init', 'failure'), error };
  await t.throwsAsync(run('koji-finalize', { ...finalizeArgs('drop3'), start_time: Math.floor(Date.now() / 1000) - 5 }, { dependencies: [init, dep('osbuild', 'canceled')] }));
  t.is(hub.tables().builds[left[0].id].state, 4, 'CANCELED');
  t.false(left[0].id in hub.tables().reservations);
});

test.serial('koji-finalize: koji-init lost its worker too often → a reservation it left is canceled, so nothing stays BUILDING', async (t) => {
  const left = (await run('koji-init', nvr('gone1'))) as { build_id: number; token: string };
  const lostInit: DependencyResult = { ...dep('koji-init', 'failure'), error: { code: 'KILN_JOB_LOST', message: 'worker w stopped sending heartbeats; gave up after 3 attempts' } };
  const err = await t.throwsAsync(run('koji-finalize', { ...finalizeArgs('gone1'), start_time: Math.floor(Date.now() / 1000) - 5 }, { dependencies: [lostInit, dep('osbuild', 'canceled')] }));
  t.regex(err!.message, /koji-init failure: no build was reserved/);
  t.is(hub.tables().builds[left.build_id].state, 4, 'CANCELED');
  t.false(left.build_id in hub.tables().reservations);
});

function dep(type: string, state: DependencyResult['state'], result: unknown = null, message?: string): DependencyResult {
  return { id: '00000000-0000-4000-8000-0000000000aa', type, state, result, error: message ? { code: 'X', message } : null };
}

const finalizeArgs = (release: string) => ({ ...nvr(release), task_id: 0, directory: `kiln-cg/${release}`, start_time: 1, image_build_ids: ['i'] });

test.serial('koji-finalize: init failed → nothing reserved, nothing refunded, and it says so', async (t) => {
  const builds = Object.keys(hub.tables().builds).length;
  const err = await t.throwsAsync(run('koji-finalize', finalizeArgs('2'), { dependencies: [dep('koji-init', 'failure', null, 'hub said no'), dep('osbuild', 'failure')] }));
  t.regex(err!.message, /koji-init failure: no build was reserved, so there is nothing to import or refund \(hub said no\)/);
  t.is(Object.keys(hub.tables().builds).length, builds);
});

test.serial('koji-finalize refunds a failed compose as FAILED once; a retry finds it ended and refunds nothing', async (t) => {
  const init = (await run('koji-init', nvr('3'))) as { build_id: number; token: string };
  const deps = [dep('koji-init', 'success', init), dep('osbuild', 'failure', null, 'stage org.osbuild.rpm failed')];
  const err = await t.throwsAsync(run('koji-finalize', finalizeArgs('3'), { dependencies: deps }));
  t.regex(err!.message, new RegExp(`koji build ${init.build_id} failed: osbuild failure: stage org.osbuild.rpm failed`));
  t.is(hub.tables().builds[init.build_id].state, 3);
  const again = await t.throwsAsync(run('koji-finalize', finalizeArgs('3'), { dependencies: deps, attempts: 2 }));
  t.regex(again!.message, /failed/);
  t.is(hub.tables().builds[init.build_id].state, 3, 'still FAILED, and the second refund was not attempted');
});

test.serial('koji-finalize of a canceled compose refunds as CANCELED', async (t) => {
  const init = (await run('koji-init', nvr('4'))) as { build_id: number; token: string };
  await t.throwsAsync(run('koji-finalize', finalizeArgs('4'), { dependencies: [dep('koji-init', 'success', init), dep('osbuild', 'canceled', null, 'canceled by user')] }), {
    message: /canceled/,
  });
  t.is(hub.tables().builds[init.build_id].state, 4);
});

test.serial('koji-init: a task the hub does not have fails the compose at once, naming the task; nothing is reserved or checkpointed', async (t) => {
  const saved: unknown[] = [];
  const builds = Object.keys(hub.tables().builds).length;
  const err = await t.throwsAsync(run('koji-init', { ...nvr('task1'), task_id: 99999 }, {}, saved));
  t.true(err instanceof InvalidInputError);
  t.is(err!.message, `koji.task_id: task 99999 does not exist on the Koji hub ${hub.url}; nothing was reserved or built`);
  t.deepEqual(saved, []);
  t.is(Object.keys(hub.tables().builds).length, builds);
});

test.serial('koji-init: the task exists → the NVR is reserved; task 0 (none) is not looked up', async (t) => {
  const task = await hub.createTask({ method: 'osbuildImage', owner: 'kiln', channel: 'image' });
  const calls = hub.hub.calls.length;
  const r = (await run('koji-init', { ...nvr('task2'), task_id: task })) as { build_id: number };
  t.true(r.build_id > 0);
  t.true(hub.hub.calls.slice(calls).some((c) => c.method === 'getTaskInfo'));
  const before = hub.hub.calls.length;
  await run('koji-init', { ...nvr('task3'), task_id: 0 });
  t.false(hub.hub.calls.slice(before).some((c) => c.method === 'getTaskInfo'));
});

/** Job services whose hub calls give up at once and whose koji-finalize waits `outageWait` seconds for the hub. */
function impatientServices(outageWait: number): JobServices {
  return createJobServices(
    loadConfig({
      env: {},
      overrides: {
        state_dir: dir,
        koji: { retry_attempts: 1, outage_wait_seconds: outageWait, hubs: [{ url: hub.url, auth: 'password', user: 'kiln', password_file: path.join(dir, 'pw') }] },
      },
    }),
    silentLogger,
  );
}

test.serial('koji-finalize outlasts a hub outage: it waits for the hub and then refunds', async (t) => {
  const init = (await run('koji-init', nvr('outage1'))) as { build_id: number; token: string };
  const patient = impatientServices(60);
  hub.setOffline(true);
  const back = setTimeout(() => hub.setOffline(false), 2_000);
  try {
    const err = await t.throwsAsync(
      run('koji-finalize', finalizeArgs('outage1'), { dependencies: [dep('koji-init', 'success', init), dep('osbuild', 'failure', null, 'stage failed')] }, [], { services: patient }),
    );
    t.regex(err!.message, /koji build \d+ failed: osbuild failure: stage failed/);
    t.is(hub.tables().builds[init.build_id].state, 3, 'FAILED once the hub was back');
  } finally {
    clearTimeout(back);
    hub.setOffline(false);
    await patient.close();
  }
});

test.serial('koji-finalize gives up on a hub outage after koji.outage_wait_seconds, or at once when the job is canceled', async (t) => {
  const init = (await run('koji-init', nvr('outage2'))) as { build_id: number; token: string };
  const deps = [dep('koji-init', 'success', init), dep('osbuild', 'failure', null, 'x')];
  const brief = impatientServices(1);
  const patient = impatientServices(600);
  hub.setOffline(true);
  try {
    const gaveUp = await t.throwsAsync(run('koji-finalize', finalizeArgs('outage2'), { dependencies: deps }, [], { services: brief }));
    t.regex(gaveUp!.message, /ServerOffline/);
    const cancel = new AbortController();
    const started = Date.now();
    setTimeout(() => cancel.abort(new Error('canceled')), 500);
    const canceled = await t.throwsAsync(run('koji-finalize', finalizeArgs('outage2'), { dependencies: deps }, [], { services: patient, signal: cancel.signal }));
    t.regex(canceled!.message, /ServerOffline/);
    t.true(Date.now() - started < 60_000, 'the cancel ended the wait');
    t.is(hub.tables().builds[init.build_id].state, 0, 'still BUILDING: nothing could reach the hub');
  } finally {
    hub.setOffline(false);
    await brief.close();
    await patient.close();
  }
  // what was left is refunded once the hub answers
  await t.throwsAsync(run('koji-finalize', finalizeArgs('outage2'), { dependencies: deps }));
  t.is(hub.tables().builds[init.build_id].state, 3);
});
