/**
 * Every valid osbuild-composer compose request shape (test/helpers/composer-shapes.ts, derived
 * from composer's own OpenAPI document, each checked to be valid against it) sent to Kiln's API
 * over real HTTP on loopback, with a real Postgres: accepted (201) unless the image type cannot
 * carry it — then a 400 naming the request field and saying why. Whether the type can carry it
 * is osbuild/images' answer (its supported_options for the type, from the upstream definitions
 * beside the checkout), not Kiln's; Kiln's own refusals are listed here with their reasons.
 * An accepted shape must reach the jobs: every value it sets is found in what the jobs get.
 *
 * The counts (accepted of all, and the issue's measure: the top-level fields of Customizations,
 * Blueprint and BlueprintCustomizations plus the image types) are printed with the test.
 */
import test from 'ava';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/api/app.js';
import { silentLogger } from '../src/log.js';
import { API_BASE } from '../src/compose/index.js';
import { imagesNameFor } from '../src/compose/image-types.js';
import { pullsCommit, resolveImage } from '../src/osbuild/index.js';
import { validate } from '../src/schemas.js';
import type { KilnConfig } from '../src/generated/config.schema.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { findComposerSpec, loadComposerContract } from './helpers/composer-openapi.js';
import { ShapeGenerator, testCertificate, type Shape } from './helpers/composer-shapes.js';
import { findReference } from './helpers/reference.js';
import { loadUpstreamDefs } from './helpers/upstream-defs.js';

type Json = Record<string, any>;

const SPEC = findComposerSpec();
const DEFS = findReference('upstream/images-distrodefs');
const HUB = 'https://koji.example.test/kojihub';
const REPO = 'https://repos.example.test/rhel/x86_64/';
const DISTRO = 'rhel-9.6';
const ARCH = 'x86_64';
const PROFILE = 'xccdf_org.ssgproject.content_profile_cis';
/** The image types every customization shape is sent for: a disk image that takes nearly all, and a WSL tarball that takes few. */
const CARRIERS = [
  { api: 'guest-image', images: 'qcow2' },
  { api: 'wsl', images: 'wsl' },
];

let db: TestDatabase;
let app: FastifyInstance;
let url: string;
let shapes: Shape[];
let composerValid: (body: unknown) => string[];

if (!SPEC || !DEFS) {
  test('every composer request shape', (t) => t.log('skipped: shared/reference/upstream/ (composer\'s OpenAPI document, images-distrodefs) is not beside this checkout'));
} else {
  test.before(async () => {
    const contract = loadComposerContract(SPEC);
    const request = contract.literalSchema('ComposeRequest');
    composerValid = (body) => (request(body) ? [] : (request.errors ?? []).map((e) => `${e.instancePath} ${e.message}`));
    shapes = new ShapeGenerator(SPEC, { distribution: DISTRO, certificate: await testCertificate(), openscapProfile: PROFILE }).shapes();
    db = await createTestDatabase();
    const s3 = { ...validate<KilnConfig['s3']>('config.schema#/properties/s3', {}), bucket: 'kiln-images' };
    app = await buildApp({ pool: db.pool, log: silentLogger, kojiServers: [HUB], s3 });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  test.after.always(async () => {
    await app?.close();
    await db?.drop();
  });
  registerTests();
}

/** The request of a shape for an image type (of DISTRO unless the shape is an image type Kiln builds elsewhere). */
function requestFor(shape: Shape, imageType: string, distribution = DISTRO): Json {
  const ir = { architecture: ARCH, image_type: shape.imageType ?? imageType, repositories: [{ baseurl: REPO }], ...(shape.imageRequest ?? {}) };
  return {
    distribution,
    koji: { server: HUB, task_id: 1, name: 'Shapes', version: '1', release: '1' },
    ...(shape.imageRequests ? { image_requests: [ir, ...(shape.extraImageRequest ? [{ ...ir, ...shape.extraImageRequest }] : [])] } : { image_request: ir }),
    ...(shape.customizations ? { customizations: shape.customizations } : {}),
    ...(shape.blueprint ? { blueprint: shape.blueprint } : {}),
  };
}

interface Answer {
  status: number;
  json: Json;
}

async function post(body: unknown): Promise<Answer> {
  const res = await fetch(`${url}${API_BASE}/compose`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  return { status: res.status, json: (await res.json()) as Json };
}

/** osbuild/images' idea of "set": zero values, empty lists and objects of zeros are not. */
function isZero(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.values(v as Json).every(isZero);
  return false;
}

/** The blueprint paths a fragment sets (objects walked, lists and scalars as leaves). */
function leaves(value: unknown, at: string): string[] {
  if (isZero(value)) return [];
  if (typeof value === 'object' && !Array.isArray(value)) return Object.entries(value as Json).flatMap(([k, v]) => leaves(v, at ? `${at}.${k}` : k));
  return [at];
}

/** composer's renames of a Customizations key into the blueprint (null: not a blueprint field). */
function blueprintKey(key: string): string | null {
  const top: Record<string, string | null> = {
    packages: 'packages',
    enabled_modules: 'enabled_modules',
    containers: 'containers',
    users: 'customizations.user',
    groups: 'customizations.group',
    custom_repositories: 'customizations.repositories',
    subscription: null,
    partitioning_mode: null,
    payload_repositories: null,
  };
  return key in top ? top[key] : `customizations.${key}`;
}

type Expect = { status: 201 } | { status: 400; field: string; exact?: boolean; reason: RegExp };

/** The blueprint paths a customization shape sets that osbuild/images' type does not list. */
function unsupported(shape: Shape, supported: string[]): string[] {
  const paths = shape.customizations
    ? Object.entries(shape.customizations).flatMap(([k, v]) => {
        const to = blueprintKey(k);
        return to === null ? [] : leaves(v, to);
      })
    : leaves(shape.blueprint, '');
  const allowed = ['name', 'version', 'description', ...supported];
  return paths.filter((p) => !allowed.some((s) => p === s || p.startsWith(`${s}.`)));
}

/** The request field a refusal of a customization shape must be under: its top-level field. */
function topField(shape: Shape): string {
  const [door, first, second] = shape.path.replace(/\[\d+\]/g, '').split('.');
  return door === 'blueprint' && first === 'customizations' && second ? `blueprint.customizations.${second}` : `${door}.${first}`;
}

/** What Kiln must answer a customization or blueprint shape on an image type. */
function expectFor(shape: Shape, carrier: { api: string; images: string }, supported: string[], hasDisk: boolean): Expect {
  const c = shape.customizations ?? {};
  // Kiln's own refusals, each with its reason
  if (c.subscription?.template_uuid) {
    return { status: 400, field: 'customizations.subscription.template_uuid', exact: true, reason: /is not supported: registering to a content template by UUID needs the content-sources service URL/ };
  }
  if (c.subscription?.template_name && !c.subscription.rhc) {
    return { status: 400, field: 'customizations.subscription.template_name', exact: true, reason: /is used only when registering with rhc/ };
  }
  const payload = c.payload_repositories?.[0];
  if (payload?.rhsm) return { status: 400, field: 'customizations.payload_repositories[0].rhsm', exact: true, reason: /RHSM repositories are not supported/ };
  if (payload?.package_sets) return { status: 400, field: 'customizations.payload_repositories[0].package_sets', exact: true, reason: /does not apply: payload repositories serve the packages of customizations\.packages only/ };
  if ((c.partitioning_mode === 'raw' || c.partitioning_mode === 'lvm') && !hasDisk) {
    return { status: 400, field: 'customizations.partitioning_mode', exact: true, reason: new RegExp(`has no effect: image type ${carrier.images} has no partition table`) };
  }
  // what osbuild/images' type does not take
  if (unsupported(shape, supported).length) return { status: 400, field: topField(shape), reason: new RegExp(`is not supported by image type ${carrier.images}\\b`) };
  return { status: 201 };
}

/** What Kiln must answer one of the image request's own shapes (on guest-image). */
function expectForRequest(shape: Shape): Expect {
  const ir = shape.imageRequest ?? {};
  // two image requests alike would import two files of one name into the Koji build
  if (shape.extraImageRequest && isZero(shape.extraImageRequest)) {
    return { status: 400, field: 'image_requests[1]', exact: true, reason: /its Koji file name \(<name>-<version>-<release>\.x86_64\.qcow2\) is that of image_requests\[0\] too; give one of them a filename_suffix/ };
  }
  if (ir.upload_targets) return { status: 400, field: 'image_request.upload_targets', exact: true, reason: /is not supported: Kiln imports the images into Koji and uploads a copy only to AWS S3, through upload_options/ };
  if (ir.repositories?.[0]?.rhsm) return { status: 400, field: 'image_request.repositories[0].rhsm', exact: true, reason: /RHSM repositories are not supported/ };
  if (ir.ostree && !isZero(ir.ostree)) return { status: 400, field: 'image_request.ostree', exact: true, reason: /is not an ostree image type/ };
  const upload = ir.upload_options as Json | undefined;
  if (upload) {
    const foreign = Object.keys(upload).find((k) => !['region', 'public', 'bucket', 'key_prefix'].includes(k));
    if (foreign) return { status: 400, field: `image_request.upload_options.${foreign}`, exact: true, reason: /is an option of uploads to .*, which Kiln does not do/ };
    if (!upload.region) return { status: 400, field: 'image_request.upload_options.region', exact: true, reason: /is required/ };
  }
  return { status: 201 };
}

/** Every string and number a shape sets (passwords apart: those are stored crypted). */
function values(v: unknown, key = ''): (string | number)[] {
  if (typeof v === 'string') return key === 'password' ? [] : [v];
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.flatMap((x) => values(x, key));
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => values(x, k));
  return [];
}

interface Outcome {
  shape: Shape;
  status: number;
  field?: string;
  reason?: string;
}

/** Sends every shape; returns the outcomes and every disagreement with the expectation. */
async function sendAll(list: { shape: Shape; body: Json; expect: Expect }[]): Promise<{ outcomes: Outcome[]; problems: string[] }> {
  const outcomes: Outcome[] = [];
  const problems: string[] = [];
  for (const { shape, body, expect } of list) {
    const invalid = composerValid(body);
    if (invalid.length) {
      problems.push(`${shape.name}: the test's request is not valid for composer: ${invalid.join('; ')}`);
      continue;
    }
    const { status, json } = await post(body);
    const field = json.details?.field as string | undefined;
    outcomes.push({ shape, status, ...(status !== 201 ? { field, reason: json.reason } : {}) });
    const what = `${shape.name}: ${status} ${status === 201 ? '' : json.reason}`;
    if (status !== expect.status) {
      problems.push(`${what} (expected ${expect.status}${expect.status === 400 ? ` naming ${expect.field}` : ''})`);
      continue;
    }
    if (expect.status === 400) {
      const named = expect.exact ? field === expect.field : field === expect.field || field?.startsWith(`${expect.field}.`) || field?.startsWith(`${expect.field}[`);
      if (!named || !String(json.reason).startsWith(`${field}: `) || !expect.reason.test(json.reason)) problems.push(`${what} (expected the field ${expect.field}${expect.exact ? '' : '…'} and ${expect.reason})`);
      continue;
    }
    // accepted: every value the shape sets reaches the jobs (nothing silently dropped)
    const { rows } = await db.pool.query(`SELECT args FROM kiln_jobs WHERE compose_id = $1 AND type IN ('depsolve', 'osbuild')`, [json.id]);
    const args = JSON.stringify(rows.map((r) => r.args));
    const fragment = shape.customizations ?? shape.blueprint ?? {};
    const lost = values(fragment).filter((v) => !args.includes(JSON.stringify(v)));
    if (lost.length) problems.push(`${shape.name}: accepted, but the jobs lack ${lost.map((v) => JSON.stringify(v)).join(', ')}`);
    if (JSON.stringify(fragment).includes('"password"') && !/"password":"\$6\$/.test(args)) problems.push(`${shape.name}: the jobs' password is not crypted`);
  }
  return { outcomes, problems };
}

const count = (outcomes: Outcome[]) => `${outcomes.filter((o) => o.status === 201).length} of ${outcomes.length}`;
const refusals = (outcomes: Outcome[]) => outcomes.filter((o) => o.status !== 201).map((o) => `${o.shape.name} → ${o.status} ${o.reason}`);

function registerTests(): void {
  const upstream = () => loadUpstreamDefs(DEFS!);
  const results = new Map<string, Outcome[]>();

  for (const carrier of CARRIERS) {
    test.serial(`every Customizations and Blueprint shape on ${carrier.api} (${DISTRO}): accepted unless osbuild/images' ${carrier.images} does not take it`, async (t) => {
      t.timeout(600_000);
      const supported = upstream().resolveUpstream(DISTRO, carrier.images, ARCH).blueprint.supported_options;
      const image = resolveImage(DISTRO, ARCH, carrier.images);
      const hasDisk = Boolean(image.partitionTable);
      const list = shapes
        .filter((s) => s.customizations || s.blueprint)
        .map((shape) => ({ shape, body: requestFor(shape, carrier.api), expect: expectFor(shape, carrier, supported, hasDisk) }));
      t.true(list.length > 250, `${list.length} shapes`);
      const { outcomes, problems } = await sendAll(list);
      results.set(carrier.api, outcomes);
      t.log(`${carrier.api}: accepted ${count(outcomes)}; refused: ${refusals(outcomes).length ? `\n  ${refusals(outcomes).join('\n  ')}` : 'none'}`);
      t.deepEqual(problems, []);
    });
  }

  test.serial('every image type of composer\'s ImageTypes: accepted where Kiln builds it, else a 400 naming image_type', async (t) => {
    const list = shapes
      .filter((s) => s.kind === 'image-type')
      .map((shape) => {
        const name = imagesNameFor(shape.imageType!);
        // the distro the type exists for in Kiln (composer's rhel-8-only and Fedora IoT types have none yet)
        const distro = ['rhel-9.6', 'fedora-43', 'rhel-10.0'].find((d) => {
          try {
            return Boolean(resolveImage(d, ARCH, name));
          } catch {
            return false;
          }
        });
        const expect: Expect = distro ? { status: 201 } : { status: 400, field: 'image_request.image_type', exact: true, reason: /unsupported: .*image type/ };
        // what the type requires goes with it (the simplified installer's target disk), as composer's clients send it
        const image = distro ? resolveImage(distro, ARCH, name) : undefined;
        const required = image?.requiredCustomizations.includes('customizations.installation_device');
        const body = requestFor(required ? { ...shape, customizations: { installation_device: '/dev/vda' } } : shape, shape.imageType!, distro ?? DISTRO);
        // a type made from a commit with no default repository takes it from the request (Pungi sends ostree.url for edge-installer)
        if (image && pullsCommit(image.kind) && !image.ostree?.url) (body.image_request as Json).ostree = { url: 'https://ostree.example.test/repo' };
        return { shape, body, expect };
      });
    t.is(list.length, 27);
    const { outcomes, problems } = await sendAll(list);
    results.set('image-types', outcomes);
    t.log(`image types: accepted ${count(outcomes)}; refused: ${outcomes.filter((o) => o.status !== 201).map((o) => o.shape.imageType).join(', ')}`);
    t.deepEqual(problems, []);
  });

  test.serial('the image request\'s own shapes (repositories, ostree, size, upload options and targets, image_requests)', async (t) => {
    const list = shapes.filter((s) => s.kind === 'request').map((shape) => ({ shape, body: requestFor(shape, 'guest-image'), expect: expectForRequest(shape) }));
    t.true(list.length > 50);
    const { outcomes, problems } = await sendAll(list);
    results.set('request', outcomes);
    t.log(`image request shapes: accepted ${count(outcomes)}; refused:\n  ${refusals(outcomes).join('\n  ')}`);
    t.deepEqual(problems, []);
  });

  test.serial('the counts: all shapes, and the issue\'s measure (top-level fields and image types on guest-image)', (t) => {
    const first = results.get('guest-image') ?? [];
    const types = results.get('image-types') ?? [];
    const request = results.get('request') ?? [];
    const measure = [...first.filter((o) => o.shape.top), ...types];
    const all = [...first, ...(results.get('wsl') ?? []), ...types, ...request];
    t.is(measure.length, 88, 'Customizations 28 + Blueprint 9 (name is required) + BlueprintCustomizations 24 + image types 27');
    t.log(`issue measure: accepted ${count(measure)} (Customizations ${count(first.filter((o) => o.shape.top && o.shape.customizations))}, Blueprint and BlueprintCustomizations ${count(first.filter((o) => o.shape.top && o.shape.blueprint))}, image types ${count(types)})`);
    t.log(`every shape: accepted ${count(all)} (guest-image ${count(first)}, wsl ${count(results.get('wsl') ?? [])}, image types ${count(types)}, image request ${count(request)})`);
    t.true(all.length > 600);
  });
}
