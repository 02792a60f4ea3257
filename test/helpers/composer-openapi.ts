/**
 * osbuild-composer's own OpenAPI document (its cloud API contract) as a validator of real HTTP
 * answers: the operation is found by method and path template, the response by status and
 * media type, and the body is validated with ajv (draft-04 dialect plus OpenAPI's `nullable`)
 * against the component schemas, $refs resolved. Strict: an unknown schema keyword is an error
 * at compile time, an undeclared status or media type is a problem unless it is one of the
 * spec's documented quirks below, each of which is recorded so a test can assert exactly which
 * quirks its traffic met.
 *
 * The document is upstream's, not Kiln's: it is read from shared/reference/upstream/ (present
 * in CI and in every session, never copied into the repository).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv04Module from 'ajv-draft-04';
import addFormatsModule from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { API_BASE } from '../../src/compose/index.js';
import { findReference } from './reference.js';

const Ajv04 = ((Ajv04Module as unknown as { default?: unknown }).default ?? Ajv04Module) as typeof Ajv04Module.default;
const addFormats = addFormatsModule as unknown as (ajv: InstanceType<typeof Ajv04>) => void;

const SPEC_FILE = 'composer-cloudapi-openapi.v2.yml';

/** composer's OpenAPI document from shared/reference/upstream/ (test/helpers/reference.ts). */
export function findComposerSpec(): string | undefined {
  return findReference(path.join('upstream', SPEC_FILE));
}

type Json = Record<string, any>;

/**
 * The spec's quirks met while validating. Each is handled by the rule composer's own server
 * follows, never by skipping the check:
 * - `undeclared-error-status`: an error status the operation does not declare (e.g. 415 on
 *   POST /compose). Composer's server answers every error with its Error body (its echo
 *   HTTPErrorHandler, ErrorUnsupportedMediaType 415 included), so the body must be an Error.
 * - `json-error-for-text-plain`: /logs and /manifests declare their 400 and 404 as text/plain
 *   strings, yet composer's server sends its JSON Error there too; the body must be an Error.
 * - `kiln-extension`: an operation composer does not have (Kiln's POST /composes/{id}/cancel,
 *   an unknown route); the body must match what the extension table below says.
 */
export type Quirk = 'undeclared-error-status' | 'json-error-for-text-plain' | 'kiln-extension';

export interface Checked {
  /** What was validated against what, e.g. "GET /composes/{id} 200 → ComposeStatus". */
  what: string;
  problems: string[];
  quirk?: Quirk;
}

/**
 * Kiln's operations that are not in composer's document, and the component their answers must
 * be: a cancel answers the compose's status; anything else (an unknown route) is an Error.
 */
const KILN_EXTENSIONS: { method: string; template: string; ok: string }[] = [{ method: 'POST', template: '/composes/{id}/cancel', ok: 'ComposeStatus' }];

/** Which UploadStatus options schema goes with which upload type (composer's targetResultToUploadStatus). */
const UPLOAD_STATUS_BY_TYPE: Record<string, string> = {
  aws: 'AWSEC2UploadStatus',
  'aws.s3': 'AWSS3UploadStatus',
  gcp: 'GCPUploadStatus',
  azure: 'AzureUploadStatus',
  container: 'ContainerUploadStatus',
  'oci.objectstorage': 'OCIUploadStatus',
  'pulp.ostree': 'PulpOSTreeUploadStatus',
  local: 'LocalUploadStatus',
};

function rewriteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string') {
      const m = /^#\/components\/schemas\/([^/]+)$/.exec(v);
      if (!m) throw new Error(`composer spec: unsupported $ref ${v}`);
      out.$ref = `composer#/definitions/${m[1]}`;
    } else out[k] = rewriteRefs(v);
  }
  return out;
}

/**
 * UploadStatus.options is a oneOf whose members overlap: AWSS3UploadStatus and OCIUploadStatus
 * both require only `url` (and neither forbids other fields), so every S3 or OCI status matches
 * two members and fails the oneOf. The member is meant to be picked by the status's `type`, as
 * composer's server does; this states that as disjoint oneOf branches, one per type, each
 * with its own options schema. The original list must be exactly the known eight.
 */
function discriminateUploadStatus(schemas: Json): void {
  const us = schemas.UploadStatus;
  const members = (us?.properties?.options?.oneOf ?? []).map((m: Json) => String(m.$ref).replace('#/components/schemas/', ''));
  const expected = Object.values(UPLOAD_STATUS_BY_TYPE);
  if (members.length !== expected.length || expected.some((e) => !members.includes(e)) || schemas.UploadTypes?.enum?.length !== expected.length) {
    throw new Error(`composer spec: UploadStatus.options is no longer the known oneOf (${members.join(', ')}); review the discriminator mapping`);
  }
  const { options: _options, ...properties } = us.properties;
  schemas.UploadStatus = {
    ...us,
    properties,
    oneOf: Object.entries(UPLOAD_STATUS_BY_TYPE).map(([type, schema]) => ({
      properties: { type: { enum: [type] }, options: { $ref: `#/components/schemas/${schema}` } },
    })),
  };
}

export interface ComposerContract {
  file: string;
  /** A validator for component `name` (after the quirk rewrites). */
  schema(name: string): ValidateFunction;
  /** A validator for component `name` exactly as the document states it (no rewrites). */
  literalSchema(name: string): ValidateFunction;
  /** Validates one real answer; `url` is the request URL path (query allowed). */
  check(method: string, url: string, status: number, contentType: string | undefined, body: unknown): Checked;
}

function makeAjv(schemas: Json): InstanceType<typeof Ajv04> {
  // strict: an OpenAPI keyword this helper does not know fails the compile instead of being ignored.
  // Two of ajv's strict lints are off because the document does legal things they warn about:
  // `properties` without `type: object` (most components), and List's `required: [items]` whose
  // `items` the allOf sibling defines (ErrorList, ComposeList); both keep validating as written.
  const ajv = new Ajv04({ strict: true, strictTypes: false, strictRequired: false, allErrors: true });
  addFormats(ajv);
  // OpenAPI's annotation-only formats: a UI hint (password) and a byte stream (binary)
  ajv.addFormat('password', true);
  ajv.addFormat('binary', true);
  // annotations without validation meaning
  ajv.addKeyword({ keyword: 'example' });
  ajv.addKeyword({ keyword: 'x-go-type' });
  ajv.addSchema({ definitions: rewriteRefs(schemas) as Json }, 'composer');
  return ajv;
}

export function loadComposerContract(file: string): ComposerContract {
  const doc = parseYaml(readFileSync(file, 'utf8')) as Json;
  const literal = structuredClone(doc.components.schemas) as Json;
  const schemas = structuredClone(doc.components.schemas) as Json;
  discriminateUploadStatus(schemas);
  const ajv = makeAjv(schemas);
  const literalAjv = makeAjv(literal);
  const compiled = new Map<string, ValidateFunction>();
  const compile = (which: InstanceType<typeof Ajv04>, key: string, schema: Json): ValidateFunction => {
    let fn = compiled.get(key);
    if (!fn) compiled.set(key, (fn = which.compile(rewriteRefs(schema) as Json)));
    return fn;
  };
  const schema = (name: string) => {
    if (!schemas[name]) throw new Error(`composer spec: no component ${name}`);
    return compile(ajv, `component:${name}`, { $ref: `#/components/schemas/${name}` });
  };
  const literalSchema = (name: string) => compile(literalAjv, `literal:${name}`, { $ref: `#/components/schemas/${name}` });

  const templates = Object.keys(doc.paths as Json).map((template) => ({
    template,
    re: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+')}$`),
    statics: template.split('/').filter((s) => s && !s.startsWith('{')).length,
  }));
  // static segments win over parameters (/composes/ before /composes/{id})
  templates.sort((a, b) => b.statics - a.statics);

  const problemsOf = (fn: ValidateFunction, body: unknown): string[] =>
    fn(body) ? [] : (fn.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);

  const check = (method: string, url: string, status: number, contentType: string | undefined, body: unknown): Checked => {
    const pathname = url.split('?')[0];
    if (!pathname.startsWith(`${API_BASE}/`)) return { what: `${method} ${pathname}`, problems: [`${pathname} is outside the cloud API`] };
    const rel = pathname.slice(API_BASE.length);
    const media = (contentType ?? '').split(';')[0].trim();
    const found = templates.find((t) => t.re.test(rel));
    const operation = found ? (doc.paths[found.template] as Json)[method.toLowerCase()] : undefined;
    const asComponent = (name: string, what: string, quirk?: Quirk): Checked => {
      const problems = media === 'application/json' ? problemsOf(schema(name), body) : [`media type ${media || '(none)'} is not application/json`];
      return { what: `${what} → ${name}`, problems, ...(quirk ? { quirk } : {}) };
    };
    if (!operation) {
      const ext = KILN_EXTENSIONS.find((e) => e.method === method && new RegExp(`^${e.template.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(rel));
      const ok = status >= 200 && status < 300;
      const what = `${method} ${ext?.template ?? rel} ${status} (not in composer's document)`;
      if (ext && ok) return asComponent(ext.ok, what, 'kiln-extension');
      if (ok) return { what, problems: [`${method} ${rel} answered ${status}, but the route is in neither composer's document nor Kiln's extensions`] };
      return asComponent('Error', what, 'kiln-extension');
    }
    const what = `${method} ${found!.template} ${status}`;
    const responses = operation.responses as Json;
    const declared = responses[String(status)] ?? responses.default;
    if (!declared) {
      if (status >= 400) return asComponent('Error', `${what} (undeclared)`, 'undeclared-error-status');
      return { what, problems: [`status ${status} is not declared for ${method} ${found!.template} (declared: ${Object.keys(responses).join(', ')})`] };
    }
    const content = (declared.content ?? {}) as Json;
    if (!content[media]) {
      if (status >= 400 && content['text/plain'] && media === 'application/json') return asComponent('Error', `${what} (declared text/plain)`, 'json-error-for-text-plain');
      return { what, problems: [`media type ${media || '(none)'} is not declared for ${what} (declared: ${Object.keys(content).join(', ') || 'no body'})`] };
    }
    const responseSchema = content[media].schema as Json;
    const ref = typeof responseSchema?.$ref === 'string' ? responseSchema.$ref.replace('#/components/schemas/', '') : undefined;
    const fn = compile(ajv, `response:${method} ${found!.template} ${status} ${media}`, responseSchema);
    return { what: `${what} → ${ref ?? JSON.stringify(responseSchema)}`, problems: problemsOf(fn, body) };
  };

  return { file, schema, literalSchema, check };
}
