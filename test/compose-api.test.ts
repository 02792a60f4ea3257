import test from 'ava';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/api/app.js';
import { silentLogger } from '../src/log.js';
import { API_BASE } from '../src/compose/index.js';
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
  const listRes = await app.inject({ method: "GET", url: `${API_BASE}/composes/?limit=5` });
  t.is(listRes.statusCode, 200, listRes.body);
  const list = listRes.json();
  t.is(list.items[0].id, created.id);
});

const invalid: [string, (b: Record<string, any>) => void, RegExp, string][] = [
  ['unknown distro', (b) => (b.distribution = 'fedora-12'), /unsupported: distro "fedora-12"; supported: .*fedora-43/, 'distribution'],
  ['unknown image type', (b) => (b.image_requests[1].image_type = 'iso-of-doom'), /image type "iso-of-doom".*supported: .*guest-image/, 'image_requests[1].image_type'],
  ['unknown arch', (b) => (b.image_requests[0].architecture = 's390x'), /architecture "s390x".*supported: aarch64, x86_64/, 'image_requests[0].architecture'],
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

test.serial('unknown compose ids are 404 in the cloud API error shape', async (t) => {
  for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
    const res = await app.inject({ method: 'GET', url: `${API_BASE}/composes/${id}` });
    t.is(res.statusCode, 404);
    t.like(res.json(), { kind: 'Error', code: 'KILN_NOT_FOUND' });
  }
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
  t.is(status.status, 'uploading', 'finalize still has to refund before the compose is over');
  t.deepEqual(status.image_statuses.map((i: any) => [i.status, i.error.reason]), [
    ['failure', 'canceled: release engineer changed their mind'],
    ['failure', 'canceled: release engineer changed their mind'],
  ]);
});
