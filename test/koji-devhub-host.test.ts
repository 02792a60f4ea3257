/**
 * The dev hub's build-host side, as koji 1.35.3's hub does it: host sessions, task
 * open/close/fail, subtasks and waiting, uploads into task directories, scratch image moves,
 * what tasks produced, and Kiln's hub plugin call host.kilnAttachImages.
 */
import test from 'ava';
import { existsSync, lstatSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { fault, hubFixture, CG } from './helpers/koji-hub.js';
import { buildCGMetadata, cgImport, cgInitBuild, uploadFile, type KojiClient } from '../src/koji/index.js';
import { encodeFault, encodeResponse } from '../src/koji/xmlrpc.js';

async function bed(options: { plugins?: string[] } = {}) {
  const f = await hubFixture({ autoRunTagTasks: true, ...options });
  await f.hub.createUser({ name: 'kojiadmin', password: 'admin-pw', admin: true });
  await f.hub.createHost({ name: 'builder1', password: 'b1', arches: ['x86_64', 'aarch64'], channels: ['default', 'image'] });
  await f.hub.createHost({ name: 'builder2', password: 'b2', arches: ['x86_64'], channels: ['image'] });
  await f.hub.createTag('f43-build', [], { arches: 'x86_64 aarch64', extra: { 'mock.new_chroot': 0 } });
  await f.hub.createTag('f43-candidate', ['fedora-guest']);
  await f.hub.createBuildTarget('f43-candidate', 'f43-build', 'f43-candidate');
  const client = (user: string, password: string) => f.client({ auth: { type: 'password', user, password }, retry: { attempts: 1 } });
  const admin = client('kojiadmin', 'admin-pw');
  const b1 = client('builder1', 'b1');
  const b2 = client('builder2', 'b2');
  return { f, admin, b1, b2, kiln: f.client({ retry: { attempts: 1 } }) };
}

/** koji.xmlrpcplus.dumps((value,), methodresponse=1): what kojid closes a task with */
const closed = (value: unknown) => encodeResponse(value);

test('host sessions: a host needs its exclusive lock; another session of it is locked out; tasks are assigned by channel and arch', async (t) => {
  const { f, admin, b1, kiln } = await bed();
  t.teardown(() => f.close());
  t.deepEqual(await fault(kiln.call('host.getID')), [1002, 'User 1 is not a host']);
  t.deepEqual(await fault(b1.call('host.getID')), [1002, 'This method requires an exclusive session']);
  await b1.call('exclusiveSession');
  t.is(await b1.call('host.getID'), 1);
  t.deepEqual(await fault(b1.call('exclusiveSession')), [1000, 'session is already exclusive']);
  const other = f.client({ auth: { type: 'password', user: 'builder1', password: 'b1' }, retry: { attempts: 1 } });
  t.deepEqual(await fault(other.call('getAPIVersion')), [1006, 'User locked by another session']);

  const image = (await admin.call('makeTask', ['osbuildImage', []], { channel: 'image' })) as number;
  const arm = (await admin.call('makeTask', ['createrepo', []], { channel: 'image', arch: 'aarch64' })) as number;
  const ppc = (await admin.call('makeTask', ['createrepo', []], { channel: 'image', arch: 'ppc64le' })) as number;
  const tasks = (await b1.call('host.getTasks')) as Array<{ id: number; state: number; host_id: number }>;
  t.deepEqual(tasks.map((x) => [x.id, x.state, x.host_id]), [[image, 4, 1], [arm, 4, 1]], 'ASSIGNED to the host; ppc64le is no arch of it');
  t.is(f.hub.tables().tasks[ppc].state, 0);
  const opened = (await b1.call('host.openTask', [image])) as { state: number; request: unknown[] };
  t.like(opened, { state: 1, request: [] });
  t.is(await b1.call('host.openTask', [image]), null, 'an OPEN task cannot be opened again');
});

test('subtasks and waiting: a label gives the same child back, results and faults come back as the hub reads them, canfail children as fault dicts', async (t) => {
  const { f, admin, b1, b2 } = await bed();
  t.teardown(() => f.close());
  await b1.call('exclusiveSession');
  await b2.call('exclusiveSession');
  const parent = (await admin.call('makeTask', ['imageBuilderBuild', ['t', [], ['minimal-raw'], 'N', '1', {}]], { channel: 'image' })) as number;
  t.deepEqual(await fault(b1.call('host.subtask', ['x', [], parent], { label: 'x86_64' })), [1004, `host 1 does not own task ${parent}`]);
  await b1.call('host.openTask', [parent]);
  const sub = (label: string, arch: string) => b1.call('host.subtask', [], { method: 'imageBuilderBuildArch', arglist: ['N', '1', '1', arch, { scratch: true }], parent, label, arch }) as Promise<number>;
  const x = await sub('x86_64', 'x86_64');
  const a = await sub('aarch64', 'aarch64');
  t.is(await sub('x86_64', 'x86_64'), x, 'the existing child of that label');
  t.deepEqual(await fault(b1.call('host.subtask', ['tagBuild', [], parent], { owner: 'kojiadmin' })), [1004, 'The owner option is not allowed here']);
  const tables = f.hub.tables();
  t.like(tables.tasks[x], { parent, label: 'x86_64', arch: 'x86_64', priority: 19, channel_id: 7, method: 'imageBuilderBuildArch' });
  await b1.call('host.taskSetWait', [parent, [x, a]]);
  t.deepEqual(await b1.call('host.taskWait', [parent]), [[], [x, a]]);
  // builder2 (x86_64 only) takes the x86_64 child and closes it with a result; builder1 fails the other
  t.deepEqual(((await b2.call('host.getTasks')) as Array<{ id: number }>).map((z) => z.id), [x]);
  await b2.call('host.openTask', [x]);
  await b1.call('host.openTask', [a]);
  const result = { task_id: x, name: 'N', files: ['N-1-1.x86_64.qcow2'], logs: [], rpmlist: [] };
  await b2.call('host.closeTask', [x, closed(result)]);
  t.deepEqual(await fault(b2.call('host.failTask', [a, encodeFault(1005, 'image-builder failed')])), [1004, `host 2 does not own task ${a}`]);
  await b1.call('host.failTask', [a, encodeFault(1005, 'image-builder failed')]);
  t.deepEqual(await b1.call('host.taskWait', [parent]), [[x, a], []]);
  t.deepEqual(await b1.call('getTaskResult', [x]), result);
  t.deepEqual(await fault(b1.call('getTaskResult', [a])), [1005, 'image-builder failed']);
  t.deepEqual(await b1.call('getTaskResult', [a], { raise_fault: false }), { faultCode: 1005, faultString: 'image-builder failed' });
  t.deepEqual(await fault(b1.call('host.taskWaitResults', [parent, [x, a]])), [1005, 'image-builder failed']);
  t.deepEqual(await b1.call('host.taskWaitResults', [parent, [x, a]], { canfail: [a] }), [[x, result], [a, { faultCode: 1005, faultString: 'image-builder failed' }]]);
  const children = (await admin.call('getTaskChildren', [parent], { request: true })) as Array<{ id: number; request: unknown[] }>;
  t.deepEqual(children.map((c) => [c.id, (c.request.at(-1) as { scratch: boolean }).scratch]), [[x, true], [a, true]], 'Pungi reads the last request element');
  t.deepEqual(await fault(admin.call('getTaskResult', [parent])), [1000, `Task ${parent} is not finished`]);
});

test('cancel: a task and its children, with the owner, the host or an admin; a canceled canfail child comes back as a fault dict', async (t) => {
  const { f, admin, b1, kiln } = await bed();
  t.teardown(() => f.close());
  await b1.call('exclusiveSession');
  const parent = (await admin.call('makeTask', ['image', []], { channel: 'image' })) as number;
  await b1.call('host.openTask', [parent]);
  const c1 = (await b1.call('host.subtask', ['createImage', [{}], parent], { label: 'x86_64', arch: 'x86_64' })) as number;
  const c2 = (await b1.call('host.subtask', ['createImage', [{}], parent], { label: 'aarch64', arch: 'aarch64' })) as number;
  t.deepEqual(await fault(kiln.call('cancelTask', [c1])), [1004, 'Cannot cancel task, not owner']);
  await b1.call('cancelTaskChildren', [parent]);
  t.deepEqual([c1, c2].map((id) => f.hub.tables().tasks[id].state), [3, 3]);
  t.deepEqual(await b1.call('host.taskWaitResults', [parent, [c1, c2]], { canfail: [c1, c2] }), [
    [c1, { faultCode: 1000, faultString: `Task ${c1} is canceled` }],
    [c2, { faultCode: 1000, faultString: `Task ${c2} is canceled` }],
  ]);
  await admin.call('cancelTask', [parent]);
  t.is(f.hub.tables().tasks[parent].state, 3);
  t.deepEqual(await fault(b1.call('host.closeTask', [parent, closed(1)])), [1004, `host 1 does not own task ${parent}`]);
});

test('task directories: only the host running the task uploads there; listTaskOutput and downloadTaskOutput read them; scratch images move to scratch/<owner>/task_<id>', async (t) => {
  const { f, admin, b1, b2 } = await bed();
  t.teardown(() => f.close());
  await b1.call('exclusiveSession');
  await b2.call('exclusiveSession');
  const task = (await admin.call('makeTask', ['imageBuilderBuild', []], { channel: 'image' })) as number;
  await b1.call('host.openTask', [task]);
  const dir = `tasks/${task % 10000}/${task}`;
  const q = { filename: 'N-1-1.x86_64.qcow2', filepath: dir, offset: '0', fileverify: 'adler32' };
  t.deepEqual(await fault(b2.uploadChunk(q, Buffer.from('x'))), [1004, `host 2 does not own task ${task}`]);
  t.deepEqual(await fault(admin.uploadChunk(q, Buffer.from('x'))), [1002, 'User 2 is not a host']);
  await b1.uploadChunk(q, Buffer.from('qcow2 bytes'));
  await b1.uploadChunk({ ...q, filename: 'kiln-progress.log' }, Buffer.from('progress\n'));
  t.false(existsSync(path.join(f.hub.dir, 'work', dir, '.user')), 'no owner file in a task directory');
  t.deepEqual(((await admin.call('listTaskOutput', [task])) as string[]).sort(), ['N-1-1.x86_64.qcow2', 'kiln-progress.log']);
  t.like(await admin.call('listTaskOutput', [task], { stat: true, all_volumes: true }), { 'kiln-progress.log': { DEFAULT: { st_size: '9' } } });
  t.is(Buffer.from((await admin.call('downloadTaskOutput', [task, 'kiln-progress.log'])) as string, 'base64').toString(), 'progress\n');
  t.is(Buffer.from((await admin.call('downloadTaskOutput', [task, 'kiln-progress.log'], { offset: 2, size: 3 })) as string, 'base64').toString(), 'ogr');
  t.deepEqual(await fault(admin.call('downloadTaskOutput', [task, 'nope'])), [1000, `no file "nope" output by task ${task}`]);
  t.deepEqual(await fault(admin.call('downloadTaskOutput', [task, '../x'])), [1000, 'Invalid file name: ../x']);
  t.deepEqual(await admin.call('listTaskOutput', [999]), []);
  t.deepEqual(await fault(admin.call('listTaskOutput', [999], { strict: true })), [1000, "Task doesn't exist"]);

  const results = { [String(task)]: { task_id: task, files: ['N-1-1.x86_64.qcow2'], logs: ['kiln-progress.log'] }, failed: { faultCode: 1, faultString: 'x' } };
  await b1.call('host.moveImageBuildToScratch', [task, results]);
  const scratch = path.join(f.hub.dir, 'scratch', 'kojiadmin', `task_${task}`, 'N-1-1.x86_64.qcow2');
  t.is(readFileSync(scratch, 'utf8'), 'qcow2 bytes');
  const link = path.join(f.hub.dir, 'work', dir, 'N-1-1.x86_64.qcow2');
  t.true(lstatSync(link).isSymbolicLink());
  t.is(readFileSync(link, 'utf8'), 'qcow2 bytes', 'the task directory keeps a symlink to it');
  t.deepEqual(await fault(b1.call('host.moveImageBuildToScratch', [task, []])), [1019, "Invalid type for value '': <class 'list'>, expected type <class 'dict'>"]);
});

test('what a builder reads: build configs, repos, package lists, latest builds, image builds', async (t) => {
  const { f, admin } = await bed();
  t.teardown(() => f.close());
  t.like(await admin.call('getBuildConfig', ['f43-build']), { name: 'f43-build', arches: 'x86_64 aarch64', extra: { 'mock.new_chroot': 0 } });
  t.is(await admin.call('getRepo', ['f43-build']), null);
  const repo = await f.hub.createRepo('f43-build');
  const info = (await admin.call('getRepo', ['f43-build'])) as Record<string, unknown>;
  t.like(info, { id: repo, tag_name: 'f43-build', state: 1, dist: false, task_id: null, task_state: null, end_event: null });
  // koji 1.35.3's getRepo (repos.old_get_repo) answers every RepoQuery field ('**'), as the real hub did here
  t.deepEqual(Object.keys(info).sort(), [
    'begin_event', 'begin_ts', 'create_event', 'create_ts', 'creation_time', 'creation_ts', 'custom_opts', 'dist', 'end_event', 'end_ts',
    'id', 'opts', 'state', 'state_time', 'state_ts', 'tag_id', 'tag_name', 'task_id', 'task_state',
  ]);
  t.deepEqual(info.opts, { src: false, debuginfo: false, separate_src: false, maven: false });
  t.is(await admin.call('getRepo', ['f43-build'], { dist: true }), null, 'no dist repo');
  t.is(await admin.call('getRepo', ['f43-build'], { state: 0 }), null, 'no INIT repo');
  t.like(await admin.call('getRepo', ['f43-build'], { event: info.create_event }), { id: repo }, 'an event looks back');
  t.is(await admin.call('getRepo', ['f43-build'], { min_event: (info.create_event as number) + 1 }), null);
  t.like(await admin.call('getPackageConfig', ['f43-candidate', 'fedora-guest']), { tag_name: 'f43-candidate', blocked: false });
  t.is(await admin.call('getPackageConfig', ['f43-candidate', 'other']), null);
  const release = await f.hub.createBuild({ name: 'fedora-release', version: '43', release: '0.23' });
  await f.hub.tagBuild('f43-build', release);
  t.deepEqual(((await admin.call('getLatestBuilds', ['f43-build'], { package: 'fedora-release' })) as Array<{ nvr: string }>).map((b) => b.nvr), ['fedora-release-43-0.23']);
  t.is(await admin.call('getImageBuild', ['fedora-release-43-0.23']), null, 'not an image build');
  t.deepEqual(await fault(admin.call('getTag', ['nope'], { strict: true })), [1000, "No such tagInfo: 'nope'"]);
});

test("Kiln's hub plugin: host.kilnAttachImages moves a scratch build's files from a CG's upload directory into the task's, or links an imported build's images there", async (t) => {
  const { f, admin, b1, kiln } = await bed({ plugins: ['kiln'] });
  t.teardown(() => f.close());
  await b1.call('exclusiveSession');
  const parent = (await admin.call('makeTask', ['imageBuilderBuild', []], { channel: 'image' })) as number;
  await b1.call('host.openTask', [parent]);
  const child = (await b1.call('host.subtask', ['imageBuilderBuildArch', [{}], parent], { label: 'x86_64', arch: 'x86_64' })) as number;
  await b1.call('host.openTask', [child]);
  // Kiln (a CG user) uploaded a scratch build's image
  const up = await uploadFile(kiln, await f.file('N-1-1.x86_64.qcow2', 'image'), { directory: 'kiln-cg/c1/i1' });
  t.deepEqual(await b1.call('host.kilnAttachImages', [child, { directory: 'kiln-cg/c1/i1' }, [up.name]]), [up.name]);
  const dest = path.join(f.hub.dir, 'work', `tasks/${child % 10000}/${child}`);
  t.is(readFileSync(path.join(dest, up.name), 'utf8'), 'image');
  t.false(existsSync(path.join(f.hub.dir, 'work', 'kiln-cg/c1/i1', up.name)), 'moved, not copied');
  t.deepEqual(await fault(b1.call('host.kilnAttachImages', [child, { directory: 'kiln-cg/c1/i1' }, [up.name]])), [1000, `No such file: kiln-cg/c1/i1/${up.name}`]);
  // somebody else's upload directory is not Kiln's to give
  await f.hub.createUser({ name: 'someone', password: 'pw' });
  const someone = f.client({ auth: { type: 'password', user: 'someone', password: 'pw' }, retry: { attempts: 1 } });
  await uploadFile(someone, await f.file('other.qcow2', 'x'), { directory: 'cli-image/1' });
  t.deepEqual(await fault(b1.call('host.kilnAttachImages', [child, { directory: 'cli-image/1' }, ['other.qcow2']])), [1004, "cli-image/1 is not a content generator's upload directory"]);
  t.deepEqual(await fault(b1.call('host.kilnAttachImages', [parent + 100, { directory: 'x' }, ['a']])), [1000, `No such task: ${parent + 100}`]);

  // an imported build of the parent task: its image archives are linked into the child's directory
  const build = await importImageBuild(kiln, f, parent);
  t.deepEqual(await b1.call('host.kilnAttachImages', [child, { build_id: build }, ['N-1-2.x86_64.qcow2']]), ['N-1-2.x86_64.qcow2']);
  const link = path.join(dest, 'N-1-2.x86_64.qcow2');
  t.true(lstatSync(link).isSymbolicLink());
  t.is(readFileSync(link, 'utf8'), 'built image');
  t.regex(readlinkSync(link), /^\.\.\/\.\.\/\.\.\/\.\.\/packages\/N\/1\/2\/images\/N-1-2\.x86_64\.qcow2$/);
  t.deepEqual(await fault(b1.call('host.kilnAttachImages', [child, { build_id: build }, ['nope.qcow2']])), [1000, `nope.qcow2 is not an image archive of build ${build}`]);

  // a hub without the plugin has no such call
  const plain = await bed();
  t.teardown(() => plain.f.close());
  await plain.b1.call('exclusiveSession');
  t.deepEqual(await fault(plain.b1.call('host.kilnAttachImages', [1, { build_id: 1 }, ['x']])), [1000, 'Invalid method: host.kilnAttachImages']);
});

async function importImageBuild(kiln: KojiClient, f: Awaited<ReturnType<typeof bed>>['f'], taskId: number): Promise<number> {
  const { build_id, token } = await cgInitBuild(kiln, CG, { name: 'N', version: '1', release: '2' });
  const dir = 'kiln-cg/c2/i1';
  const image = await uploadFile(kiln, await f.file('N-1-2.x86_64.qcow2', 'built image'), { directory: dir });
  const log = await uploadFile(kiln, await f.file('N-1-2.x86_64.qcow2.osbuild.log', 'log'), { directory: dir });
  const metadata = buildCGMetadata({
    name: 'N', version: '1', release: '2', buildId: build_id, taskId, startTime: 1, endTime: 2, contentGenerator: CG,
    images: [{ arch: 'x86_64', hostOs: 'fedora-43', osbuildVersion: '191', image: { ...image }, log: { ...log } }],
  });
  await cgImport(kiln, metadata, dir, token);
  return build_id;
}
