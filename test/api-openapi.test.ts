import test from 'ava';
import type { FastifyInstance } from 'fastify';
import Ajv04Module from 'ajv-draft-04';
import { buildApp } from '../src/api/app.js';
import { silentLogger } from '../src/log.js';
import { API_BASE } from '../src/compose/index.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

// OpenAPI 3.0 schema objects are draft-04 JSON Schema plus `nullable`: validate with that dialect
const Ajv04 = ((Ajv04Module as unknown as { default?: unknown }).default ?? Ajv04Module) as typeof Ajv04Module.default;

const HUB = 'https://koji.example.test/kojihub';
let db: TestDatabase;
let app: FastifyInstance;
let doc: any;

test.before(async () => {
  db = await createTestDatabase();
  app = await buildApp({ pool: db.pool, log: silentLogger, kojiServers: [HUB] });
  const res = await app.inject({ method: 'GET', url: `${API_BASE}/openapi` });
  if (res.statusCode !== 200) throw new Error(res.body);
  doc = JSON.parse(res.body);
});
test.after.always(async () => {
  await app?.close();
  await db?.drop();
});

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (op: any, code: string) => op.responses[code].content['application/json'].schema;

test('the document is OpenAPI 3.0 JSON, served at /openapi and /openapi.json', async (t) => {
  t.regex(doc.openapi, /^3\.0\.\d+$/);
  t.truthy(doc.info.title);
  t.truthy(doc.info.version);
  const again = await app.inject({ method: 'GET', url: `${API_BASE}/openapi.json` });
  t.is(again.statusCode, 200);
  t.regex(again.headers['content-type'] as string, /^application\/json/);
  t.deepEqual(JSON.parse(again.body), doc);
});

test('every compose route appears with its request and response schemas', (t) => {
  const p = (s: string) => doc.paths[`${API_BASE}${s}`];
  const create = p('/compose').post;
  t.deepEqual(create.requestBody.content['application/json'].schema, ref('ComposeRequest'));
  t.true(create.requestBody.required);
  t.deepEqual(json(create, '201').properties.kind, { enum: ['ComposeId'] });
  t.like(json(create, '201').properties.id, { type: 'string', format: 'uuid' });
  t.deepEqual(json(create, 'default'), ref('Error'));

  const list = p('/composes/').get;
  t.deepEqual(
    list.parameters.map((x: any) => [x.name, x.in, x.schema.type, x.schema.maximum]),
    [['page', 'query', 'integer', 1_000_000], ['size', 'query', 'integer', 100]],
  );
  t.deepEqual(json(list, '200'), ref('ComposeList'));
  t.deepEqual(json(p('/composes/{id}').get, '200'), ref('ComposeStatus'));
  t.like(p('/composes/{id}').get.parameters[0], { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } });
  for (const [sub, name] of [['logs', 'ComposeLogs'], ['manifests', 'ComposeManifests'], ['metadata', 'ComposeMetadata']]) t.deepEqual(json(p(`/composes/{id}/${sub}`).get, '200'), ref(name), sub);
  t.deepEqual(json(p('/errors').get, '200'), ref('ErrorList'));
  t.deepEqual(json(p('/errors/{id}').get, '200'), ref('Error'));
  t.deepEqual(p('/errors/{id}').get.security, [], 'the error catalogue needs no credentials');
  const cancel = p('/composes/{id}/cancel').post;
  t.deepEqual(json(cancel, '200'), ref('ComposeStatus'));
  t.like(cancel.requestBody.content['application/json'].schema, { type: 'object', nullable: true, properties: { reason: { type: 'string' } } });
  t.false(cancel.requestBody.required);
  t.truthy(doc.paths['/health'].get);
  t.truthy(doc.paths['/RPC2'].post.description.includes('compose.create'));
  t.falsy(doc.paths[`${API_BASE}/openapi`], 'the document does not describe itself');
  // components come from schemas/, definitions included
  for (const name of ['ComposeRequest', 'ComposeRequest.ImageRequest', 'ComposeStatus', 'ComposeStatus.ImageStatus', 'ComposeStatus.UploadStatus', 'ComposeList', 'ComposeLogs.JobLog', 'ComposeMetadata.PackageMetadata', 'Customizations', 'Error', 'ErrorList']) {
    t.truthy(doc.components.schemas[name], name);
  }
});

test('the schemas use only OpenAPI 3.0 keywords and every $ref resolves', (t) => {
  const problems: string[] = [];
  const walk = (node: unknown, where: string) => {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${where}[${i}]`));
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (typeof o.$ref === 'string') {
      const m = /^#\/components\/schemas\/(.+)$/.exec(o.$ref);
      if (!m || !doc.components.schemas[m[1]]) problems.push(`${where}: unresolved ${o.$ref}`);
      if (Object.keys(o).length !== 1) problems.push(`${where}: $ref with siblings`);
    }
    for (const k of ['const', '$id', '$schema', 'definitions', '$defs', 'if', 'then', 'else', 'propertyNames']) if (k in o && where.includes('schema')) problems.push(`${where}: ${k}`);
    if (Array.isArray(o.type)) problems.push(`${where}: type array`);
    if (o.type === 'null') problems.push(`${where}: type null`);
    if (typeof o.exclusiveMinimum === 'number') problems.push(`${where}: numeric exclusiveMinimum`);
    for (const [k, v] of Object.entries(o)) if (k !== 'enum' && k !== 'default' && k !== 'example') walk(v, `${where}.${k}`);
  };
  walk(doc, '');
  t.deepEqual(problems, []);
  const ops = Object.values(doc.paths).flatMap((item: any) => Object.values(item)) as any[];
  const ids = ops.map((op) => op.operationId);
  t.is(new Set(ids).size, ids.length, 'operationIds are unique');
  t.deepEqual(doc.security, [{ bearer: [] }]);
  t.deepEqual(doc.paths['/health'].get.security, [], 'public endpoints need no credentials');
  t.falsy(doc.paths[`${API_BASE}/compose`].post.security);
});

test('real bodies validate against the document and invalid ones do not', async (t) => {
  const ajv = new Ajv04({ strict: false, allErrors: true });
  ajv.addSchema(doc, 'openapi');
  const schema = (name: string) => ajv.compile({ $ref: `openapi#/components/schemas/${name}` });
  const request = {
    distribution: 'fedora-43',
    koji: { server: HUB, task_id: 9, name: 'n', version: '1', release: '1' },
    image_requests: [{ architecture: 'x86_64', image_type: 'guest-image', repositories: [{ baseurl: 'https://r.example.test/' }] }],
  };
  const validRequest = schema('ComposeRequest');
  t.true(validRequest(request), JSON.stringify(validRequest.errors));
  t.false(validRequest({ ...request, koji: { server: HUB } }));
  const created = await app.inject({ method: 'POST', url: `${API_BASE}/compose`, payload: request });
  t.is(created.statusCode, 201, created.body);
  const status = await app.inject({ method: 'GET', url: `${API_BASE}/composes/${created.json().id}` });
  const validStatus = schema('ComposeStatus');
  t.true(validStatus(status.json()), JSON.stringify(validStatus.errors));
  t.false(validStatus({ ...status.json(), status: 'exploded' }));
  const error = await app.inject({ method: 'GET', url: `${API_BASE}/composes/00000000-0000-4000-8000-000000000000` });
  const validError = schema('Error');
  t.true(validError(error.json()), JSON.stringify(validError.errors));
});
