import test from 'ava';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { buildApp } from '../src/api/app.js';
import { silentLogger } from '../src/log.js';
import { createCompose, loadCompose, API_BASE } from '../src/compose/index.js';
import { dequeueJob, finishJob, queueDepth, updateJobProgress, type RunningJob } from '../src/queue/index.js';
import { esc, kojiWebUrl } from '../src/api/status-page.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

const HUB = 'https://koji.example.test/kojihub';
const OTHER_HUB = 'http://hub.example.test:8080/kojihub';
const EVIL = `<script>window.pwned = 1</script><b class="injected">bold</b> & "quotes" 'too'`;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let db: TestDatabase;
let app: FastifyInstance;
let base: string;
let context: BrowserContext;
let profile: string;
const ids: Record<'progress' | 'failed' | 'pending', string> = { progress: '', failed: '', pending: '' };

function body(server: string, name: string, taskId: number, images = 2): Record<string, unknown> {
  return {
    distribution: 'fedora-43',
    koji: { server, task_id: taskId, name, version: '43', release: '20261123.0' },
    image_requests: [
      { architecture: 'x86_64', image_type: 'guest-image', repositories: [{ baseurl: 'https://repos.example.test/f43/x86_64/' }] },
      { architecture: 'aarch64', image_type: 'minimal-raw', repositories: [{ baseurl: 'https://repos.example.test/f43/aarch64/' }] },
    ].slice(0, images),
  };
}

/** Takes exactly this job from the queue, as a worker named `worker` would. */
async function take(jobId: string, worker = 'status-test-worker'): Promise<RunningJob> {
  const { rows } = await db.pool.query<{ type: string; channel: string; arch: string }>('SELECT type, channel, arch FROM kiln_jobs WHERE id = $1', [jobId]);
  const job = await dequeueJob(db.pool, { types: [rows[0].type], channels: [rows[0].channel], arches: [rows[0].arch] }, worker);
  if (job?.id !== jobId) throw new Error(`expected to take ${jobId}, got ${job?.id}`);
  return job;
}

async function succeed(jobId: string, result: unknown = {}): Promise<void> {
  const job = await take(jobId);
  await finishJob(db.pool, job.id, job.token, { state: 'success', result });
}

test.before(async () => {
  db = await createTestDatabase();
  // composes are created one at a time and driven before the next exists, so the queue hands
  // out exactly the job each step expects; seq order (newest first): pending, failed, progress
  const a = await createCompose(db.pool, body(HUB, 'Fedora-Cloud', 4242));
  ids.progress = a.id;
  let view = await loadCompose(db.pool, a.id);
  await succeed(view.init.id, { build_id: 77, token: 'cg-token' });
  for (const image of view.images) await succeed(image.depsolve.id, { packages: [] });
  const running = await take(view.images[0].osbuild.id);
  await updateJobProgress(db.pool, running.id, running.token, { done: 3, total: 8, message: 'org.osbuild.rpm' });
  await succeed(view.images[1].osbuild.id, { files: [] });

  const b = await createCompose(db.pool, body(OTHER_HUB, 'Evil', 99, 1));
  ids.failed = b.id;
  view = await loadCompose(db.pool, b.id);
  const init = await take(view.init.id);
  await finishJob(db.pool, init.id, init.token, { state: 'failure', error: { code: 'KILN_KOJI_FAULT', message: EVIL } });
  await succeed(view.images[0].depsolve.id, { packages: [] });
  const finalize = await take(view.finalize.id);
  await finishJob(db.pool, finalize.id, finalize.token, { state: 'failure', error: { code: 'KILN_KOJI_FAULT', message: `refund: ${EVIL}` } });

  const c = await createCompose(db.pool, body(HUB, 'Fedora-Pending', 0, 1));
  ids.pending = c.id;

  await db.pool.query(
    `INSERT INTO kiln_workers (id, name, principal, arches, types, channels, last_seen_at)
     VALUES ($1, 'remote-builder-1', 'builder.example.test', '{x86_64,noarch}', '{osbuild}', '{image}', now() - interval '42 seconds')`,
    [randomUUID()],
  );

  app = await buildApp({ pool: db.pool, log: silentLogger, localWorkers: () => [{ name: 'local:4321', state: 'running', runningJobs: [] }] });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  profile = await mkdtemp(path.join(os.tmpdir(), 'kiln-chromium-'));
  context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
});

test.after.always(async () => {
  await context?.close();
  await app?.close();
  await db?.drop();
  if (profile) await rm(profile, { recursive: true, force: true });
});

async function open(url: string): Promise<Page> {
  const page = await context.newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  const res = await page.goto(url);
  if (res?.status() !== 200) throw new Error(`${url}: HTTP ${res?.status()}`);
  // nothing but the page itself is loaded: no external assets
  if (requests.some((r) => !r.startsWith(base))) throw new Error(`external requests: ${requests.join(', ')}`);
  return page;
}

const cellTexts = (page: Page, selector: string) =>
  page.$$eval(selector, (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())));

test.serial('the status page in Chromium: composes newest first with progress bars, status, logs and Koji links', async (t) => {
  const page = await open(`${base}/status`);
  t.is(await page.title(), 'Kiln status');
  const rowIds = await page.$$eval('#composes tr.compose', (rows) => rows.map((r) => r.getAttribute('data-id')));
  t.deepEqual(rowIds, [ids.pending, ids.failed, ids.progress]);

  // progress: image 1 runs at 3/8, image 2 is done
  const row = page.locator(`tr.compose[data-id="${ids.progress}"]`);
  const bars = await row.locator('.image').evaluateAll((images) =>
    images.map((img) => {
      const bar = img.querySelector('.bar')!.getBoundingClientRect();
      const fill = img.querySelector('.fill')!.getBoundingClientRect();
      return { text: (img.textContent ?? '').replace(/\s+/g, ' ').trim(), ratio: fill.width / bar.width, style: (img.querySelector('.fill') as HTMLElement).style.width };
    }),
  );
  t.is(bars.length, 2);
  t.is(bars[0].style, '37.5%');
  t.true(Math.abs(bars[0].ratio - 0.375) < 0.01, `bar 1 is ${bars[0].ratio}`);
  t.regex(bars[0].text, /generic-qcow2 · x86_64\s*building\s*3\/8 org\.osbuild\.rpm/); // the type built: composer's guest-image is osbuild/images' generic-qcow2
  t.is(bars[1].style, '100%');
  t.true(Math.abs(bars[1].ratio - 1) < 0.01);
  t.regex(bars[1].text, /minimal-raw-xz · aarch64\s*success/);
  t.is((await row.locator('.compose-status').textContent())?.trim(), 'building');
  t.regex((await row.locator('td').nth(1).textContent()) ?? '', /Fedora-Cloud-43-20261123\.0/);

  // links: the compose's logs, and the Koji task and build on the hub's web UI
  t.is(await row.locator('a.logs').getAttribute('href'), `${API_BASE}/composes/${ids.progress}/logs`);
  t.is(await row.locator('a.koji-task').getAttribute('href'), 'https://koji.example.test/koji/taskinfo?taskID=4242');
  t.is(await row.locator('a.koji-build').getAttribute('href'), 'https://koji.example.test/koji/buildinfo?buildID=77');
  const failed = page.locator(`tr.compose[data-id="${ids.failed}"]`);
  t.is(await failed.locator('a.koji-task').getAttribute('href'), 'http://hub.example.test:8080/koji/taskinfo?taskID=99');
  t.is(await failed.locator('a.koji-build').count(), 0, 'no build was reserved');
  const pending = page.locator(`tr.compose[data-id="${ids.pending}"]`);
  t.is(await pending.locator('a.koji-task').count(), 0, 'task 0 names no task');
  t.is((await pending.locator('.compose-status').textContent())?.trim(), 'pending');
  t.is(await pending.locator('.fill').getAttribute('style'), 'width: 0%');

  // everything is escaped: the error text shows literally and nothing in it ran or rendered
  t.is((await failed.locator('.compose-status').textContent())?.trim(), `failurerefund: ${EVIL}`);
  t.is(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined);
  t.is(await page.locator('b.injected').count(), 0);

  // the logs link works
  const logs = await (await context.request.get(`${base}${await row.locator('a.logs').getAttribute('href')}`)).json();
  t.like(logs, { id: ids.progress, kind: 'ComposeLogs' });

  await mkdir('test-results', { recursive: true });
  await page.screenshot({ path: 'test-results/status-page.png', fullPage: true });
  await page.close();
});

test.serial('the status page in Chromium: queue depth and workers with their last heartbeat', async (t) => {
  const page = await open(`${base}/status`);
  const expected = new Map<string, number[]>();
  for (const r of await queueDepth(db.pool)) {
    const key = [r.type, r.channel, r.arch].join(' ');
    const counts = expected.get(key) ?? [0, 0, 0];
    counts[['waiting', 'ready', 'running'].indexOf(r.state)] += r.count;
    expected.set(key, counts);
  }
  const shown = (await cellTexts(page, '#queue tbody tr')).map((c) => [c.slice(0, 3).join(' '), c.slice(3).map(Number)] as const);
  t.deepEqual(new Map(shown), expected);
  // the pending compose's koji-init is ready; image 1's osbuild is running
  t.deepEqual(expected.get('koji-init default noarch'), [0, 1, 0]);
  t.is([...expected.entries()].filter(([k]) => k.startsWith('osbuild ')).reduce((n, [, c]) => n + c[2], 0), 1);

  const workers = await cellTexts(page, '#workers tbody tr');
  t.deepEqual(
    workers.map((w) => [w[0], w[1], w[3]]),
    [
      ['local:4321', 'local (this process)', '0'],
      ['remote-builder-1', 'remote (worker API)', '0'],
      ['status-test-worker', 'local (database)', '1'],
    ],
  );
  t.regex(workers[1][2], /osbuild · x86_64, noarch · image · as builder\.example\.test/);
  const heartbeat = Number(/^(\d+) s ago$/.exec(workers[1][4])?.[1]);
  t.true(heartbeat >= 42 && heartbeat < 100, workers[1][4]);
  t.regex(workers[2][4], /^\d+ s ago$/);
  t.is(workers[0][4], 'never', 'an idle local worker has no heartbeat yet');
  await page.close();
});

test.serial('paging: newest first, older composes on the next page', async (t) => {
  const page = await open(`${base}/status?limit=2`);
  t.deepEqual(await page.$$eval('#composes tr.compose', (rows) => rows.map((r) => r.getAttribute('data-id'))), [ids.pending, ids.failed]);
  t.is((await page.locator('#page-info').textContent())?.trim(), '1–2 of 3');
  t.is(await page.locator('a[rel=prev]').count(), 0);
  await page.locator('a[rel=next]').click();
  await page.waitForURL(/offset=2/);
  t.deepEqual(await page.$$eval('#composes tr.compose', (rows) => rows.map((r) => r.getAttribute('data-id'))), [ids.progress]);
  t.is((await page.locator('#page-info').textContent())?.trim(), '3–3 of 3');
  t.is(await page.locator('a[rel=next]').count(), 0);
  t.is(await page.locator('a[rel=prev]').getAttribute('href'), '/status?offset=0&limit=2');
  await page.close();
  const bad = await app.inject({ method: 'GET', url: '/status?limit=1000' });
  t.is(bad.statusCode, 400);
});

test('the page is sent with a policy that loads nothing from anywhere', async (t) => {
  const res = await app.inject({ method: 'GET', url: '/status' });
  t.is(res.statusCode, 200);
  t.regex(res.headers['content-type'] as string, /^text\/html; charset=utf-8/);
  t.regex(res.headers['content-security-policy'] as string, /default-src 'none'/);
  t.false(res.body.includes('<script'), 'the injected script is escaped');
  t.true(res.body.includes(esc(EVIL)));
});

test('Koji web URLs derive from the hub URL', (t) => {
  t.is(kojiWebUrl('https://koji.example.com/kojihub'), 'https://koji.example.com/koji');
  t.is(kojiWebUrl('https://user:pw@koji.example.com/kojihub/'), 'https://koji.example.com/koji');
  t.is(kojiWebUrl('https://example.com/fedora/kojihub'), 'https://example.com/fedora/koji');
  t.is(kojiWebUrl('https://koji.example.com/rpc'), 'https://koji.example.com/koji');
  t.is(kojiWebUrl('javascript:alert(1)'), undefined);
  t.is(kojiWebUrl('not a url'), undefined);
  t.is(esc(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});
