/**
 * The OpenAPI 3.0 document, generated at startup from what fastify actually serves: every route
 * seen by an `onRoute` hook with its params/querystring/body/response schemas, and every schema
 * in schemas/ (registered on the app by $id) as components/schemas. There is no hand-written
 * copy to drift from the code. Kiln's schemas are JSON Schema draft-07; OpenAPI 3.0 takes a
 * subset, so they are translated: `const` → one-value `enum`, `null` types → `nullable`,
 * numeric `exclusiveMinimum` → `minimum` + `exclusiveMinimum: true`, `definitions` → their own
 * components, refs by $id → component refs; keywords 3.0 lacks (if/then/else, propertyNames)
 * are dropped, which loosens only the description, never the server's own validation.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import { API_BASE } from '../compose/index.js';
import { KILN_VERSION } from '../version.js';
import { PUBLIC_PATHS, PUBLIC_PREFIXES } from './auth.js';

type Json = Record<string, unknown>;

const OPENAPI_VERSION = '3.0.3';
const DROPPED = new Set(['$schema', '$id', '$comment', 'definitions', '$defs', 'if', 'then', 'else', 'propertyNames', 'contains', 'dependencies', 'additionalItems', 'examples', 'const']);
const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'patch']);

export interface SchemaNames {
  /** $id → component name */
  byId: Map<string, string>;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function componentName(schema: Json, id: string): string {
  const title = typeof schema.title === 'string' && /^[A-Za-z0-9._-]+$/.test(schema.title) ? schema.title : id.replace(/\.schema$/, '');
  return title.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Rewrites a JSON Schema $ref (`#/definitions/X`, `other.schema#`, `other.schema#/definitions/X`) into a component ref. */
function rewriteRef(ref: string, ownerId: string | undefined, names: SchemaNames): string {
  const m = /^([^#]*)(?:#(.*))?$/.exec(ref)!;
  const id = m[1] || ownerId;
  const pointer = m[2] ?? '';
  const base = id ? names.byId.get(id) ?? names.byId.get(id.replace(/\.json$/, '')) : undefined;
  if (!base) throw new Error(`OpenAPI: cannot resolve $ref ${JSON.stringify(ref)}${ownerId ? ` in ${ownerId}` : ''}`);
  if (!pointer || pointer === '/') return `#/components/schemas/${base}`;
  const d = /^\/(?:definitions|\$defs)\/([^/]+)$/.exec(pointer);
  if (!d) throw new Error(`OpenAPI: unsupported $ref pointer ${JSON.stringify(ref)}`);
  return `#/components/schemas/${base}.${d[1]}`;
}

/** Translates one draft-07 schema node into an OpenAPI 3.0 schema object. */
export function toOpenApiSchema(node: unknown, ownerId: string | undefined, names: SchemaNames): unknown {
  if (Array.isArray(node)) return node.map((n) => toOpenApiSchema(n, ownerId, names));
  if (!isObject(node)) return node;
  if (typeof node.$ref === 'string') return { $ref: rewriteRef(node.$ref, ownerId, names) };
  let out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (DROPPED.has(k)) continue;
    if (k === 'properties' && isObject(v)) {
      out.properties = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, toOpenApiSchema(s, ownerId, names)]));
    } else if (k === 'default' || k === 'enum') {
      out[k] = v;
    } else {
      out[k] = toOpenApiSchema(v, ownerId, names);
    }
  }
  if ('const' in node) out.enum = [node.const];
  if (Array.isArray(node.examples) && node.examples.length) out.example = node.examples[0];
  if (typeof node.exclusiveMinimum === 'number') {
    out.minimum = node.exclusiveMinimum;
    out.exclusiveMinimum = true;
  }
  if (typeof node.exclusiveMaximum === 'number') {
    out.maximum = node.exclusiveMaximum;
    out.exclusiveMaximum = true;
  }
  if (Array.isArray(node.type)) {
    const types = (node.type as string[]).filter((t) => t !== 'null');
    if (types.length !== node.type.length) out.nullable = true;
    if (types.length === 1) out.type = types[0];
    else {
      delete out.type;
      out.anyOf = types.map((t) => ({ type: t }));
    }
  } else if (node.type === 'null') {
    delete out.type;
    out.nullable = true;
    out.enum = [null];
  }
  // anyOf/oneOf with a {type: null} member: the rest, nullable
  for (const key of ['anyOf', 'oneOf'] as const) {
    const list = out[key];
    if (!Array.isArray(list)) continue;
    const nonNull = list.filter((s) => !(isObject(s) && s.nullable === true && Array.isArray(s.enum) && s.enum.length === 1 && s.enum[0] === null));
    if (nonNull.length === list.length) continue;
    if (nonNull.length === 1 && isObject(nonNull[0]) && !('$ref' in nonNull[0])) {
      const { [key]: _, ...rest } = out;
      out = { ...rest, ...nonNull[0], nullable: true };
    } else {
      out[key] = nonNull;
      out.nullable = true;
    }
  }
  return out;
}

/** components/schemas from every schema registered on the app (schemas/ by $id), with their definitions. */
export function componentsFrom(schemas: Record<string, unknown>): { names: SchemaNames; components: Record<string, unknown> } {
  const names: SchemaNames = { byId: new Map() };
  const entries = Object.entries(schemas).filter(([, s]) => isObject(s)) as [string, Json][];
  for (const [id, schema] of entries) names.byId.set(id, componentName(schema, id));
  const components: Record<string, unknown> = {};
  for (const [id, schema] of entries.sort(([a], [b]) => a.localeCompare(b))) {
    const base = names.byId.get(id)!;
    components[base] = toOpenApiSchema(schema, id, names);
    const defs = (schema.definitions ?? schema.$defs) as Json | undefined;
    for (const [def, s] of Object.entries(defs ?? {})) components[`${base}.${def}`] = toOpenApiSchema(s, id, names);
  }
  return { names, components };
}

interface SeenRoute {
  method: string;
  url: string;
  schema?: Json;
}

function parametersOf(schema: unknown, where: 'path' | 'query', names: SchemaNames): Json[] {
  if (!isObject(schema) || !isObject(schema.properties)) return [];
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  return Object.entries(schema.properties).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    schema: toOpenApiSchema(s, undefined, names),
  }));
}

function operationFor(route: SeenRoute, names: SchemaNames): Json {
  const s = route.schema ?? {};
  const op: Json = { operationId: `${route.method.toLowerCase()}${route.url.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}` };
  if (typeof s.summary === 'string') op.summary = s.summary;
  if (typeof s.description === 'string') op.description = s.description;
  const parameters = [...parametersOf(s.params, 'path', names), ...parametersOf(s.querystring, 'query', names)];
  if (parameters.length) op.parameters = parameters;
  if (s.body) {
    const body = toOpenApiSchema(s.body, undefined, names);
    op.requestBody = { required: !(isObject(body) && body.nullable === true), content: { 'application/json': { schema: body } } };
  }
  const responses: Json = {};
  for (const [code, r] of Object.entries(isObject(s.response) ? s.response : {})) {
    responses[code] = { description: `${code} response`, content: { 'application/json': { schema: toOpenApiSchema(r, undefined, names) } } };
  }
  if (!Object.keys(responses).length) responses['200'] = { description: 'success' };
  responses.default = { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  op.responses = responses;
  return op;
}

/** Builds the document from collected routes and the app's schemas. */
export function buildOpenApiDocument(routes: readonly SeenRoute[], schemas: Record<string, unknown>): Json {
  const { names, components } = componentsFrom(schemas);
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const method = route.method.toLowerCase();
    if (!HTTP_METHODS.has(method)) continue;
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const op = operationFor(route, names);
    if (PUBLIC_PATHS.includes(route.url) || PUBLIC_PREFIXES.some((p) => route.url.startsWith(p))) op.security = [];
    (paths[path] ??= {})[method] = op;
  }
  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: 'Kiln API',
      version: KILN_VERSION,
      description: `Builds OS images for Koji with osbuild. The compose API under ${API_BASE} is the subset of osbuild-composer's cloud API that Koji builder plugins call; POST /RPC2 offers it over XML-RPC. When authentication is configured, callers present a bearer token or a client certificate whose name is allowed.`,
    },
    servers: [{ url: '/' }],
    // when auth is configured (src/api/auth.ts): a bearer token, or instead an allowed client
    // certificate, which OpenAPI 3.0 cannot express (mutualTLS is 3.1)
    security: [{ bearer: [] }],
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
    components: {
      schemas: components,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
  };
}

/**
 * Registers the route collector and GET {API_BASE}/openapi(.json). Call before any other route
 * is registered: onRoute only sees routes added after it.
 */
export function registerOpenApi(app: FastifyInstance): void {
  const routes: SeenRoute[] = [];
  app.addHook('onRoute', (opts: RouteOptions) => {
    if ((opts.config as { openapi?: boolean } | undefined)?.openapi === false) return;
    for (const method of Array.isArray(opts.method) ? opts.method : [opts.method]) {
      routes.push({ method: String(method), url: opts.url, schema: opts.schema as Json | undefined });
    }
  });
  let document: Json | undefined;
  let text: string | undefined;
  app.addHook('onReady', async () => {
    document = buildOpenApiDocument(routes, app.getSchemas());
    text = JSON.stringify(document);
  });
  const handler = async (_request: unknown, reply: { type(t: string): { send(b: string): unknown } }) => reply.type('application/json; charset=utf-8').send(text!);
  app.get(`${API_BASE}/openapi`, { config: { openapi: false } }, handler);
  app.get(`${API_BASE}/openapi.json`, { config: { openapi: false } }, handler);
}
