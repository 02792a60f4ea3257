/** The dev hub itself: HTTP surface, persistence, the `kiln dev-hub` command. */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import { fault, hubFixture, CG, USER, PASSWORD } from './helpers/koji-hub.js';
import { startDevHub } from '../src/devhub/index.js';
import { BuildState, KojiClient, buildCGMetadata, cancelBuild, cgImport, cgInitBuild, cgRefundBuild, getBuild, uploadFile } from '../src/koji/index.js';

function post(url: string, body: string, method = 'POST'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { 'Content-Type': 'text/xml' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? body : undefined);
  });
}

test('HTTP surface: POST only, 400 on garbage, Koji-Version on every reply', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const get = await post(f.hub.url, '', 'GET');
  t.is(get.status, 405);
  t.is(get.headers.allow, 'POST');
  const garbage = await post(f.hub.url, 'not xml at all <');
  t.is(garbage.status, 400);
  const ok = await post(f.hub.url, '<?xml version="1.0"?><methodCall><methodName>getAPIVersion</methodName><params></params></methodCall>');
  t.is(ok.status, 200);
  t.is(ok.headers['koji-version'], '1.35.3');
  t.regex(ok.body, /<int>1<\/int>/);
});

test('a retried request re-sends the same callnum; the next call takes the next one', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  await client.login();
  f.hub.setFaults({ rate: 1, kinds: ['http503', 'reset', 'fault'], limit: 2, methods: ['getAPIVersion'] });
  await client.call('getAPIVersion');
  await client.call('getAPIVersion');
  const seen = f.hub.hub.calls.filter((c) => c.method === 'getAPIVersion').map((c) => c.callnum);
  t.deepEqual(seen, [0, 0, 0, 1]);
});

test('state survives a restart on the same directory', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const r = await cgInitBuild(client, CG, { name: 'kept', version: '1', release: '1' });
  await client.close();
  await f.hub.close();
  const again = await startDevHub({ dir: f.hub.dir });
  t.teardown(() => again.close());
  const c2 = new KojiClient({ url: again.url, auth: { type: 'password', user: USER, password: PASSWORD } });
  t.teardown(() => c2.close());
  t.is((await getBuild(c2, r.build_id))!.nvr, 'kept-1-1');
});

test('`kiln dev-hub` prints its URL, serves, and stops on SIGTERM', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/devhub/cli.ts'), '--user', 'cli:secret', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('dev hub did not start in 20 s')), 20_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(out.split('\n')[0]);
      }
    });
  });
  const { url, dir } = JSON.parse(line);
  const client = new KojiClient({ url, auth: { type: 'password', user: 'cli', password: 'secret' }, retry: { attempts: 1 } });
  const r = await cgInitBuild(client, 'osbuild', { name: 'cli', version: '1', release: '1' });
  t.true(r.build_id > 0);
  await client.close();
  t.true(existsSync(dir), 'without --dir the hub keeps its state in a directory of its own');
  const code = await new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
  t.is(code, 0);
  t.false(existsSync(dir), 'and removes that directory when it stops');
});

test('`kiln dev-hub` refuses bad arguments with a message naming them', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/devhub/cli.ts'), '--user', 'nopassword'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  t.is(code, 2);
  t.is(err, 'kiln dev-hub: --user: must be NAME:PASSWORD, got nopassword\n');
});

test('cancelBuild: only the owner (or an admin) cancels, only a BUILDING build, and the NVR can be reserved again', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const owner = f.client();
  const { build_id } = await cgInitBuild(owner, CG, { name: 'cancel-me', version: '1', release: '1' });
  await f.hub.createUser({ name: 'someone', password: 'else' });
  const other = new KojiClient({ url: f.hub.url, auth: { type: 'password', user: 'someone', password: 'else' }, retry: { attempts: 1 } });
  t.teardown(() => other.close());
  const err = await t.throwsAsync(other.call('cancelBuild', [build_id]));
  t.regex(err!.message, /Cannot cancel build, not owner/);
  t.true(await cancelBuild(owner, build_id));
  t.is((await getBuild(owner, build_id))!.state, 4);
  t.false(build_id in f.hub.tables().reservations, 'the reservation went with it');
  t.false(await cancelBuild(owner, build_id), 'no longer BUILDING');
  const again = await cgInitBuild(owner, CG, { name: 'cancel-me', version: '1', release: '1' });
  t.is(again.build_id, build_id, 'recycled');
});

// ------------------------------------------------------------------------------------------------
// What koji 1.35.3's hub answers, call by call (recorded against the real hub run from its sources:
// /work/shared/real-peers/koji-hub); the dev hub must answer the same, fault code and text.

async function realHubBed() {
  const f = await hubFixture();
  await f.hub.createUser({ name: 'kojiadmin', password: 'admin-pw', admin: true });
  await f.hub.createUser({ name: 'someone', password: 'someone-pw' });
  const kiln = f.client({ retry: { attempts: 1 } });
  const admin = f.client({ auth: { type: 'password', user: 'kojiadmin', password: 'admin-pw' }, retry: { attempts: 1 } });
  const someone = f.client({ auth: { type: 'password', user: 'someone', password: 'someone-pw' }, retry: { attempts: 1 } });
  const anon = f.client({ auth: undefined, retry: { attempts: 1 } });
  return { f, kiln, admin, someone, anon };
}

test('makeTask: admins only, the owner option refused, make_task\'s argument checks; the task is FREE in its channel', async (t) => {
  const { f, kiln, admin, anon } = await realHubBed();
  t.teardown(() => f.close());
  t.deepEqual(await fault(anon.call('makeTask', ['osbuildImage', []])), [1004, 'admin permission required (user not logged in)']);
  t.deepEqual(await fault(kiln.call('makeTask', ['osbuildImage', []])), [1004, 'admin permission required (logged in as kiln)']);
  t.deepEqual(await fault(admin.call('makeTask', ['osbuildImage', []], { owner: 'kiln' })), [1004, 'The owner option is not allowed here']);
  t.deepEqual(await fault(admin.call('makeTask', [5, []])), [1019, "Invalid type for value '5': <class 'int'>, expected type <class 'str'>"]);
  t.deepEqual(await fault(admin.call('makeTask', ['osbuildImage', []], { channel: 'no-such-channel' })), [1000, 'No such channel: no-such-channel']);
  t.deepEqual(await fault(admin.call('makeTask', ['osbuildImage', []], { arch: 'x86_64 !!' })), [1000, 'Architecture can be only [a-zA-Z0-9_-]']);
  t.deepEqual(await fault(admin.call('makeTask', ['osbuildImage', []], { parent: 999999 })), [1000, 'Invalid parent task: 999999']);
  t.deepEqual(await fault(admin.call('makeTask', ['osbuildImage', []], { priority: 'high' })), [1019, "Invalid type for value 'high': <class 'str'>, expected type <class 'int'>"]);
  t.deepEqual(await fault(admin.call('makeTask', [])), [1, "<class 'TypeError'>: make_task() missing 2 required positional arguments: 'method' and 'arglist'"]);
  t.deepEqual(await fault(admin.call('makeTask', ['osbuildImage', 5])), [1, "<class 'TypeError'>: 'int' object is not iterable"]);

  const request = ['n', '1', 'd', ['t'], 'target', ['x86_64'], {}];
  const id = await admin.call<number>('makeTask', ['osbuildImage', request]);
  const info = await anon.call<Record<string, unknown>>('getTaskInfo', [id], { request: true });
  const { create_time, create_ts, ...rest } = info;
  t.regex(String(create_time), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?\+00:00$/);
  t.is(typeof create_ts, 'number');
  t.deepEqual(rest, {
    id, state: 0, method: 'osbuildImage', arch: 'noarch', channel_id: 1, host_id: null, parent: null, label: null, priority: 20, weight: 1,
    owner: (await admin.call<{ id: number }>('getLoggedInUser')).id, start_time: null, start_ts: null, completion_time: null, completion_ts: null,
    waiting: null, awaited: null, request,
  });
  const image = await admin.call<number>('makeTask', ['osbuildImage', []], { channel: 'image', arch: 'x86_64', priority: 5 });
  t.like(await anon.call('getTaskInfo', [image]), { channel_id: 7, arch: 'x86_64', priority: 5 });
  t.deepEqual(await fault(admin.call('makeTask', ['createImage', []], { parent: id })), [1000, `Parent task (id ${id}) is not open`]);
  t.is(f.hub.tables().tasks[id].state, 0);
});

test('getTaskInfo: None for an unknown task, "query returned no rows" when strict, ParameterError for what is no int', async (t) => {
  const { f, admin, anon } = await realHubBed();
  t.teardown(() => f.close());
  const id = await admin.call<number>('makeTask', ['osbuildImage', []]);
  t.is(await anon.call('getTaskInfo', [99999999]), null);
  t.deepEqual(await fault(anon.call('getTaskInfo', [99999999], { strict: true })), [1000, 'query returned no rows']);
  t.deepEqual(await fault(anon.call('getTaskInfo', ['abc'])), [1019, "Invalid type for value 'abc': <class 'str'>, expected type <class 'int'>"]);
  t.deepEqual(await fault(anon.call('getTaskInfo', [null])), [1019, "Invalid type, expected type <class 'int'>"]);
  t.is((await anon.call<{ id: number }>('getTaskInfo', [String(id)])).id, id);
  const list = await anon.call<Array<{ id: number } | null>>('getTaskInfo', [[id, 99999999]]);
  t.is(list[0]!.id, id);
  t.is(list[1], null);
  t.deepEqual(await fault(anon.call('getTaskInfo', [[id, 99999999]], { strict: true })), [1000, 'query returned no rows']);
});

/** A reservation and its three uploaded files, ready for CGImport. */
async function readyToImport(f: Awaited<ReturnType<typeof hubFixture>>, client: KojiClient, name: string) {
  const { build_id, token } = await cgInitBuild(client, CG, { name, version: '1', release: '1' });
  const dir = `cg/${name}`;
  const image = await uploadFile(client, await f.file(`${name}.qcow2`, `image of ${name}`), { directory: dir });
  const log = await uploadFile(client, await f.file(`${name}.log`, `log of ${name}`), { directory: dir });
  const metadata = buildCGMetadata({ name, version: '1', release: '1', buildId: build_id, startTime: 1_700_000_000, endTime: 1_700_000_100, images: [{ arch: 'x86_64', hostOs: 'fedora-43', osbuildVersion: '191', image, log }] });
  return { build_id, token, dir, metadata };
}

test('CGImport and the task id: null is a ParameterError, a task the hub does not have its database\'s foreign-key fault; the reservation survives both', async (t) => {
  const { f, kiln, admin } = await realHubBed();
  t.teardown(() => f.close());
  const { build_id, token, dir, metadata } = await readyToImport(f, kiln, 'tasks');
  const withTask = (taskId: unknown) => JSON.stringify({ ...metadata, build: { ...metadata.build, task_id: taskId } });
  t.deepEqual(await fault(kiln.call('CGImport', [withTask(null), dir, token])), [1019, "Invalid type, expected type <class 'int'>"]);
  t.deepEqual(await fault(kiln.call('CGImport', [withTask('abc'), dir, token])), [1019, "Invalid type for value 'abc': <class 'str'>, expected type <class 'int'>"]);
  t.deepEqual(await fault(kiln.call('CGImport', [withTask(99999999), dir, token])), [
    1,
    `<class 'psycopg2.errors.ForeignKeyViolation'>: insert or update on table "build" violates foreign key constraint "build_task_id_fkey"\nDETAIL:  Key (task_id)=(99999999) is not present in table "task".\n`,
  ]);
  t.is((await getBuild(kiln, build_id))!.state, BuildState.BUILDING);
  t.is(f.hub.tables().reservations[build_id]?.token, token);
  t.false(existsSync(path.join(f.hub.dir, 'packages', 'tasks', '1', '1')));

  const task = await admin.call<number>('makeTask', ['osbuildImage', []]);
  const info = await kiln.call<{ task_id: number; state: number }>('CGImport', [withTask(String(task)), dir, token]);
  t.is(info.state, BuildState.COMPLETE);
  t.is(info.task_id, task, 'a task id given as a string is converted, as int() does');
  // Without a reservation the same rule holds when the hub makes the build row.
  const unreserved = await readyToImport(f, kiln, 'unreserved');
  await cgRefundBuild(kiln, CG, unreserved.build_id, unreserved.token);
  const doc = { ...unreserved.metadata, build: { ...unreserved.metadata.build, task_id: 424242 } };
  delete (doc.build as { build_id?: number }).build_id;
  t.is((await fault(kiln.call('CGImport', [JSON.stringify(doc), unreserved.dir, null])))[0], 1);
  t.is((await getBuild(kiln, unreserved.build_id))!.state, BuildState.FAILED, 'the refunded build was not recycled');
});

test('CGInitBuild and CGRefundBuild conflicts in the hub\'s words', async (t) => {
  const { f, kiln, admin, anon, someone } = await realHubBed();
  t.teardown(() => f.close());
  const { build_id, token, dir, metadata } = await readyToImport(f, kiln, 'done');
  t.deepEqual(await fault(kiln.call('CGInitBuild', [CG, { name: 'done', version: '1', release: '1' }])), [1000, 'Build is already reserved']);
  await cgImport(kiln, metadata, dir, token);
  const pkg = f.hub.tables().packages;
  const pkgId = Object.values(pkg).find((p) => p.name === 'done')!.id;
  t.deepEqual(await fault(kiln.call('CGInitBuild', [CG, { name: 'done', version: '1', release: '1', epoch: 2, extra: { a: 1 } }])), [
    1000,
    `Build already exists (id=${build_id}, state=COMPLETE): {'name': 'done', 'version': '1', 'release': '1', 'epoch': 2, 'extra': '{"a": 1}', 'owner': 1, 'state': 0, 'completion_time': None, 'cg_id': 1, 'pkg_id': ${pkgId}, 'start_time': 'NOW', 'source': None, 'task_id': None, 'volume_id': 0, 'draft': False}`,
  ]);
  const task = await admin.call<number>('makeTask', ['osbuildImage', []]);
  const held = await kiln.call<{ build_id: number }>('CGInitBuild', [CG, { name: 'held', version: '1', release: '1', task_id: task }]);
  t.is((await getBuild(kiln, held.build_id))!.task_id, task);
  t.deepEqual(await fault(kiln.call('CGInitBuild', [CG, { name: 'held', version: '1', release: '1' }])), [1000, `Build already in progress (task ${task})`]);
  t.deepEqual(await fault(kiln.call('CGInitBuild', [CG, { name: 'held', version: '1', release: '1', task_id: task }])), [1000, 'Build is already reserved']);
  t.is((await fault(kiln.call('CGInitBuild', [CG, { name: 'notask', version: '1', release: '1', task_id: 99999999 }])))[0], 1);
  t.deepEqual(await fault(kiln.call('CGInitBuild', [CG, { name: 'x', version: '1' }])), [1, "<class 'KeyError'>: 'release'"]);
  t.deepEqual(await fault(kiln.call('CGInitBuild', [CG, { version: '1', release: '1' }])), [1000, 'No name or package id provided for build']);
  t.deepEqual(await fault(kiln.call('CGInitBuild', [CG, { name: 'a b', version: '1', release: '1' }])), [1000, 'Name a b does not match RegexNameInternal value']);
  t.deepEqual(await fault(kiln.call('CGInitBuild', [CG, 'x'])), [1, "<class 'TypeError'>: 'str' object does not support item assignment"]);
  // the CG is looked up before the login is checked
  t.deepEqual(await fault(anon.call('CGInitBuild', ['no-such-cg', { name: 'a', version: '1', release: '1' }])), [1000, 'No such entry in table content_generator: no-such-cg']);
  t.deepEqual(await fault(anon.call('CGInitBuild', [CG, { name: 'a', version: '1', release: '1' }])), [1002, 'Not logged-in']);
  // CGRefundBuild checks the state it is asked for before anything else
  t.deepEqual(await fault(anon.call('CGRefundBuild', [CG, held.build_id, 'x', 1])), [1000, 'Only FAILED/CANCELED build states are allowed']);
  t.deepEqual(await fault(someone.call('CGRefundBuild', [CG, held.build_id, 'x', 3])), [1002, 'Content generator access required (osbuild)']);
  t.deepEqual(await fault(kiln.call('CGRefundBuild', [CG, 99999999, 'x', 3])), [1000, 'No such build: 99999999']);
  t.deepEqual(await fault(kiln.call('CGRefundBuild', [CG, build_id, token, 3])), [1000, `Build ID ${build_id} is not in BUILDING state`]);
});

test('cancelBuild cancels the build\'s task too; its faults are the hub\'s', async (t) => {
  const { f, kiln, admin, anon, someone } = await realHubBed();
  t.teardown(() => f.close());
  const task = await admin.call<number>('makeTask', ['osbuildImage', []]);
  const { build_id } = await kiln.call<{ build_id: number }>('CGInitBuild', [CG, { name: 'withtask', version: '1', release: '1', task_id: task }]);
  t.deepEqual(await fault(anon.call('cancelBuild', [build_id])), [1004, 'you must be logged in for this operation']);
  t.deepEqual(await fault(someone.call('cancelBuild', [build_id])), [1004, 'Cannot cancel build, not owner']);
  t.false(await kiln.call('cancelBuild', [99999999]));
  t.deepEqual(await fault(kiln.call('cancelBuild', [99999999], { strict: true })), [1000, 'No such build: 99999999']);
  t.deepEqual(await fault(kiln.call('cancelBuild', ['abc'])), [1000, 'invalid format: abc']);
  t.true(await kiln.call('cancelBuild', ['withtask-1-1']));
  t.is((await anon.call<{ state: number }>('getTaskInfo', [task])).state, 3, 'CANCELED');
});

test('argument, permission and multiCall faults carry Python\'s texts', async (t) => {
  const { f, kiln, anon } = await realHubBed();
  t.teardown(() => f.close());
  t.deepEqual(await fault(anon.call('getBuild', [])), [1019, "get_build() missing 1 required positional argument: 'buildInfo'"]);
  t.deepEqual(await fault(anon.call('getBuild', [1, false, 3])), [1019, 'get_build() takes from 1 to 2 positional arguments but 3 were given']);
  t.deepEqual(await fault(anon.call('getBuild', [1], { bogus: 1 })), [1019, "get_build() got an unexpected keyword argument 'bogus'"]);
  t.deepEqual(await fault(anon.call('cancelBuild', [1, 2, 3])), [1019, 'RootExports.cancelBuild() takes from 2 to 3 positional arguments but 4 were given']);
  t.deepEqual(await fault(anon.call('checkUpload', [])), [1019, "RootExports.checkUpload() missing 2 required positional arguments: 'path' and 'name'"]);
  t.deepEqual(await fault(anon.call('getPerms', [1])), [1019, 'RootExports.getPerms() takes 1 positional argument but 2 were given']);
  t.deepEqual(await fault(anon.call('getBuild', [{ name: 'x', version: '1', release: '1' }], { strict: true })), [1000, "No such build: {'name': 'x', 'version': '1', 'release': '1'}"]);
  t.deepEqual(await fault(anon.call('getBuild', ['x-1-1'], { strict: true })), [1000, "No such build: 'x-1-1'"]);
  t.deepEqual(await fault(anon.call('getBuild', [1.5])), [1000, "Invalid type for argument: <class 'float'>"]);
  t.deepEqual(await fault(anon.call('getUser', ['nobody'], { strict: true })), [1000, "No such user: 'nobody'"]);
  t.deepEqual(await fault(kiln.call('grantCGAccess', ['someone', CG])), [1004, 'admin permission required (logged in as kiln)']);
  t.deepEqual(await fault(anon.call('tagBuild', ['t', 1])), [1004, 'you must be logged in for this operation']);
  t.deepEqual(await fault(anon.call('getNextRelease', [{ version: '1' }])), [1, "<class 'KeyError'>: 'name'"]);
  t.deepEqual(await fault(anon.call('listArchives', [], { buildID: 99999999, strict: true })), [1000, 'No archives found.']);
  t.deepEqual(await anon.call('getPerms'), []);
  t.deepEqual(await fault(kiln.call('logout', [999999])), [1000, 'query returned no rows']);
  // in a multiCall a Python exception is reported without its class; calls may nest
  const results = await kiln.call<unknown[]>('multiCall', [
    [
      { methodName: 'getAPIVersion', params: [] },
      { methodName: 'CGInitBuild', params: [CG, { name: 'mc', version: '1' }] },
      { methodName: 'noSuchMethod', params: [] },
      { methodName: 'multiCall', params: [[]] },
    ],
  ]);
  t.deepEqual(results[0], [1]);
  t.like(results[1], { faultCode: 1, faultString: 'release' });
  t.like(results[2], { faultCode: 1000, faultString: 'Invalid method: noSuchMethod' });
  t.deepEqual(results[3], [[]]);
});

test('a CGImport that fails after the hub moved a file deletes the build directory: the moved upload is gone, its symlink dangles', async (t) => {
  const { f, kiln } = await realHubBed();
  t.teardown(() => f.close());
  const { build_id, token, dir, metadata } = await readyToImport(f, kiln, 'half');
  // the same image twice: the second is already in the build directory when the hub gets to it
  const doc = { ...metadata, output: [metadata.output[0], metadata.output[0], ...metadata.output.slice(1)] };
  const [code, text] = await fault(kiln.call('CGImport', [JSON.stringify(doc), dir, token]));
  t.is(code, 1000);
  t.is(text, `Error importing archive file, ${path.join(f.hub.dir, 'packages/half/1/1/images/half.qcow2')} already exists`);
  t.false(existsSync(path.join(f.hub.dir, 'packages/half/1/1')));
  const upload = path.join(f.hub.dir, 'work', dir, 'half.qcow2');
  t.true((await lstat(upload)).isSymbolicLink());
  t.false(existsSync(upload), 'the symlink points nowhere');
  t.is((await getBuild(kiln, build_id))!.state, BuildState.BUILDING);
  // uploading that file again meets the symlink
  const again = await t.throwsAsync(uploadFile(kiln, await f.file('half.qcow2', 'image of half'), { directory: dir, resume: false }));
  t.regex(again!.message, new RegExp(`destination is a symlink: ${upload.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
});

test('uploads: tasks/ is for the builder host running the task, an absolute directory is a ValueError', async (t) => {
  const { f, kiln } = await realHubBed();
  t.teardown(() => f.close());
  const q = { filename: 'a.txt', offset: '0', fileverify: 'adler32' };
  t.deepEqual(await fault(kiln.uploadChunk({ ...q, filepath: 'tasks/1/1' }, Buffer.from('a'))), [1002, 'User 1 is not a host']);
  t.deepEqual(await fault(kiln.uploadChunk({ ...q, filepath: 'tasks/1' }, Buffer.from('a'))), [1000, 'Invalid task upload directory: tasks/1']);
  t.deepEqual(await fault(kiln.uploadChunk({ ...q, filepath: '/x' }, Buffer.from('a'))), [1, "<class 'ValueError'>: Invalid path segment: /x"]);
  t.deepEqual(await fault(kiln.uploadChunk({ ...q, filepath: 'u', offset: '-5' }, Buffer.from('a'))), [1, "<class 'OSError'>: [Errno 22] Invalid argument"]);
  t.deepEqual(await fault(kiln.uploadChunk({ ...q, filepath: 'v', fileverify: '' }, Buffer.from('a'))), [1, "<class 'TypeError'>: 'NoneType' object is not callable"]);
});
