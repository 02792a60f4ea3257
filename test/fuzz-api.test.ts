/**
 * Fuzzes the three HTTP surfaces with generated bodies (fast-check, fixed seed; set
 * KILN_FUZZ_SEED to replay another): the cloud compose API, the XML-RPC endpoint and the worker
 * API. Properties: never a 5xx, never a hang (each request is bounded), always a 4xx (or an
 * XML-RPC fault) whose body names the problem, oversized bodies and XML bombs refused, path
 * traversal never accepted as a name, and nothing enqueued or changed for a refused request.
 */
import test from 'ava';
import fc from 'fast-check';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp } from '../src/api/app.js';
import { parseTokens } from '../src/api/auth.js';
import { WORKER_API_BASE } from '../src/api/worker-api.js';
import { API_BASE } from '../src/compose/index.js';
import { silentLogger } from '../src/log.js';
import { enqueueJobs } from '../src/queue/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { composeCase, related, validCompose, xmlCase, xmlValue, methodCall, deep, HUB, type ComposeCase, type Json, type XmlCase } from './helpers/fuzz-gen.js';

const SEED = Number(process.env.KILN_FUZZ_SEED ?? 20261123);
/** Kiln's default body limit, so huge documents are as large as in production. */
const BODY_LIMIT = 1024 * 1024;
/** Longest a single request may take, hung or just slow (a synchronous parse blocks timers, so it is also measured). */
const REQUEST_TIMEOUT_MS = 3_000;
const RUNS = { compose: 3_500, composeRaw: 400, xmlrpc: 4_500, worker: 3_000 };
const TOKEN = 'fuzz-token-a-0123456789abcdef';
const OTHER_TOKEN = 'fuzz-token-b-0123456789abcdef';
const UNKNOWN_TOKEN = 'fuzz-token-c-0123456789abcdef';

let db: TestDatabase;
let app: FastifyInstance;
let workerId: string;
let job: { id: string; token: string };
const stats: Record<string, { cases: number; ms: number; slowestMs: number }> = {};

test.before(async () => {
  db = await createTestDatabase(4);
  app = await buildApp({
    pool: db.pool,
    log: silentLogger,
    kojiServers: [HUB],
    bodyLimit: BODY_LIMIT,
    auth: { tokens: parseTokens(`worker-a ${TOKEN}\nworker-b ${OTHER_TOKEN}\n`), allowedClientNames: [] },
    workerApi: { maxWaitSeconds: 0, pollIntervalMs: 50 },
  });
  await app.ready();
  const reg = await app.inject({ method: 'POST', url: `${WORKER_API_BASE}/workers`, headers: auth(TOKEN), payload: { name: 'fuzzer', arches: ['x86_64'], types: ['noop'], channels: ['fuzz'] } });
  if (reg.statusCode !== 201) throw new Error(`register: ${reg.body}`);
  workerId = reg.json().id;
  await enqueueJobs(db.pool, [{ type: 'noop', channel: 'fuzz', arch: 'x86_64' }]);
  const took = await app.inject({ method: 'POST', url: `${WORKER_API_BASE}/workers/${workerId}/jobs`, headers: auth(TOKEN), payload: { wait_seconds: 0 } });
  if (took.statusCode !== 200) throw new Error(`take: ${took.statusCode} ${took.body}`);
  job = { id: took.json().id, token: took.json().token };
});

test.after.always(async (t) => {
  await app?.close();
  await db?.drop();
  const total = Object.values(stats).reduce((n, s) => n + s.cases, 0);
  for (const [name, s] of Object.entries(stats)) t.log(`${name}: ${s.cases} cases in ${(s.ms / 1000).toFixed(1)} s (slowest request ${s.slowestMs} ms)`);
  t.log(`total: ${total} generated cases, seed ${SEED}`);
});

function auth(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

interface Sent {
  status: number;
  body: string;
  json(): any;
  headers: Record<string, unknown>;
}

/** One request through inject(), failing when it takes longer than REQUEST_TIMEOUT_MS. */
async function send(endpoint: string, options: InjectOptions): Promise<Sent> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms (hang)`)), REQUEST_TIMEOUT_MS);
  });
  try {
    const res = await Promise.race([app.inject(options), timeout]);
    const s = (stats[endpoint] ??= { cases: 0, ms: 0, slowestMs: 0 });
    const took = Date.now() - started;
    s.slowestMs = Math.max(s.slowestMs, took);
    if (took > REQUEST_TIMEOUT_MS) throw new Error(`the answer took ${took} ms (limit ${REQUEST_TIMEOUT_MS} ms)`);
    return { status: res.statusCode, body: res.body, json: () => res.json(), headers: res.headers };
  } finally {
    clearTimeout(timer);
  }
}

function expect(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

async function counts(): Promise<string> {
  const { rows } = await db.pool.query(
    `SELECT (SELECT count(*) FROM kiln_jobs) AS jobs, (SELECT count(*) FROM kiln_composes) AS composes,
            (SELECT count(*) FROM kiln_workers) AS workers,
            (SELECT state || ' ' || token || ' ' || coalesce(progress::text, '-') || ' ' || coalesce(checkpoint::text, '-') FROM kiln_jobs WHERE id = $1) AS job`,
    [job.id],
  );
  return JSON.stringify(rows[0]);
}

/** A 4xx in the cloud API's error shape; returns the parsed body. */
function expectErrorBody(res: Sent, what: string): { code: string; reason: string; details?: { field?: string } } {
  expect(res.status >= 400 && res.status < 500, `${what}: expected a 4xx, got ${res.status} ${res.body.slice(0, 500)}`);
  let body: any;
  try {
    body = res.json();
  } catch {
    throw new Error(`${what}: the error body is not JSON: ${res.body.slice(0, 200)}`);
  }
  expect(body.kind === 'Error' && typeof body.code === 'string' && body.href === `/api/image-builder-composer/v2/errors/${body.code}`, `${what}: not an error body: ${res.body.slice(0, 300)}`);
  expect(typeof body.reason === 'string' && body.reason.length > 0 && body.reason !== 'internal error', `${what}: the reason names nothing: ${res.body.slice(0, 300)}`);
  return body;
}

/** The error names `field` (or one of its ancestors or descendants), and its reason starts with that name. */
function expectField(body: { reason: string; details?: { field?: string } }, field: string, what: string): void {
  const named = body.details?.field;
  expect(typeof named === 'string' && related(named, field), `${what}: expected an error naming ${field}, got ${JSON.stringify(body).slice(0, 400)}`);
  expect(body.reason.startsWith(`${named}: `), `${what}: the reason does not start with the field: ${body.reason.slice(0, 200)}`);
}

async function run<T>(t: { log(...v: unknown[]): void; pass(): void }, endpoint: string, arb: fc.Arbitrary<T>, numRuns: number, check: (c: T) => Promise<void>): Promise<void> {
  const started = Date.now();
  const s = (stats[endpoint] ??= { cases: 0, ms: 0, slowestMs: 0 });
  await fc.assert(
    fc.asyncProperty(arb, async (c) => {
      s.cases++;
      await check(c);
    }),
    { seed: SEED, numRuns, endOnFailure: true, includeErrorInReport: true },
  );
  s.ms += Date.now() - started;
  t.log(`${endpoint}: ${s.cases} cases so far, ${((Date.now() - started) / 1000).toFixed(1)} s, seed ${SEED}`);
  t.pass();
}

// ---------------------------------------------------------------------------------------------
// compose API

test.serial('compose API: every mutated compose request is a 400 naming the field, and enqueues nothing', async (t) => {
  // the generators' base request is valid, or every property below would pass vacuously; not
  // timed: the first compose compiles the request and blueprint schemas and loads the image
  // definitions, seconds on a loaded machine
  const ok = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, headers: auth(TOKEN), payload: validCompose() });
  t.is(ok.statusCode, 201, ok.body);
  await run(t, 'compose', composeCase(), RUNS.compose, async (c: ComposeCase) => {
    const before = await counts();
    const res = await send('compose', { method: 'POST', url: `${API_BASE}/compose`, headers: auth(TOKEN), payload: c.body });
    const body = expectErrorBody(res, c.what);
    expect(res.status === 400 && body.code === 'KILN_INVALID_INPUT', `${c.what}: expected 400 KILN_INVALID_INPUT, got ${res.status} ${body.code}`);
    expectField(body, c.field, c.what);
    expect((await counts()) === before, `${c.what}: the database changed for a refused request`);
  });
});

interface RawCase {
  what: string;
  payload: string | Buffer;
  contentType?: string;
  status: number;
  reason: RegExp;
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

test.serial('compose API: oversized, non-JSON and mistyped bodies are refused with a reason, and enqueue nothing', async (t) => {
  const valid = JSON.stringify(validCompose());
  const raw: fc.Arbitrary<RawCase> = fc.oneof(
    fc.integer({ min: 1, max: BODY_LIMIT }).map((extra) => {
      const b = validCompose();
      b.customizations.kernel.append = 'x'.repeat(BODY_LIMIT + extra);
      return { what: `${BODY_LIMIT + extra} bytes`, payload: JSON.stringify(b), status: 413, reason: /too large/ };
    }),
    fc.integer({ min: 1, max: valid.length - 1 }).map((n) => ({ what: `truncated at ${n}`, payload: valid.slice(0, n), status: 400, reason: /^\(body\): (is not valid JSON|is empty)/ })),
    // an insertion that leaves valid JSON (inside a string) is no case, except the escapes of U+0000 and a lone surrogate,
    // which JSON allows and Postgres cannot store
    fc
      .tuple(fc.integer({ min: 0, max: valid.length }), fc.constantFrom('}', '{', ',', '"', '\\', 'NaN', '\u0000', '\\ud800', '\\u0000'))
      .map(([i, ins]) => ({ ins, payload: valid.slice(0, i) + ins + valid.slice(i), what: `${JSON.stringify(ins)} inserted at ${i}` }))
      .filter(({ ins, payload }) => ins.startsWith('\\u') || !parses(payload))
      .map(({ what, payload }) => ({ what, payload, status: 400, reason: parses(payload) ? /^[^:]+: / : /^\(body\): is not valid JSON/ })),
    fc.constantFrom<RawCase>(
      { what: 'empty', payload: '', status: 400, reason: /^\(body\): is empty/ },
      { what: 'null', payload: 'null', status: 400, reason: /must be object/ },
      { what: 'array', payload: `[${valid}]`, status: 400, reason: /must be object/ },
      { what: 'string', payload: JSON.stringify(valid), status: 400, reason: /must be object/ },
      { what: '__proto__ key', payload: valid.replace('{', '{"__proto__":{"x":1},'), status: 400, reason: /^\(body\)/ },
      { what: 'constructor.prototype key', payload: valid.replace('{', '{"constructor":{"prototype":{"x":1}},'), status: 400, reason: /^\(body\)|constructor/ },
      { what: 'deep nesting', payload: `{"distribution":${'['.repeat(20_000)}1${']'.repeat(20_000)}}`, status: 400, reason: /^(koji|distribution): / },
      { what: 'invalid UTF-8', payload: Buffer.concat([Buffer.from(valid.slice(0, 20)), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(valid.slice(20))]), status: 400, reason: /./ },
      // anything but JSON is 415, as in osbuild-composer (fastify would parse text/plain as a string)
      { what: 'form content type', payload: valid, contentType: 'application/x-www-form-urlencoded', status: 415, reason: /^content-type: / },
      { what: 'xml content type', payload: valid, contentType: 'text/xml', status: 415, reason: /^content-type: / },
      { what: 'text content type', payload: valid, contentType: 'text/plain', status: 415, reason: /^content-type: / },
    ),
  );
  await run(t, 'compose', raw, RUNS.composeRaw, async (c) => {
    const before = await counts();
    const res = await send('compose', {
      method: 'POST',
      url: `${API_BASE}/compose`,
      headers: { ...auth(TOKEN), 'content-type': c.contentType ?? 'application/json' },
      payload: c.payload,
    });
    const body = expectErrorBody(res, c.what);
    expect(res.status === c.status, `${c.what}: expected ${c.status}, got ${res.status} ${res.body.slice(0, 300)}`);
    expect(c.reason.test(body.reason), `${c.what}: reason ${JSON.stringify(body.reason.slice(0, 300))} does not match ${c.reason}`);
    if (c.status === 413) expect(/limit|too large/.test(body.reason), `${c.what}: 413 without the limit`);
    expect((await counts()) === before, `${c.what}: the database changed for a refused request`);
  });
});

// ---------------------------------------------------------------------------------------------
// XML-RPC

const FAULT_CODES = new Set([1000, 1002, 1004, 1019]);

function parseFault(body: string): { faultCode: number; faultString: string } | undefined {
  if (!/<methodResponse><fault>/.test(body)) return undefined;
  const code = /<name>faultCode<\/name><value><int>(-?\d+)<\/int><\/value>/.exec(body);
  const str = /<name>faultString<\/name><value><string>([\s\S]*?)<\/string><\/value>/.exec(body);
  if (!code || !str) throw new Error(`unparseable fault: ${body.slice(0, 300)}`);
  const faultString = str[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  return { faultCode: Number(code[1]), faultString };
}

test.serial('XML-RPC: wrong calls, malformed XML, XML bombs, CDATA and huge documents are faults naming the problem', async (t) => {
  const ok = await send('xmlrpc', { method: 'POST', url: '/RPC2', headers: { ...auth(TOKEN), 'content-type': 'text/xml' }, payload: '<methodCall><methodName>compose.list</methodName></methodCall>' });
  t.true(ok.status === 200 && !parseFault(ok.body), ok.body);
  // XML cannot carry C0 controls, U+FFFE/U+FFFF or lone surrogates at all (the JSON API cases cover them)
  const composeForXml = composeCase().filter((c) => !c.what.startsWith('unstorable character') && !(c.what.startsWith('nesting ') && Number(c.what.split(' ')[1]) > 400) && !/\\u00[01][0-9a-f]|\\[bf]|[\ufffe\uffff]|\\ud[89a-f]/.test(JSON.stringify(c.body)));
  await run(t, 'xmlrpc', xmlCase(composeForXml, BODY_LIMIT), RUNS.xmlrpc, async (c: XmlCase) => {
    const before = await counts();
    const res = await send('xmlrpc', { method: 'POST', url: '/RPC2', headers: { ...auth(TOKEN), 'content-type': 'text/xml' }, payload: c.body });
    expect(res.status === 200, `${c.what}: expected 200 with a fault, got ${res.status} ${res.body.slice(0, 300)}`);
    expect(String(res.headers['content-type']).startsWith('text/xml'), `${c.what}: answer is not XML`);
    const fault = parseFault(res.body);
    if (!fault) {
      expect(!c.mustFault, `${c.what}: expected a fault, got ${res.body.slice(0, 300)}`);
      return;
    }
    expect(FAULT_CODES.has(fault.faultCode), `${c.what}: fault code ${fault.faultCode} (${fault.faultString.slice(0, 200)})`);
    expect(fault.faultString && fault.faultString !== 'internal error', `${c.what}: the fault names nothing`);
    expect(c.names.test(fault.faultString), `${c.what}: faultString ${JSON.stringify(fault.faultString.slice(0, 300))} does not match ${c.names}`);
    if (c.field) {
      const prefixes = [...fault.faultString.matchAll(/: /g)].map((m) => fault.faultString.slice(0, m.index));
      expect(prefixes.some((p) => related(p, c.field!)), `${c.what}: faultString ${JSON.stringify(fault.faultString.slice(0, 300))} does not name ${c.field}`);
    }
    expect(!/root:x?:0:0|daemon:/.test(res.body), `${c.what}: the answer leaks a local file`);
    expect((await counts()) === before, `${c.what}: the database changed for a refused call`);
  });
});

// ---------------------------------------------------------------------------------------------
// worker API

interface WorkerCase {
  what: string;
  url: string;
  headers: Record<string, string>;
  payload?: unknown;
  /** acceptable statuses */
  status: number[];
  /** the field the error must name, or a pattern for the reason */
  field?: string;
  reason?: RegExp;
}

const W = () => `${WORKER_API_BASE}/workers/${workerId}`;
const REPORTS = ['heartbeat', 'progress', 'checkpoint', 'release', 'finish'] as const;

function workerCase(): fc.Arbitrary<WorkerCase> {
  const validReg = { name: 'w', arches: ['x86_64'], types: ['noop'], channels: ['fuzz'] };
  const route = fc.constantFrom('/workers', '/workers/{w}/jobs', ...REPORTS.map((r) => `/workers/{w}/jobs/{j}/${r}`));
  const fill = (r: string) => `${WORKER_API_BASE}${r.replace('{w}', workerId).replace('{j}', job.id)}`;
  const garbageText = fc.oneof(fc.string({ minLength: 1, maxLength: 80 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), fc.constantFrom('../../etc/passwd', '..', '%2e%2e%2f', "1' OR '1'='1", '00000000-0000-0000-0000-00000000000g', 'NaN', '-1', '0'));
  const notUuid = garbageText.filter((s) => !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s));
  const badToken = fc.oneof(notUuid, fc.uuid(), fc.constant(''), fc.string({ minLength: 65, maxLength: 100 }));
  const badJson: fc.Arbitrary<Json> = fc.oneof(fc.constant(null), fc.integer(), fc.string({ maxLength: 10 }), fc.array(fc.integer(), { maxLength: 3 }), fc.constant(deep(50, 1, true)));
  // keys the JSON parser refuses outright (prototype pollution) are covered by the raw-body cases
  const safeKey = fc.string({ minLength: 1, maxLength: 10 }).filter((k) => k !== '__proto__' && k !== 'constructor');
  const nul = fc.constantFrom('\u0000', 'a\u0000', '\ud800', 'x\udfff');
  const nulValue = fc.tuple(nul, fc.integer({ min: 0, max: 4 })).map(([c, i]) => [c, [c], { k: c }, { [c]: 1 }, { a: [{ b: c }] }][i] as Json);

  // 1. no or wrong credentials
  const unauth = fc.tuple(route, fc.constantFrom<Record<string, string>>({}, { authorization: 'Bearer garbage' }, { authorization: `Bearer ${UNKNOWN_TOKEN}` }, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, { authorization: `Bearer ${TOKEN} x` }, { authorization: 'Bearer' }, { authorization: `bearer  ${TOKEN.slice(1)}` })).map(([r, headers]): WorkerCase => ({
    what: `${r} with ${JSON.stringify(headers)}`,
    url: fill(r),
    headers,
    payload: r === '/workers' ? validReg : { token: job.token, state: 'success' },
    status: [401],
    reason: /Authorization|token|authentication/,
  }));
  // 2. registrations of the wrong shape
  const regField = fc.constantFrom('name', 'arches', 'types', 'channels');
  const register = fc.oneof(
    fc.tuple(regField, badJson).filter(([f, v]) => !(f === 'name' && typeof v === 'string')).map(([f, v]): WorkerCase => ({ what: `register ${f}=${JSON.stringify(v).slice(0, 50)}`, url: fill('/workers'), headers: auth(TOKEN), payload: { ...validReg, [f]: v }, status: [400], field: f })),
    regField.filter((f) => f !== 'channels').map((f): WorkerCase => {
      const p: Record<string, unknown> = { ...validReg };
      delete p[f];
      return { what: `register without ${f}`, url: fill('/workers'), headers: auth(TOKEN), payload: p, status: [400], field: f };
    }),
    fc.tuple(safeKey, fc.jsonValue({ maxDepth: 2 })).filter(([k]) => !(k in validReg)).map(([k, v]): WorkerCase => ({ what: `register with extra ${k}`, url: fill('/workers'), headers: auth(TOKEN), payload: { ...validReg, [k]: v }, status: [400], field: k })),
    fc.tuple(fc.constantFrom('arches', 'types', 'channels'), fc.oneof(notUuid.filter((s) => !/^[a-z][a-z0-9-]{0,62}$/.test(s) && !/^[A-Za-z0-9_.-]{1,64}$/.test(s)), fc.constant('x'.repeat(65)), fc.constant('../../etc/passwd'))).map(([f, v]): WorkerCase => ({ what: `register ${f} item ${JSON.stringify(v)}`, url: fill('/workers'), headers: auth(TOKEN), payload: { ...validReg, [f]: [v] }, status: [400], field: `${f}[0]` })),
    fc.tuple(fc.constantFrom('arches', 'types', 'channels'), fc.constantFrom<Json[]>([], ['noop', 'noop'], Array.from({ length: 33 }, (_, i) => `a${i}`))).map(([f, v]): WorkerCase => ({ what: `register ${f} of ${v.length}`, url: fill('/workers'), headers: auth(TOKEN), payload: { ...validReg, [f]: v }, status: [400], field: f })),
    fc.oneof(notUuid.filter((s) => !/^[A-Za-z0-9_.@:-]{1,128}$/.test(s)), fc.constant('n'.repeat(129)), fc.constant('../../etc/passwd'), fc.constant('a/b')).map((n): WorkerCase => ({ what: `register name ${JSON.stringify(n)}`, url: fill('/workers'), headers: auth(TOKEN), payload: { ...validReg, name: n }, status: [400], field: 'name' })),
  );
  // 3. worker ids that are not UUIDs, unknown ones, another principal's
  const jobsRoute = fc.constantFrom('jobs', ...REPORTS.map((r) => `jobs/${'{j}'}/${r}`));
  const validFor = (r: string): unknown => (r === 'jobs' ? { wait_seconds: 0 } : r.endsWith('finish') ? { token: job.token, state: 'failure', error: { code: 'X', message: 'x' } } : r.endsWith('checkpoint') ? { token: job.token, checkpoint: 1 } : { token: job.token });
  const workerIds = fc.oneof(
    fc.tuple(notUuid, jobsRoute).map(([id, r]): WorkerCase => ({ what: `worker id ${JSON.stringify(id)}`, url: fill(`/workers/${encodeURIComponent(id)}/${r}`), headers: auth(TOKEN), payload: validFor(r), status: [400, 404], reason: /worker|^no route/ })),
    fc.tuple(fc.uuid(), jobsRoute).map(([id, r]): WorkerCase => ({ what: `unknown worker ${id}`, url: fill(`/workers/${id}/${r}`), headers: auth(TOKEN), payload: validFor(r), status: [404], reason: new RegExp(`worker ${id} not found`) })),
    jobsRoute.map((r): WorkerCase => ({ what: `another principal on ${r}`, url: fill(`/workers/{w}/${r}`), headers: auth(OTHER_TOKEN), payload: validFor(r), status: [403], reason: /registered by another principal/ })),
  );
  // 4. long-poll bodies of the wrong shape
  const poll = fc.oneof(
    fc.oneof(fc.double({ max: -0.001, noNaN: true }), fc.double({ min: 600.001, noNaN: true }), fc.constantFrom<Json>('1', null, true, [], {})).map((v): WorkerCase => ({ what: `wait_seconds ${JSON.stringify(v)}`, url: fill('/workers/{w}/jobs'), headers: auth(TOKEN), payload: { wait_seconds: v }, status: [400], field: 'wait_seconds' })),
    fc.constantFrom<[Json, string]>([[], 'types'], [['noop', 'noop'], 'types'], [['osbuild'], 'types'], [['../x'], 'types[0]'], ['noop', 'types'], [[1], 'types[0]']).map(([v, f]): WorkerCase => ({ what: `types ${JSON.stringify(v)}`, url: fill('/workers/{w}/jobs'), headers: auth(TOKEN), payload: { types: v }, status: [400], field: f })),
    fc.tuple(safeKey, fc.jsonValue({ maxDepth: 2 })).filter(([k]) => k !== 'types' && k !== 'wait_seconds').map(([k, v]): WorkerCase => ({ what: `poll with extra ${k}`, url: fill('/workers/{w}/jobs'), headers: auth(TOKEN), payload: { wait_seconds: 0, [k]: v }, status: [400], field: k })),
  );
  // 5. reports: job ids that are not UUIDs, unknown jobs, garbage tokens, bodies of the wrong shape
  const report = fc.constantFrom(...REPORTS);
  const bodyFor = (r: string, token: unknown): Record<string, unknown> => (r === 'finish' ? { token, state: 'success' } : r === 'checkpoint' ? { token, checkpoint: { x: 1 } } : { token });
  const reports = fc.oneof(
    fc.tuple(report, fc.oneof(notUuid, fc.string({ minLength: 65, maxLength: 90 }))).map(([r, id]): WorkerCase => ({ what: `${r} of job ${JSON.stringify(id)}`, url: fill(`/workers/{w}/jobs/${encodeURIComponent(id)}/${r}`), headers: auth(TOKEN), payload: bodyFor(r, job.token), status: [400, 404], reason: /job|^no route/ })),
    fc.tuple(report, fc.uuid(), badToken).map(([r, id, token]): WorkerCase => ({ what: `${r} of unknown job ${id}`, url: fill(`/workers/{w}/jobs/${id}/${r}`), headers: auth(TOKEN), payload: bodyFor(r, token), status: r === 'release' ? [200, 400] : [400, 404, 409], reason: r === 'release' ? undefined : /job|token/ })),
    fc.tuple(report, badToken).map(([r, token]): WorkerCase => ({ what: `${r} with token ${JSON.stringify(token)}`, url: fill(`/workers/{w}/jobs/{j}/${r}`), headers: auth(TOKEN), payload: bodyFor(r, token), status: r === 'release' ? [200, 400] : [400, 409], reason: r === 'release' ? undefined : /token/ })),
    fc.tuple(report, badJson.filter((v) => typeof v !== 'string')).map(([r, token]): WorkerCase => ({ what: `${r} with token ${JSON.stringify(token).slice(0, 40)}`, url: fill(`/workers/{w}/jobs/{j}/${r}`), headers: auth(TOKEN), payload: bodyFor(r, token), status: [400], field: 'token' })),
    report.map((r): WorkerCase => ({ what: `${r} without token`, url: fill(`/workers/{w}/jobs/{j}/${r}`), headers: auth(TOKEN), payload: r === 'finish' ? { state: 'success' } : {}, status: [400], field: 'token' })),
    fc.tuple(report, safeKey, fc.jsonValue({ maxDepth: 2 })).filter(([r, k]) => !['token', 'progress', 'checkpoint', 'state', 'result', 'error', 'take_next'].includes(k) || (r !== 'finish' && ['state', 'result', 'error', 'take_next'].includes(k)) || (r === 'finish' && ['progress', 'checkpoint'].includes(k))).map(([r, k, v]): WorkerCase => ({ what: `${r} with extra ${k}`, url: fill(`/workers/{w}/jobs/{j}/${r}`), headers: auth(TOKEN), payload: { ...bodyFor(r, job.token), [k]: v }, status: [400], field: k })),
    badJson.map((v): WorkerCase => ({ what: `body ${JSON.stringify(v).slice(0, 40)}`, url: fill('/workers/{w}/jobs/{j}/heartbeat'), headers: auth(TOKEN), payload: JSON.stringify(v), status: [400], reason: /./ })),
    // bodies with the job's real token: the shape is wrong, or a value cannot be stored
    fc.constantFrom<[Record<string, unknown>, string]>(
      [{ state: 'bogus' }, 'state'],
      [{ state: 'success', error: { code: 'X', message: 'm' } }, 'error'],
      [{ state: 'failure' }, 'error'],
      [{ state: 'failure', error: { code: '', message: 'm' } }, 'error.code'],
      [{ state: 'failure', error: { code: 'X' } }, 'error.message'],
      [{ state: 'failure', error: { code: 'X', message: 'm', extra: 1 } }, 'error.extra'],
      [{ state: 'failure', error: 'boom' }, 'error'],
      [{ state: 'success', take_next: 'osbuild' }, 'take_next'],
      [{ state: 'success', take_next: '../../etc/passwd' }, 'take_next'],
    ).map(([b, f]): WorkerCase => ({ what: `finish ${JSON.stringify(b)}`, url: fill('/workers/{w}/jobs/{j}/finish'), headers: auth(TOKEN), payload: { token: job.token, ...b }, status: [400], field: f })),
    fc.tuple(fc.constantFrom('progress', 'checkpoint', 'result', 'error.message', 'error.details'), nulValue).map(([f, v]): WorkerCase => {
      const route = f === 'progress' || f === 'checkpoint' ? f : 'finish';
      const payload: Record<string, unknown> =
        f === 'progress' || f === 'checkpoint'
          ? { token: job.token, [f]: v }
          : f === 'result'
            ? { token: job.token, state: 'success', result: v }
            : f === 'error.message'
              ? { token: job.token, state: 'failure', error: { code: 'X', message: `m${JSON.stringify(v).includes('\\u0000') ? '\u0000' : '\ud800'}` } }
              : { token: job.token, state: 'failure', error: { code: 'X', message: 'm', details: { v } } };
      return { what: `${f} holding ${JSON.stringify(v)}`, url: fill(`/workers/{w}/jobs/{j}/${route}`), headers: auth(TOKEN), payload, status: [400], field: f };
    }),
  );
  // values too deep to serialise (JSON.stringify is recursive), sent as text
  const tooDeep = fc.tuple(fc.constantFrom('progress', 'checkpoint', 'result'), fc.integer({ min: 129, max: 50_000 }), fc.boolean()).map(([f, d, objects]): WorkerCase => {
    const value = objects ? `${'{"a":'.repeat(d)}1${'}'.repeat(d)}` : `${'['.repeat(d)}1${']'.repeat(d)}`;
    const route = f === 'result' ? 'finish' : f;
    return { what: `${f} nested ${d} deep`, url: fill(`/workers/{w}/jobs/{j}/${route}`), headers: auth(TOKEN), payload: `{"token":${JSON.stringify(job.token)},${f === 'result' ? '"state":"success",' : ''}"${f}":${value}}`, status: [400], field: f, reason: /nested deeper than 128 levels/ };
  });
  return fc.oneof(unauth, register, workerIds, poll, reports, tooDeep);
}

test.serial('worker API: wrong shapes, stale or garbage tokens and non-UUID ids are 4xx naming the problem, and change nothing', async (t) => {
  await run(t, 'worker', workerCase(), RUNS.worker, async (c: WorkerCase) => {
    const before = await counts();
    const res = await send('worker', {
      method: 'POST',
      url: c.url,
      headers: { 'content-type': 'application/json', ...c.headers },
      payload: typeof c.payload === 'string' ? c.payload : JSON.stringify(c.payload),
    });
    expect(res.status < 500, `${c.what}: ${res.status} ${res.body.slice(0, 300)}`);
    expect(c.status.includes(res.status), `${c.what}: expected ${c.status.join(' or ')}, got ${res.status} ${res.body.slice(0, 300)}`);
    if (res.status === 200) {
      expect(res.json().released === false, `${c.what}: a garbage token released the job: ${res.body}`);
    } else {
      const body = expectErrorBody(res, c.what);
      if (c.field) expectField(body, c.field, c.what);
      if (c.reason) expect(c.reason.test(body.reason), `${c.what}: reason ${JSON.stringify(body.reason.slice(0, 300))} does not match ${c.reason}`);
    }
    expect((await counts()) === before, `${c.what}: the database changed for a refused request (before ${before}, after ${await counts()})`);
  });
});

// ---------------------------------------------------------------------------------------------
// a real socket: the body limit as a client that sends the whole body first sees it

test.serial('over a real socket, oversized compose and XML-RPC bodies are refused with 413 or a fault naming the limit', async (t) => {
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  await run(t, 'socket', fc.tuple(fc.integer({ min: 1, max: 3 * BODY_LIMIT }), fc.boolean()), 12, async ([extra, xml]) => {
    const before = await counts();
    const started = Date.now();
    const body = xml ? methodCall('compose.status', [xmlValue('x'.repeat(BODY_LIMIT + extra))]) : JSON.stringify({ ...validCompose(), pad: 'x'.repeat(BODY_LIMIT + extra) });
    const res = await fetch(xml ? `${url}/RPC2` : `${url}${API_BASE}/compose`, {
      method: 'POST',
      headers: { ...auth(TOKEN), 'content-type': xml ? 'text/xml' : 'application/json' },
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    stats.socket.slowestMs = Math.max(stats.socket.slowestMs, Date.now() - started);
    if (xml) {
      expect(res.status === 200, `XML-RPC ${body.length} bytes: ${res.status}`);
      const fault = parseFault(text);
      expect(fault && new RegExp(`too large \\(limit ${BODY_LIMIT} bytes\\)`).test(fault.faultString), `XML-RPC ${body.length} bytes: ${text.slice(0, 300)}`);
    } else {
      expect(res.status === 413 && /too large/.test(JSON.parse(text).reason), `compose ${body.length} bytes: ${res.status} ${text.slice(0, 300)}`);
    }
    expect((await counts()) === before, 'the database changed for a refused request');
  });
});
