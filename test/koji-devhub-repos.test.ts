/**
 * The dev hub's repos judged as koji 1.35.3's hub and kojid judge them: kojid's getRepo
 * (koji.util.RepoWatcher) asks repo.request for a repo not older than min(the last event before
 * now − RepoLag, the build tag's last change), or tagLastChangeEvent with wait=True; a stale repo
 * gets a queued request that kojira (the dev hub here) fulfils with a new repo at a later event.
 */
import test from 'ava';
import { fault, hubFixture } from './helpers/koji-hub.js';

type Row = Record<string, unknown>;
type Check = { repo: Row | null; request: Row | null; duplicate?: boolean; task?: Row };

async function bed() {
  const f = await hubFixture({ autoRunTagTasks: true });
  await f.hub.createUser({ name: 'kojiadmin', password: 'admin-pw', admin: true });
  await f.hub.createUser({ name: 'alice', password: 'alice-pw' });
  await f.hub.createTag('f43-build', [], { arches: 'x86_64' });
  const admin = f.client({ auth: { type: 'password', user: 'kojiadmin', password: 'admin-pw' }, retry: { attempts: 1 } });
  const alice = f.client({ auth: { type: 'password', user: 'alice', password: 'alice-pw' }, retry: { attempts: 1 } });
  return { f, admin, alice, anon: f.client({ auth: undefined, retry: { attempts: 1 } }) };
}

test('a repo newer than the tag\'s last change is current; tagging a build after it makes it stale for min_event="last"', async (t) => {
  const { f, admin } = await bed();
  t.teardown(() => f.close());
  const repoId = await f.hub.createRepo('f43-build');
  const repo = (await admin.call('repo.get', ['f43-build'])) as Row;
  t.like(repo, { id: repoId, state: 1, tag_name: 'f43-build' });
  const last = (await admin.call('tagLastChangeEvent', ['f43-build'])) as number;
  t.true((repo.create_event as number) > last, 'the repo was made after the tag');
  t.like(await admin.call('repo.request', ['f43-build'], { min_event: 'last' }), { repo: { id: repoId }, request: null, duplicate: false });

  const build = await f.hub.createBuild({ name: 'fedora-release', version: '43', release: '1' });
  await f.hub.tagBuild('f43-build', build);
  const changed = (await admin.call('tagLastChangeEvent', ['f43-build'])) as number;
  t.true(changed > (repo.create_event as number), 'tagging is a later change of the tag');
  t.is(await admin.call('tagLastChangeEvent', ['f43-build'], { before: changed }), last, 'before looks back');
  t.is(await admin.call('tagFirstChangeEvent', ['f43-build']), last, 'the tag\'s creation');
  t.is(await admin.call('tagFirstChangeEvent', ['f43-build'], { after: repo.create_event }), changed, 'what ended the repo');
  t.is(await admin.call('repo.get', ['f43-build'], { min_event: changed }), null, 'no repo as new as the change');
  t.like(await admin.call('repo.get', ['f43-build'], { min_event: last }), { id: repoId });

  const check = (await admin.call('repo.request', ['f43-build'], { min_event: 'last' })) as Check;
  t.is(check.repo, null, 'the repo is older than the tag\'s last change: not current');
  t.like(check.request, { tag_id: repo.tag_id, tag_name: 'f43-build', min_event: changed, at_event: null, active: true, repo_id: null, task_id: null, tries: 0, priority: 20, owner_name: 'kojiadmin', opts: {} });
  t.false(check.duplicate);
  const again = (await admin.call('repo.request', ['f43-build'], { min_event: 'last' })) as Check;
  t.like(again, { repo: null, duplicate: true, request: { id: check.request!.id } }, 'the same request is given back');
});

test('the request path: repo.checkRequest (the dev hub as kojira) yields a new repo at a later create_event through a newRepo task', async (t) => {
  const { f, admin, alice } = await bed();
  t.teardown(() => f.close());
  const oldId = await f.hub.createRepo('f43-build');
  const old = (await admin.call('getRepo', ['f43-build'])) as Row;
  await f.hub.tagBuild('f43-build', await f.hub.createBuild({ name: 'fedora-release', version: '43', release: '1' }));
  const { request } = (await alice.call('repo.request', ['f43-build'], { min_event: 'last' })) as Check;
  const done = (await alice.call('repo.checkRequest', [request!.id])) as Check;
  t.like(done.request, { id: request!.id, active: false, tries: 1 });
  const repo = done.repo!;
  t.not(repo.id, oldId);
  t.true((repo.create_event as number) > (old.create_event as number), 'a later create_event');
  t.true((repo.create_event as number) >= (request!.min_event as number), 'satisfies the request');
  t.is(done.request!.repo_id, repo.id);
  t.like(repo, { state: 1, tag_name: 'f43-build', task_state: 2, opts: { src: false, debuginfo: false, separate_src: false, maven: false }, custom_opts: {} });
  const task = (await admin.call('getTaskInfo', [repo.task_id], { request: true })) as Row;
  t.like(task, { method: 'newRepo', state: 2, priority: 15, channel_id: 2 });
  t.deepEqual(task.request, [{ id: repo.tag_id, name: 'f43-build' }, { __starstar: true, opts: {} }]);
  t.deepEqual(await admin.call('getTaskResult', [repo.task_id]), [repo.id, repo.create_event], 'newRepo returns [repo_id, event_id]');
  t.like(await admin.call('getRepo', ['f43-build']), { id: repo.id }, 'the newest repo');
  t.like(await alice.call('repo.request', ['f43-build'], { min_event: 'last' }), { repo: { id: repo.id }, request: null }, 'current now');
});

test('the default min_event: a tag changed within RepoLag keeps its older repo; once the change is older than RepoLag, the repo is stale', async (t) => {
  const { f, admin } = await bed();
  t.teardown(() => f.close());
  const repoId = await f.hub.createRepo('f43-build');
  await f.hub.tagBuild('f43-build', await f.hub.createBuild({ name: 'fedora-release', version: '43', release: '1' }));
  // no event older than an hour: min_event is the tag's first event, which the repo is newer than
  t.like(await admin.call('repo.request', ['f43-build']), { repo: { id: repoId }, request: null });

  await f.hub.ageEvents(2 * 3600);
  const changed = (await admin.call('tagLastChangeEvent', ['f43-build'])) as number;
  const check = (await admin.call('repo.request', ['f43-build'])) as Check;
  t.is(check.repo, null, 'the tag changed after the repo, more than RepoLag ago');
  t.is(check.request!.min_event, changed);

  // a tag's repo.lag overrides RepoLag
  await f.hub.createTag('f43-lag', [], { extra: { 'repo.lag': 3 * 3600 } });
  const lagRepo = await f.hub.createRepo('f43-lag');
  await f.hub.tagBuild('f43-lag', await f.hub.createBuild({ name: 'bash', version: '5', release: '1' }));
  await f.hub.ageEvents(2 * 3600);
  t.like(await admin.call('repo.request', ['f43-lag']), { repo: { id: lagRepo }, request: null });
});

test('repo calls fail as the hub\'s do', async (t) => {
  const { f, admin, alice, anon } = await bed();
  t.teardown(() => f.close());
  t.deepEqual(await fault(anon.call('repo.request', ['f43-build'])), [1004, 'you must be logged in for this operation']);
  t.deepEqual(await fault(admin.call('repo.request', ['nope'])), [1000, "No such tagInfo: 'nope'"]);
  t.deepEqual(await fault(admin.call('repo.get', ['nope'])), [1000, 'No such entry in table tag: nope']);
  t.deepEqual(await fault(admin.call('repo.request', ['f43-build'], { min_event: 1, at_event: 1 })), [1019, 'The min_event and at_event options conflict']);
  t.deepEqual(await fault(admin.call('repo.request', ['f43-build'], { min_event: 999 })), [1019, 'Invalid event: 999']);
  t.deepEqual(await fault(admin.call('repo.request', ['f43-build'], { opts: { bogus: true } })), [1019, 'Invalid repo option: bogus']);
  t.deepEqual(await fault(admin.call('repo.request', ['f43-build'], { opts: [] })), [1019, 'Repo opts must be a dictionary']);
  t.deepEqual(await fault(admin.call('repo.request', ['f43-build'], { opts: { maven: true } })), [1000, 'Maven support not enabled']);
  t.deepEqual(await fault(alice.call('repo.request', ['f43-build'], { priority: -5 })), [1004, 'only admins may create high-priority requests']);
  t.deepEqual(await fault(admin.call('repo.checkRequest', [42])), [1000, 'No such request']);
  t.deepEqual(await fault(admin.call('getEvent', [999])), [1000, 'query returned no rows']);
  t.is(await admin.call('getEvent', [999], { strict: false }), null);
  t.deepEqual(await fault(admin.call('getLastEvent', [], { before: 'x' })), [1000, "Invalid type for before: <class 'str'>"]);
  t.like(await admin.call('getLastEvent'), { id: 1 });
});
