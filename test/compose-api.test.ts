import test from 'ava';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/api/app.js';
import { silentLogger } from '../src/log.js';
import { API_BASE, composeActivity } from '../src/compose/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

let db: TestDatabase;
let app: FastifyInstance;
const HUB = 'https://koji.example.test/kojihub';

test.before(async () => {
  db = await createTestDatabase();
  app = await buildApp({ pool: db.pool, log: silentLogger, kojiServers: [HUB] });
});
test.after.always(async () => {
  await app?.close();
  await db?.drop();
});

function body(overrides: Record<string, unknown> = {}): Record<string, any> {
  return {
    distribution: 'fedora-43',
    koji: { server: HUB, task_id: 4242, name: 'Fedora-Cloud', version: '43', release: '20261123.0' },
    image_requests: [
      { architecture: 'x86_64', image_type: 'guest-image', repositories: [{ baseurl: 'https://repos.example.test/f43/x86_64/', rhsm: false }] },
      { architecture: 'aarch64', image_type: 'minimal-raw', repositories: [{ baseurl: 'https://repos.example.test/f43/aarch64/' }] },
    ],
    ...overrides,
  };
}

async function jobCount(): Promise<number> {
  return (await db.pool.query('SELECT count(*)::int AS n FROM kiln_jobs')).rows[0].n;
}

test.serial('POST /compose enqueues the whole graph and answers like the cloud API', async (t) => {
  const res = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: body() });
  t.is(res.statusCode, 201, res.body);
  const created = res.json();
  t.like(created, { href: `${API_BASE}/compose`, kind: 'ComposeId' });
  const { rows } = await db.pool.query(
    `SELECT type, arch, always_run, state, array_length(ARRAY(SELECT 1 FROM kiln_job_dependencies d WHERE d.job_id = j.id), 1) AS deps
       FROM kiln_jobs j WHERE compose_id = $1 ORDER BY seq`,
    [created.id],
  );
  t.deepEqual(
    rows.map((r) => [r.type, r.arch, r.state, r.deps ?? 0, r.always_run]),
    [
      ['koji-init', 'noarch', 'ready', 0, false],
      ['depsolve', 'noarch', 'ready', 0, false],
      ['osbuild', 'x86_64', 'waiting', 2, false],
      ['depsolve', 'noarch', 'ready', 0, false],
      ['osbuild', 'aarch64', 'waiting', 2, false],
      ['koji-finalize', 'noarch', 'waiting', 3, true],
    ],
  );
  const status = await app.inject({ method: 'GET', url: `${API_BASE}/composes/${created.id}` });
  t.is(status.statusCode, 200);
  t.like(status.json(), {
    id: created.id,
    kind: 'ComposeStatus',
    status: 'pending',
    image_statuses: [{ status: 'pending' }, { status: 'pending' }],
    koji_status: { task_id: 4242 },
  });
  const logs = (await app.inject({ method: 'GET', url: `${API_BASE}/composes/${created.id}/logs` })).json();
  t.is(logs.image_builds.length, 2);
  t.is(logs.koji.init.type, 'koji-init');
  const listRes = await app.inject({ method: 'GET', url: `${API_BASE}/composes/?size=5` });
  t.is(listRes.statusCode, 200, listRes.body);
  const list = listRes.json();
  t.like(list, { kind: 'ComposeList', page: 0, size: 1, total: 1 });
  t.is(list.items[0].id, created.id);
  t.is((await app.inject({ method: 'GET', url: `${API_BASE}/composes/?page=1&size=5` })).json().size, 0, 'page 1 is past the end');
  const bad = await app.inject({ method: 'GET', url: `${API_BASE}/composes/?size=0` });
  t.is(bad.statusCode, 400);
  t.like(bad.json(), { code: 'KILN_INVALID_INPUT', details: { field: 'querystring.size' } });
});

const invalid: [string, (b: Record<string, any>) => void, RegExp, string][] = [
  ['unknown distro', (b) => (b.distribution = 'fedora-12'), /unsupported: distro "fedora-12"; supported: .*fedora-43/, 'distribution'],
  ['unknown image type', (b) => (b.image_requests[1].image_type = 'iso-of-doom'), /image type "iso-of-doom".*supported: .*guest-image/, 'image_requests[1].image_type'],
  ['unknown arch', (b) => (b.image_requests[0].architecture = 'riscv64'), /architecture "riscv64".*supported: aarch64, ppc64le, s390x, x86_64/, 'image_requests[0].architecture'],
  ['missing koji field', (b) => delete b.koji.release, /is required/, 'koji.release'],
  ['missing koji', (b) => delete b.koji, /is required/, 'koji'],
  ['bad repo URL', (b) => (b.image_requests[0].repositories[0].baseurl = 'not a url'), /must match pattern/, 'image_requests[0].repositories[0].baseurl'],
  ['dash in release', (b) => (b.koji.release = '1-2'), /must match pattern/, 'koji.release'],
  ['hub not configured', (b) => (b.koji.server = 'https://other.example/kojihub'), /not a Koji hub this Kiln is configured for/, 'koji.server'],
  ['unknown field', (b) => (b.image_requests[0].colour = 'blue'), /not an allowed field/, 'image_requests[0].colour'],
  ['both image_request and image_requests', (b) => (b.image_request = b.image_requests[0]), /either image_request or image_requests/, 'image_requests'],
];

for (const [name, mutate, reason, field] of invalid) {
  test.serial(`invalid request (${name}) → 400 naming ${field}, nothing enqueued`, async (t) => {
    const before = await jobCount();
    const b = body();
    mutate(b);
    const res = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: b });
    t.is(res.statusCode, 400, res.body);
    const err = res.json();
    t.like(err, { kind: 'Error', code: 'KILN_INVALID_INPUT', details: { field } });
    t.regex(err.reason, reason);
    t.true(err.reason.startsWith(field), err.reason);
    t.is(await jobCount(), before);
  });
}

test.serial('an oversized body is refused before it is parsed, and a non-JSON body names the body', async (t) => {
  const before = await jobCount();
  const huge = body({ customizations: { packages: Array.from({ length: 200_000 }, (_, i) => `pkg${i}`) } });
  const res = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: huge });
  t.is(res.statusCode, 413);
  t.like(res.json(), { kind: 'Error', code: 'KILN_PAYLOAD_TOO_LARGE' });
  const bad = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: '{"distribution":', headers: { 'content-type': 'application/json' } });
  t.is(bad.statusCode, 400);
  t.like(bad.json(), { kind: 'Error', details: { field: '(body)' } });
  t.is(await jobCount(), before);
});

test.serial('an unknown compose id is 404 and a malformed one 400, in the cloud API error shape', async (t) => {
  for (const sub of ['', '/logs', '/manifests', '/metadata']) {
    const missing = await app.inject({ method: 'GET', url: `${API_BASE}/composes/00000000-0000-4000-8000-000000000000${sub}` });
    t.is(missing.statusCode, 404, sub);
    t.like(missing.json(), { kind: 'Error', code: 'KILN_NOT_FOUND', href: `${API_BASE}/errors/KILN_NOT_FOUND` });
    const malformed = await app.inject({ method: 'GET', url: `${API_BASE}/composes/not-a-uuid${sub}` });
    t.is(malformed.statusCode, 400, sub);
    t.like(malformed.json(), { kind: 'Error', code: 'KILN_INVALID_INPUT', details: { field: 'params.id' } });
    t.regex(malformed.json().reason, /^params\.id: is not a valid uuid/);
  }
  const cancel = await app.inject({ method: 'POST', url: `${API_BASE}/composes/not-a-uuid/cancel`, payload: {} });
  t.is(cancel.statusCode, 400);
});

test.serial('every error carries an operation_id, and its href is a catalogue entry that exists', async (t) => {
  const errors = [
    await app.inject({ method: 'GET', url: `${API_BASE}/no-such-route` }),
    await app.inject({ method: 'GET', url: `${API_BASE}/composes/not-a-uuid` }),
    await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: 'distribution=fedora-43', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
    await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: { distribution: 'fedora-43' } }),
  ];
  t.deepEqual(errors.map((e) => e.statusCode), [404, 400, 415, 400]);
  t.like(errors[0].json(), { code: 'KILN_NOT_FOUND', reason: `no route GET ${API_BASE}/no-such-route` });
  t.like(errors[2].json(), { code: 'KILN_UNSUPPORTED_MEDIA_TYPE', details: { field: 'content-type' } });
  t.regex(errors[2].json().reason, /^content-type: "application\/x-www-form-urlencoded" is not supported; send application\/json$/);
  for (const res of errors) {
    const body = res.json();
    t.true(typeof body.operation_id === 'string' && body.operation_id.length > 0, res.body);
    const entry = await app.inject({ method: 'GET', url: body.href });
    t.is(entry.statusCode, 200, `${body.href}: ${entry.body}`);
    t.like(entry.json(), { kind: 'Error', id: body.code, code: body.code, href: body.href });
    t.is(entry.json().details.http_status, res.statusCode, body.code);
  }
  const all = (await app.inject({ method: 'GET', url: `${API_BASE}/errors` })).json();
  t.like(all, { kind: 'ErrorList', page: 0 });
  t.is(all.size, all.items.length);
  t.is(all.total, all.items.length);
  t.true(all.items.some((e: any) => e.code === 'KILN_UNSUPPORTED_MEDIA_TYPE'));
  t.is((await app.inject({ method: 'GET', url: `${API_BASE}/errors/KILN_NO_SUCH_CODE` })).statusCode, 404);
});

test.serial('cancel before anything ran: every job but koji-finalize is canceled, finalize is released to clean up', async (t) => {
  const { id } = (await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: body() })).json();
  const res = await app.inject({ method: 'POST', url: `${API_BASE}/composes/${id}/cancel`, payload: { reason: 'release engineer changed their mind' } });
  t.is(res.statusCode, 200, res.body);
  const { rows } = await db.pool.query(`SELECT type, state FROM kiln_jobs WHERE compose_id = $1 ORDER BY seq`, [id]);
  t.deepEqual(rows.map((r) => `${r.type}:${r.state}`), [
    'koji-init:canceled',
    'depsolve:canceled',
    'osbuild:canceled',
    'depsolve:canceled',
    'osbuild:canceled',
    'koji-finalize:ready',
  ]);
  const status = res.json();
  t.is(status.status, 'pending', 'finalize still has to refund before the compose is over');
  t.deepEqual(status.image_statuses.map((i: any) => [i.status, i.error.reason]), [
    ['failure', 'canceled: release engineer changed their mind'],
    ['failure', 'canceled: release engineer changed their mind'],
  ]);
});

/** The osbuild job args of a compose's images, in request order. */
async function osbuildArgs(id: string): Promise<any[]> {
  const { rows } = await db.pool.query(`SELECT args FROM kiln_jobs WHERE compose_id = $1 AND type = 'osbuild' ORDER BY seq`, [id]);
  return rows.map((r) => r.args);
}

test.serial('upload_options as koji-osbuild sends them: region only takes the bucket from the config, and without one the POST is refused', async (t) => {
  const withBucket = await buildApp({ pool: db.pool, log: silentLogger, kojiServers: [HUB], s3: { bucket: 'kiln-images', force_path_style: false, profile: 'default', part_size_mib: 16, concurrency: 4, retries: 4 } });
  t.teardown(() => withBucket.close());
  const b = body();
  b.image_requests[0].upload_options = { region: 'eu-west-1' };
  const before = await jobCount();
  const refused = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: b });
  t.is(refused.statusCode, 400, refused.body);
  t.like(refused.json(), { code: 'KILN_INVALID_INPUT', details: { field: 'image_requests[0].upload_options.bucket' } });
  t.regex(refused.json().reason, /names no bucket and Kiln is configured without a default one \(s3\.bucket\)/);
  t.is(await jobCount(), before, 'nothing enqueued, no Koji build reserved');

  const created = await withBucket.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: b });
  t.is(created.statusCode, 201, created.body);
  const args = await osbuildArgs(created.json().id);
  t.deepEqual(args[0].upload_options, { region: 'eu-west-1', bucket: 'kiln-images' }, 'the worker gets the bucket chosen at creation');
  t.is(args[1].upload_options, undefined);
  const metadata = (await withBucket.inject({ method: 'GET', url: `${API_BASE}/composes/${created.json().id}/metadata` })).json();
  t.deepEqual(metadata.request.image_requests[0].upload_options, { region: 'eu-west-1' }, 'the request is kept as it was posted');

  // a bucket in the request wins
  b.image_requests[0].upload_options = { region: 'eu-west-1', bucket: 'other-bucket', public: true };
  const own = await withBucket.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: b });
  t.is(own.statusCode, 201, own.body);
  t.deepEqual((await osbuildArgs(own.json().id))[0].upload_options, { region: 'eu-west-1', bucket: 'other-bucket', public: true });
});

const unhonoured: [string, (b: Record<string, any>) => void, string, RegExp][] = [
  ['AWS EC2 options (koji-osbuild\'s AWS shape)', (b) => (b.image_requests[0].upload_options = { region: 'eu-west-1', share_with_accounts: ['123456789012'] }), 'image_requests[0].upload_options.share_with_accounts', /uploads to AWS EC2 \(an AMI\) and Google Cloud, which Kiln does not do/],
  ['Azure options', (b) => (b.image_requests[0].upload_options = { tenant_id: 't', subscription_id: 's', resource_group: 'g' }), 'image_requests[0].upload_options.tenant_id', /Azure/],
  ['container registry options', (b) => (b.image_requests[0].upload_options = { name: 'osbuild', tag: 'latest' }), 'image_requests[0].upload_options.name', /a container registry/],
  ['S3 options without a region', (b) => (b.image_requests[0].upload_options = { bucket: 'kiln-images' }), 'image_requests[0].upload_options.region', /is required/],
  ['upload_options on an image type whose default target is EC2', (b) => { b.image_requests[0].image_type = 'aws'; b.image_requests[0].upload_options = { region: 'eu-west-1', bucket: 'kiln-images' }; }, 'image_requests[0].upload_options', /aws \(generic-ami\) images upload to AWS EC2 \(an AMI\).*which Kiln does not do/],
  ['upload_options on a container image', (b) => { b.image_requests[0].image_type = 'container'; b.image_requests[0].upload_options = { region: 'eu-west-1', bucket: 'kiln-images' }; }, 'image_requests[0].upload_options', /container \(generic-container\) images upload to a container registry/],
  ['an invalid bucket name', (b) => (b.image_requests[0].upload_options = { region: 'eu-west-1', bucket: 'Not_A_Bucket' }), 'image_requests[0].upload_options.bucket', /is not a valid S3 bucket name/],
  ['ostree options on a disk image', (b) => (b.image_requests[1].ostree = { ref: 'fedora/43/aarch64/iot', url: 'https://ostree.example.test/repo' }), 'image_requests[1].ostree', /minimal-raw \(minimal-raw-xz\) is not an ostree image type \(it is a disk image\)/],
  ['a size for a container image', (b) => { b.image_requests[0].image_type = 'container'; b.image_requests[0].size = 1024; }, 'image_requests[0].size', /container \(generic-container\) images have no disk to size \(it is a container image\)/],
];

for (const [name, mutate, field, reason] of unhonoured) {
  test.serial(`an option Kiln cannot honour (${name}) → 400 naming ${field}, nothing enqueued`, async (t) => {
    const before = await jobCount();
    const b = body();
    mutate(b);
    const res = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: b });
    t.is(res.statusCode, 400, res.body);
    t.like(res.json(), { code: 'KILN_INVALID_INPUT', details: { field } });
    t.regex(res.json().reason, reason);
    t.true(res.json().reason.startsWith(`${field}: `), res.json().reason);
    t.is(await jobCount(), before);
  });
}

test.serial("composer's image type names are mapped as composer maps them; osbuild/images' names are taken too", async (t) => {
  const cases: [string, string, string, string][] = [
    ['rhel-9.6', 'x86_64', 'aws-rhui', 'ec2'],
    ['rhel-9.6', 'x86_64', 'aws-sap-rhui', 'ec2-sap'],
    ['rhel-10.2', 'x86_64', 'vsphere', 'vmdk'],
    ['centos-9', 'x86_64', 'azure', 'vhd'],
    ['centos-10', 'aarch64', 'guest-image', 'qcow2'],
    ['fedora-43', 'x86_64', 'aws', 'generic-ami'],
    ['fedora-43', 'x86_64', 'minimal-raw-zst', 'minimal-raw-zst'],
  ];
  for (const [distribution, architecture, requested, built] of cases) {
    const b = body({ distribution });
    b.image_requests = [{ architecture, image_type: requested, repositories: [{ baseurl: 'https://repos.example.test/x/' }] }];
    const res = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: b });
    t.is(res.statusCode, 201, `${distribution} ${requested}: ${res.body}`);
    t.is((await osbuildArgs(res.json().id))[0].image_type, built, `${distribution} ${requested} builds ${built}`);
  }
  const b = body({ distribution: 'fedora-43' });
  b.image_requests[0].image_type = 'aws-rhui';
  const refused = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: b });
  t.is(refused.statusCode, 400);
  t.regex(refused.json().reason, /image_requests\[0\]\.image_type: unsupported: image type "aws-rhui" \(osbuild\/images' ec2\) for fedora-43/);
});

test.serial('a disk size is applied (the disk grows to it); size 0 and an empty ostree object change nothing', async (t) => {
  const b = body();
  b.image_requests[0].size = 20 * 1024 ** 3;
  b.image_requests[1].size = 0;
  b.image_requests[1].ostree = {};
  const res = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: b });
  t.is(res.statusCode, 201, res.body);
  const args = await osbuildArgs(res.json().id);
  t.is(args[0].size, 20 * 1024 ** 3, 'the osbuild job makes the disk this big');
  t.is(args[1].size, undefined, 'size 0 is the type\'s default');
});

test('what people see of a pending compose follows its images, then koji-finalize', (t) => {
  const pending = (...images: string[]) => composeActivity({ status: 'pending', image_statuses: images.map((status) => ({ status })) as never });
  t.is(pending('pending', 'pending'), 'pending');
  t.is(pending('building', 'pending'), 'building');
  t.is(pending('success', 'building'), 'building');
  t.is(pending('uploading', 'success'), 'uploading');
  t.is(pending('success', 'success'), 'importing');
  t.is(pending('failure', 'success'), 'refunding');
  t.is(pending('failure', 'pending'), 'building', 'the other image has yet to be canceled or run');
  t.is(composeActivity({ status: 'failure', image_statuses: [{ status: 'failure' }] }), 'failure');
  t.is(composeActivity({ status: 'success', image_statuses: [{ status: 'success' }] }), 'success');
});

async function jobArgs(id: string, type: string): Promise<any[]> {
  const { rows } = await db.pool.query(`SELECT args FROM kiln_jobs WHERE compose_id = $1 AND type = $2 ORDER BY seq`, [id, type]);
  return rows.map((r) => r.args);
}

test.serial("Kiln's request extensions reach the jobs: one seed for all images, scratch, failable images, file name suffixes, the build's owner", async (t) => {
  const b = body({ seed: '0042' });
  b.koji.scratch = true;
  b.koji.owner = 'releng';
  b.image_requests[0].failable = true;
  b.image_requests[0].filename_suffix = '.qcow2';
  b.image_requests[1].filename_suffix = '.raw.xz';
  const res = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: b });
  t.is(res.statusCode, 201, res.body);
  const id = res.json().id;
  const osbuild = await osbuildArgs(id);
  t.deepEqual(osbuild.map((a) => a.seed), ['42', '42'], 'the same seed for every image, as a decimal');
  t.deepEqual((await jobArgs(id, 'depsolve')).map((a) => a.seed), ['42', '42']);
  t.deepEqual(osbuild.map((a) => a.filename_suffix), ['.qcow2', '.raw.xz']);
  t.like((await jobArgs(id, 'koji-init'))[0], { scratch: true });
  t.like((await jobArgs(id, 'koji-finalize'))[0], { scratch: true, failable: [0], owner: 'releng' });
  const big = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: body({ seed: '-9223372036854775808' }) });
  t.is(big.statusCode, 201, big.body);
  t.deepEqual((await osbuildArgs(big.json().id)).map((a) => a.seed), ['-9223372036854775808', '-9223372036854775808'], 'int64 digits kept');
  const drawn = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: body() });
  const seeds = (await osbuildArgs(drawn.json().id)).map((a) => a.seed);
  t.is(seeds[0], seeds[1], 'one drawn seed per compose');

  const outputs = await app.inject({ method: 'GET', url: `${API_BASE}/composes/${id}/outputs` });
  t.is(outputs.statusCode, 200, outputs.body);
  t.like(outputs.json(), { kind: 'ComposeOutputs', koji: { task_id: 4242, scratch: true, directory: `kiln-cg/${id}` } });
  t.deepEqual(outputs.json().images.map((i: any) => [i.arch, i.status, i.failable, i.files]), [['x86_64', 'pending', true, []], ['aarch64', 'pending', false, []]]);
});

test.serial('a blueprint instead of customizations: built as given (passwords crypted), or refused naming the field', async (t) => {
  const before = await jobCount();
  const bp = { name: 'x', distro: 'fedora-43', packages: [{ name: 'tmux' }], customizations: { hostname: 'h1', user: [{ name: 'ops', key: 'ssh-ed25519 AAA', password: 'plain' }] } };
  const res = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: body({ blueprint: bp }) });
  t.is(res.statusCode, 201, res.body);
  const built = (await osbuildArgs(res.json().id))[0].blueprint;
  t.like(built, { packages: [{ name: 'tmux' }], customizations: { hostname: 'h1', user: [{ name: 'ops', key: 'ssh-ed25519 AAA' }] } });
  t.regex(built.customizations.user[0].password, /^\$6\$/, 'the password is crypted for the build');
  const meta = await app.inject({ method: 'GET', url: `${API_BASE}/composes/${res.json().id}/metadata` });
  t.deepEqual(meta.json().request.blueprint, built, 'the request is kept with its blueprint as built, never a password in clear');
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ blueprint: { customizations: { installer: { unattended: true } } } }, 'blueprint.customizations.installer.unattended', /is not supported by image type/],
    [{ blueprint: { customizations: { user: [{ name: 'bad name!' }] } } }, 'blueprint.customizations.user[0].name', /is not a valid user name/],
    [{ blueprint: { distro: 'fedora-42' } }, 'blueprint.distro', /but the request's distribution is "fedora-43"/],
    [{ blueprint: {}, customizations: {} }, 'blueprint', /either customizations or blueprint/],
    [{ seed: 1.5 }, 'seed', /./],
    [{ seed: '9223372036854775808' }, 'seed', /64-bit signed integer/],
    [{ preview: true }, 'preview', /fedora-43 is not a preview release/],
  ];
  for (const [extra, field, reason] of cases) {
    const bad = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: body(extra) });
    t.is(bad.statusCode, 400, `${field}: ${bad.body}`);
    t.is(bad.json().details?.field ?? bad.json().reason.split(':')[0], field, bad.body);
    t.regex(bad.json().reason, reason);
  }
  const ok = await app.inject({ method: 'POST', url: `${API_BASE}/compose/check`, payload: body({ preview: false }) });
  t.is(ok.statusCode, 200, ok.body);
  t.is(await jobCount(), before + 6, 'only the one accepted compose was created');
});

test.serial('file name suffixes: Koji must have an archive type for them, and two images of one arch may not share a name', async (t) => {
  const b = body();
  b.image_requests[0].filename_suffix = '.weird';
  let res = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: b });
  t.is(res.statusCode, 400);
  t.regex(res.json().reason, /^image_requests\[0\]\.filename_suffix: Koji has no archive type for \.weird/);
  const same = body();
  same.image_requests[1] = { ...same.image_requests[0], image_type: 'server-qcow2' };
  res = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: same });
  t.is(res.statusCode, 400);
  t.regex(res.json().reason, /^image_requests\[1\]: its Koji file name \(<name>-<version>-<release>\.x86_64\.qcow2\) is that of image_requests\[0\] too/);
  same.image_requests[1].filename_suffix = '.server.qcow2';
  res = await app.inject({ method: 'POST', url: `${API_BASE}/compose/check`, payload: same });
  t.is(res.statusCode, 200, res.body);
  t.deepEqual(res.json().images, [
    { arch: 'x86_64', image_type: 'generic-qcow2', filename: 'Fedora-Cloud-43-20261123.0.x86_64.qcow2' },
    { arch: 'x86_64', image_type: 'server-qcow2', filename: 'Fedora-Cloud-43-20261123.0.x86_64.server.qcow2' },
  ]);
});

test.serial('POST /kickstart translates a kickstart line by line', async (t) => {
  const res = await app.inject({ method: 'POST', url: `${API_BASE}/kickstart`, payload: { kickstart: 'timezone Etc/UTC\nfirewall --enabled --port=22:tcp\n%post\ntrue\n%end\nreboot\n' } });
  t.is(res.statusCode, 200, res.body);
  t.deepEqual(res.json().blueprint, { name: 'kickstart', customizations: { timezone: { timezone: 'Etc/UTC' }, firewall: { ports: ['22:tcp'] } } });
  t.deepEqual(res.json().not_applied.map((n: any) => n.line), [3]);
  t.deepEqual(res.json().ignored.map((n: any) => n.line), [6]);
  const bad = await app.inject({ method: 'POST', url: `${API_BASE}/kickstart`, payload: { kickstart: '%packages\nvim\n' } });
  t.is(bad.statusCode, 400);
  t.regex(bad.json().reason, /^kickstart line 1: %packages has no %end/);
});
