/**
 * Every answer of Kiln's cloud API validates against osbuild-composer's own OpenAPI document
 * (shared/reference/upstream/composer-cloudapi-openapi.v2.yml), checked on real traffic: a real
 * `kiln serve` (in-process workers, real Postgres, the Koji hub stand-in, the osbuild stand-in,
 * the zero-time solver, an S3 stand-in) taken through whole composes that succeed, fail and are
 * canceled, with their statuses polled throughout, logs, manifests, metadata and lists, and the
 * errors (unknown route, malformed id, unknown compose, non-JSON body, bad bodies) with the
 * catalogue entries their hrefs point at. The validator (test/helpers/composer-openapi.ts) is
 * shown to fail on answers that break the contract.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { startService, type RunningService } from '../src/cli/serve.js';
import { API_BASE } from '../src/compose/index.js';
import type { DevHubHandle } from '../src/devhub/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startKilnHub } from './helpers/kiln-hub.js';
import { startS3rver, kilnS3Config, type S3Stub } from './helpers/s3.js';
import { until } from './helpers/until.js';
import { findComposerSpec, loadComposerContract, type ComposerContract, type Checked } from './helpers/composer-openapi.js';

const STANDIN = fileURLToPath(new URL('./osbuild-standin/osbuild.mjs', import.meta.url));
const SOLVER = fileURLToPath(new URL('../bench/fixtures/zero-depsolve.mjs', import.meta.url));
const SPEC = findComposerSpec();
const BUCKET = 'kiln-images';

let contract: ComposerContract;
let db: TestDatabase;
let hub: DevHubHandle;
let s3: S3Stub;
let service: RunningService;
let dir: string;
/** Every answer the tests received, as validated. */
const traffic: (Checked & { status: number })[] = [];

/** A new Koji task (the hub refuses a build naming a task it does not have) for each compose. */
let nextTaskId: () => Promise<number>;

if (!SPEC) {
  // reported as skipped, never as passed: nothing is checked without composer's document
  test.skip('composer OpenAPI conformance (shared/reference/upstream/composer-cloudapi-openapi.v2.yml is not beside this checkout)', () => undefined);
} else {
  test.before(async () => {
    contract = loadComposerContract(SPEC);
    dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-composer-openapi-'));
    db = await createTestDatabase();
    const kiln = await startKilnHub(dir);
    hub = kiln.hub;
    nextTaskId = () => kiln.task();
    s3 = await startS3rver([BUCKET]);
    service = await startService(
      loadConfig({
        env: {},
        overrides: {
          state_dir: path.join(dir, 'state'),
          database: { url: db.url },
          listen: { address: '127.0.0.1', port: 0 },
          queue: { heartbeat_interval_seconds: 0.5, heartbeat_timeout_seconds: 30, poll_interval_seconds: 1 },
          workers: { arches: ['x86_64', 'aarch64'], concurrency: { osbuild: 2 }, shutdown_grace_seconds: 5 },
          koji: { hubs: [kiln.config] },
          osbuild: { binary: STANDIN },
          depsolve: { solver: SOLVER },
          s3: { ...kilnS3Config(s3, dir), bucket: BUCKET },
          log: { level: 'silent' },
        },
      }),
      silentLogger,
    );
  });

  test.after.always(async () => {
    await service?.stop();
    await s3?.close();
    await hub?.close();
    await db?.drop();
    for (const k of ['KILN_STANDIN_FAIL_STAGE', 'KILN_STANDIN_HANG', 'KILN_STANDIN_DELAY_MS']) delete process.env[k];
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  registerTests();
}

interface Answer {
  status: number;
  json: any;
  checked: Checked;
}

/** One request to the running service; its answer is validated against composer's document and recorded. */
async function call(method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${service.url}${url}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  const checked = contract.check(method, url, res.status, res.headers.get('content-type') ?? undefined, json);
  traffic.push({ ...checked, status: res.status });
  if (checked.problems.length) throw new Error(`${checked.what}: the answer breaks composer's contract: ${checked.problems.join('; ')}\n${text.slice(0, 2000)}`);
  return { status: res.status, json, checked };
}

const repo = 'http://127.0.0.1:9/repo';

async function composeBody(release: string): Promise<Record<string, any>> {
  return {
    distribution: 'fedora-43',
    koji: { server: hub.url, task_id: await nextTaskId(), name: 'Conformance', version: '43', release },
    image_requests: [
      // koji-osbuild's shapes: rhsm false on every repository, S3 upload_options with a region only
      { architecture: 'x86_64', image_type: 'guest-image', repositories: [{ baseurl: repo, rhsm: false }], upload_options: { region: 'us-east-1' } },
      { architecture: 'aarch64', image_type: 'minimal-raw', repositories: [{ baseurl: repo, rhsm: false }] },
    ],
  };
}

/** Posts a compose and polls its status until it ends, reading logs, manifests, metadata and the list on the way. */
async function followCompose(release: string, whileRunning?: (id: string, status: any) => Promise<void>): Promise<{ id: string; final: any; seen: Set<string> }> {
  const body = await composeBody(release);
  // the request itself is one composer accepts: Kiln's extensions are not needed for this traffic
  const validRequest = contract.schema('ComposeRequest');
  if (!validRequest(body)) throw new Error(`test request is not a composer ComposeRequest: ${JSON.stringify(validRequest.errors)}`);
  const created = await call('POST', `${API_BASE}/compose`, body);
  if (created.status !== 201) throw new Error(JSON.stringify(created.json));
  const id = created.json.id as string;
  const seen = new Set<string>();
  let polls = 0;
  const final = await until(
    `compose ${id} to end`,
    async () => {
      const { json } = await call('GET', `${API_BASE}/composes/${id}`);
      seen.add(`compose:${json.status}`);
      for (const image of json.image_statuses) seen.add(`image:${image.status}`);
      // while it runs, the other read endpoints are exercised too (manifests before they exist, logs mid-way)
      if (++polls % 5 === 1) {
        await call('GET', `${API_BASE}/composes/${id}/logs`);
        await call('GET', `${API_BASE}/composes/${id}/manifests`);
        await call('GET', `${API_BASE}/composes/${id}/metadata`);
        await call('GET', `${API_BASE}/composes/?page=0&size=3`);
      }
      if (json.status === 'pending' && whileRunning) await whileRunning(id, json);
      return json.status === 'success' || json.status === 'failure' ? json : undefined;
    },
    90_000,
    50,
  );
  for (const sub of ['logs', 'manifests', 'metadata']) await call('GET', `${API_BASE}/composes/${id}/${sub}`);
  return { id, final, seen };
}

function registerTests(): void {
  test.serial('a compose that succeeds: every status polled, logs, manifests, metadata and list validate', async (t) => {
    t.timeout(120_000);
    process.env.KILN_STANDIN_DELAY_MS = '40'; // stages take a moment, so polls see the images building
    t.teardown(() => delete process.env.KILN_STANDIN_DELAY_MS);
    const { id, final, seen } = await followCompose('1');
    t.is(final.status, 'success', JSON.stringify(final));
    t.true(seen.has('image:building'), [...seen].join(', '));
    t.deepEqual([...seen].filter((s) => s.startsWith('compose:')).sort(), ['compose:pending', 'compose:success']);
    t.like(final.image_statuses[0].upload_status, { type: 'aws.s3', status: 'success', options: { bucket: BUCKET } });
    t.true(final.koji_status.build_id > 0);
    const manifests = (await call('GET', `${API_BASE}/composes/${id}/manifests`)).json;
    t.is(manifests.manifests.length, 2);
    for (const m of manifests.manifests) t.is(m.version, '2');
    const metadata = (await call('GET', `${API_BASE}/composes/${id}/metadata`)).json;
    // each image's packages are composer's PackageMetadata (sigmd5 included), which its document requires of `packages`
    const pkg = contract.schema('PackageMetadata');
    for (const image of metadata.images) {
      t.true(image.packages.length > 0);
      for (const p of image.packages) t.true(pkg(p), `${JSON.stringify(p)}: ${JSON.stringify(pkg.errors)}`);
    }
    const list = (await call('GET', `${API_BASE}/composes/?page=0&size=1`)).json;
    t.like(list, { kind: 'ComposeList', page: 0, size: 1, items: [{ id }] });
  });

  test.serial('a compose that fails: its statuses, the failed image\'s error, logs, manifests and metadata validate', async (t) => {
    t.timeout(120_000);
    process.env.KILN_STANDIN_FAIL_STAGE = 'org.osbuild.qemu'; // only guest-image has it
    t.teardown(() => delete process.env.KILN_STANDIN_FAIL_STAGE);
    const { final } = await followCompose('2');
    t.is(final.status, 'failure');
    t.like(final.image_statuses, [{ status: 'failure', error: { id: 10 } }, { status: 'success' }]);
  });

  test.serial('a compose canceled while osbuild runs: the cancel answer and every status until its end validate', async (t) => {
    t.timeout(120_000);
    process.env.KILN_STANDIN_HANG = '1';
    t.teardown(() => delete process.env.KILN_STANDIN_HANG);
    let cancel: Answer | undefined;
    const { final } = await followCompose('3', async (id, status) => {
      if (cancel || !status.image_statuses.some((i: any) => i.status === 'building')) return;
      cancel = await call('POST', `${API_BASE}/composes/${id}/cancel`, { reason: 'conformance test' });
    });
    t.truthy(cancel, 'the cancel was sent while the images were building');
    t.is(cancel!.status, 200);
    t.is(cancel!.checked.quirk, 'kiln-extension');
    t.is(final.status, 'failure');
    t.regex(final.reason, /^canceled: conformance test/);
  });

  test.serial('errors: unknown route, malformed and unknown ids, non-JSON and bad bodies; each href is a catalogue entry that validates', async (t) => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const valid = await composeBody('4');
    const errors: [string, Promise<Answer>, number][] = [
      ['unknown route', call('GET', `${API_BASE}/no-such-route`), 404],
      ['a route of composer\'s that Kiln does not serve', call('GET', `${API_BASE}/composes/${missing}/sboms`), 404],
      ['malformed id', call('GET', `${API_BASE}/composes/not-a-uuid`), 400],
      ['malformed id (logs)', call('GET', `${API_BASE}/composes/not-a-uuid/logs`), 400],
      ['malformed id (manifests)', call('GET', `${API_BASE}/composes/not-a-uuid/manifests`), 400],
      ['malformed id (metadata)', call('GET', `${API_BASE}/composes/not-a-uuid/metadata`), 400],
      ['unknown compose', call('GET', `${API_BASE}/composes/${missing}`), 404],
      ['unknown compose (logs)', call('GET', `${API_BASE}/composes/${missing}/logs`), 404],
      ['unknown compose (manifests)', call('GET', `${API_BASE}/composes/${missing}/manifests`), 404],
      ['unknown compose (metadata)', call('GET', `${API_BASE}/composes/${missing}/metadata`), 404],
      ['non-JSON body', call('POST', `${API_BASE}/compose`, 'distribution: fedora-43', { 'content-type': 'text/plain' }), 415],
      ['invalid JSON', call('POST', `${API_BASE}/compose`, '{"distribution":', { 'content-type': 'application/json' }), 400],
      ['bad body', call('POST', `${API_BASE}/compose`, { ...valid, distribution: 'fedora-12' }), 400],
      ['EC2 upload options', call('POST', `${API_BASE}/compose`, { ...valid, image_requests: [{ ...valid.image_requests[0], upload_options: { region: 'eu-west-1', share_with_accounts: ['1'] } }] }), 400],
      ['bad page size', call('GET', `${API_BASE}/composes/?size=1000`), 400],
    ];
    for (const [name, pending, status] of errors) {
      const answer = await pending;
      t.is(answer.status, status, `${name}: ${JSON.stringify(answer.json)}`);
      t.truthy(answer.json.operation_id, name);
      const entry = await call('GET', answer.json.href);
      t.is(entry.status, 200, `${name}: ${answer.json.href}`);
      t.like(entry.json, { kind: 'Error', code: answer.json.code });
    }
    const list = await call('GET', `${API_BASE}/errors?page=0&size=5`);
    t.like(list.json, { kind: 'ErrorList', page: 0, size: 5 });
    t.true(list.json.total > 5);
    const openapi = await call('GET', `${API_BASE}/openapi`);
    t.is(openapi.status, 200);
  });

  test.serial('the traffic met only the documented quirks, each where expected', (t) => {
    t.true(traffic.length > 50, `${traffic.length} answers`);
    t.deepEqual(traffic.filter((c) => c.problems.length), []);
    const quirks = [...new Set(traffic.filter((c) => c.quirk).map((c) => `${c.quirk}: ${c.what}`))].sort();
    t.deepEqual(quirks, [
      "json-error-for-text-plain: GET /composes/{id}/logs 400 (declared text/plain) → Error",
      "json-error-for-text-plain: GET /composes/{id}/logs 404 (declared text/plain) → Error",
      "json-error-for-text-plain: GET /composes/{id}/manifests 400 (declared text/plain) → Error",
      "json-error-for-text-plain: GET /composes/{id}/manifests 404 (declared text/plain) → Error",
      "json-error-for-text-plain: GET /composes/{id}/sboms 404 (declared text/plain) → Error",
      "kiln-extension: GET /no-such-route 404 (not in composer's document) → Error",
      "kiln-extension: POST /composes/{id}/cancel 200 (not in composer's document) → ComposeStatus",
      'undeclared-error-status: GET /composes/ 400 (undeclared) → Error',
      'undeclared-error-status: POST /compose 415 (undeclared) → Error',
    ]);
  });

  test('the validator fails answers that break the contract', (t) => {
    const ok = { href: `${API_BASE}/composes/x`, id: 'x', kind: 'ComposeStatus', status: 'pending', image_status: { status: 'building' }, image_statuses: [{ status: 'building' }] };
    const status = (body: unknown) => contract.check('GET', `${API_BASE}/composes/x`, 200, 'application/json', body).problems;
    t.deepEqual(status(ok), []);
    t.notDeepEqual(status({ ...ok, status: 'building' }), [], 'building is an image status, not a compose status');
    t.notDeepEqual(status({ ...ok, image_status: undefined }), [], 'image_status is required');
    t.notDeepEqual(status({ ...ok, image_statuses: [{ status: 'importing' }] }), []);
    const s3 = { status: 'success', type: 'aws.s3', options: { url: 'https://b.s3.example/k' } };
    t.deepEqual(status({ ...ok, image_statuses: [{ status: 'success', upload_status: s3 }] }), []);
    t.notDeepEqual(status({ ...ok, image_statuses: [{ status: 'success', upload_status: { ...s3, options: { bucket: 'b' } } }] }), [], 'an S3 status needs its url');
    t.notDeepEqual(status({ ...ok, image_statuses: [{ status: 'success', upload_status: { ...s3, type: 'aws' } }] }), [], 'an EC2 status needs ami and region');
    // the quirk the discriminator fixes: read literally, the document refuses every S3 status
    t.false(contract.literalSchema('UploadStatus')(s3));
    t.true(contract.schema('UploadStatus')(s3));
    const manifests = (m: unknown[]) => contract.check('GET', `${API_BASE}/composes/x/manifests`, 200, 'application/json', { href: 'h', id: 'x', kind: 'ComposeManifests', manifests: m }).problems;
    t.deepEqual(manifests([{}, { version: '2' }]), []);
    t.notDeepEqual(manifests([null]), [], 'no null manifests');
    const error = { href: `${API_BASE}/errors/KILN_NOT_FOUND`, id: 'KILN_NOT_FOUND', kind: 'Error', code: 'KILN_NOT_FOUND', reason: 'r', operation_id: 'req-1' };
    const notFound = (body: unknown) => contract.check('GET', `${API_BASE}/composes/x`, 404, 'application/json', body).problems;
    t.deepEqual(notFound(error), []);
    t.notDeepEqual(notFound({ ...error, operation_id: undefined }), [], 'operation_id is required');
    t.notDeepEqual(contract.check('GET', `${API_BASE}/composes/`, 200, 'application/json', { kind: 'ComposeList', limit: 20, offset: 0, total: 0, items: [] }).problems, [], 'limit/offset is not the List shape');
    t.notDeepEqual(contract.check('GET', `${API_BASE}/composes/x`, 200, 'text/html', ok).problems, [], 'undeclared media type');
    t.notDeepEqual(contract.check('GET', `${API_BASE}/composes/x`, 302, 'application/json', ok).problems, [], 'undeclared success status');
    t.notDeepEqual(contract.check('GET', `${API_BASE}/nope`, 200, 'application/json', {}).problems, [], 'a 200 from a route composer does not have');
  });
}
