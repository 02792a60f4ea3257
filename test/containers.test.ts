/**
 * Containers embedded in images (blueprint.containers): references, resolution in a real
 * registry on loopback (Debian's docker-registry; plain HTTP, TLS with an untrusted
 * certificate, htpasswd) with real skopeo, the manifest's sources and stages against osbuild's
 * schemas, and the depsolve job → manifest → osbuild stand-in path, whose skopeo source and
 * stage pull from the registry as osbuild does.
 */
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkBlueprint, type Blueprint } from '../src/blueprint/index.js';
import { parseReference, resolveContainers, ContainerResolveError, type ContainerSpec } from '../src/containers/index.js';
import { InvalidInputError, KilnError } from '../src/errors.js';
import { generateManifest, imageCatalog, packageRequests, packagesFromDepsolve, resolveImage, runOsbuild, osbuildFailure, type Manifest } from '../src/osbuild/index.js';
import { containersPlan, containerStages } from '../src/osbuild/stages/containers.js';
import { Sources } from '../src/osbuild/stages/rpm.js';
import { stageTools } from '../src/osbuild/stages/stage.js';
import { depsolveJob, type DepsolveJobResult } from '../src/jobs/depsolve.js';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { startRegistry, REGISTRY_USER, type PushedImage, type TestRegistry } from './helpers/registry.js';
import { syntheticDepsolve } from './osbuild-standin/synthetic.js';
import { validateManifest } from './osbuild-standin/validate.js';
import { loadManifest } from './osbuild-standin/load.js';

const STANDIN = fileURLToPath(new URL('./osbuild-standin/osbuild.mjs', import.meta.url));
const ZERO_SOLVER = fileURLToPath(new URL('../bench/fixtures/zero-depsolve.mjs', import.meta.url));

let plain: TestRegistry;
let tls: TestRegistry;
let auth: TestRegistry;
let tiny: PushedImage;
let multi: { listDigest: string; images: PushedImage[] };
let dockerList: { listDigest: string; images: PushedImage[] };
const scratch = mkdtempSync(path.join(os.tmpdir(), 'kiln-containers-test-'));

test.before(async () => {
  [plain, tls, auth] = await Promise.all([startRegistry(), startRegistry({ tls: true }), startRegistry({ auth: true })]);
  tiny = await plain.push('kiln/tiny', '1');
  multi = await plain.pushList('kiln/multi', '1', ['amd64', 'arm64']);
  dockerList = await plain.pushList('kiln/dmulti', '2', ['amd64', 'arm64', 's390x'], { oci: false });
  await tls.push('kiln/tiny', '1');
  await auth.push('kiln/tiny', '1');
});

test.after.always(async () => {
  await Promise.all([plain?.stop(), tls?.stop(), auth?.stop()]);
  rmSync(scratch, { recursive: true, force: true });
});

const opts = { arch: 'x86_64', timeoutMs: 30_000 };

test('references are normalised as skopeo and osbuild/images read them; bad ones are refused naming the field', (t) => {
  t.deepEqual(parseReference('fedora'), { name: 'docker.io/library/fedora', tag: 'latest' });
  t.deepEqual(parseReference('quay.io/fedora/fedora:41'), { name: 'quay.io/fedora/fedora', tag: '41' });
  t.deepEqual(parseReference('localhost/tiny'), { name: 'localhost/tiny', tag: 'latest' });
  t.deepEqual(parseReference('index.docker.io/x/y'), { name: 'docker.io/x/y', tag: 'latest' });
  const d = `sha256:${'a'.repeat(64)}`;
  t.deepEqual(parseReference(`127.0.0.1:5000/a/b@${d}`), { name: '127.0.0.1:5000/a/b', digest: d });
  t.regex(parseReference('Fedora') as string, /lowercase/);
  t.regex(parseReference('a/b:bad tag') as string, /invalid tag/);
  t.regex(parseReference('a/b@sha256:zz') as string, /invalid digest/);
  t.regex(parseReference('a'.repeat(64)) as string, /image id/);

  const refused = (bp: unknown, field: RegExp) => {
    const err = t.throws(() => checkBlueprint(bp), { instanceOf: InvalidInputError });
    t.regex(err!.message, field);
  };
  refused({ containers: [{ source: 'quay.io/x:1' }, { source: 'Quay.io/X' }] }, /^blueprint\.containers\[1\]\.source: "Quay\.io\/X" has an invalid repository name/);
  refused({ containers: [{ source: 'quay.io/x:1', 'local-storage': true }] }, /^blueprint\.containers\[0\]\.local-storage: is not supported: Kiln resolves and builds on worker hosts/);
  refused({ customizations: { 'containers-storage': {} } }, /^blueprint\.customizations\.containers-storage\.destination-path: is required/);
  refused({ customizations: { 'containers-storage': { 'destination-path': 'var/x' } } }, /destination-path: "var\/x" must be absolute/);
  t.notThrows(() => checkBlueprint({ containers: [{ source: 'quay.io/x:1', 'local-storage': false, 'tls-verify': false, name: 'x' }] }));
});

test('resolution: a tag becomes its manifest digest and image id; a manifest list the build architecture\'s image, its digest kept', async (t) => {
  const [one, list, armList] = [
    ...(await resolveContainers([{ source: `${plain.host}/kiln/tiny:1`, 'tls-verify': false }, { source: `${plain.host}/kiln/multi:1`, 'tls-verify': false, name: 'localhost/multi' }], opts)),
    ...(await resolveContainers([{ source: `${plain.host}/kiln/multi:1`, 'tls-verify': false }], { ...opts, arch: 'aarch64' })),
  ];
  t.deepEqual(one, { source: `${plain.host}/kiln/tiny`, digest: tiny.digest, image_id: tiny.imageId, local_name: `${plain.host}/kiln/tiny:1`, tls_verify: false, arch: 'amd64' });
  t.deepEqual(list, { source: `${plain.host}/kiln/multi`, digest: multi.images[0].digest, image_id: multi.images[0].imageId, list_digest: multi.listDigest, local_name: 'localhost/multi', tls_verify: false, arch: 'amd64' });
  t.is(armList.digest, multi.images[1].digest);
  t.is(armList.image_id, multi.images[1].imageId);
  t.is(armList.list_digest, multi.listDigest);
  t.is(armList.arch, 'arm64');
  // a Docker manifest list; a digest reference stays pinned
  const [s390x, byDigest] = await resolveContainers([{ source: `${plain.host}/kiln/dmulti:2`, 'tls-verify': false }, { source: `${plain.host}/kiln/tiny@${tiny.digest}`, 'tls-verify': false }], { ...opts, arch: 's390x' });
  t.is(s390x.digest, dockerList.images[2].digest);
  t.is(s390x.list_digest, dockerList.listDigest);
  t.is(byDigest.digest, tiny.digest);
  t.is(byDigest.local_name, `${plain.host}/kiln/tiny@${tiny.digest}`);
  // no image for the architecture
  const err = await t.throwsAsync(resolveContainers([{ source: `${plain.host}/kiln/multi:1`, 'tls-verify': false }], { ...opts, arch: 'ppc64le' }), { instanceOf: ContainerResolveError });
  t.is(err!.code, 'KILN_CONTAINER_RESOLVE');
  t.is(err!.reason, 'arch');
  t.regex(err!.message, /no image found in image index for architecture "ppc64le"/);
});

test('resolution errors name the container and say why: wrong tag, unknown repository, unreachable registry, authentication', async (t) => {
  const fails = async (c: Blueprint['containers'], reason: ContainerResolveError['reason'], message: RegExp) => {
    const err = await t.throwsAsync(resolveContainers(c, opts), { instanceOf: ContainerResolveError });
    t.is(err!.reason, reason, err!.message);
    t.regex(err!.message, message);
    t.is(err!.details?.field, err!.field);
  };
  const ok = { source: `${plain.host}/kiln/tiny:1`, 'tls-verify': false };
  await fails([ok, { source: `${plain.host}/kiln/tiny:nope`, 'tls-verify': false }], 'not-found', /^blueprint\.containers\[1\]\.source: cannot resolve ".*\/kiln\/tiny:nope": the image or tag does not exist in the registry \(reading manifest nope in .*manifest unknown/);
  await fails([{ source: `${plain.host}/kiln/nothing:1`, 'tls-verify': false }], 'not-found', /^blueprint\.containers\[0\]\.source: .*does not exist/);
  await fails([{ source: '127.0.0.1:1/kiln/tiny:1', 'tls-verify': false }], 'unreachable', /cannot be reached \(.*connection refused/);
  await fails([{ source: `${auth.host}/kiln/tiny:1`, 'tls-verify': false }], 'auth', /refused access .*unauthorized: authentication required/);
  // credentials come from the worker's containers auth file, as for skopeo and osbuild
  const authFile = path.join(scratch, 'auth.json');
  writeFileSync(authFile, JSON.stringify({ auths: { [auth.host]: { auth: Buffer.from(`${REGISTRY_USER}:kiln-secret`).toString('base64') } } }));
  process.env.REGISTRY_AUTH_FILE = authFile;
  try {
    const [spec] = await resolveContainers([{ source: `${auth.host}/kiln/tiny:1`, 'tls-verify': false }], opts);
    t.regex(spec.digest, /^sha256:[0-9a-f]{64}$/);
  } finally {
    delete process.env.REGISTRY_AUTH_FILE;
  }
  // a refused local-storage (jobs queued before the blueprint check) is not looked up
  await fails([{ source: 'localhost/x', 'local-storage': true }], 'unsupported', /local-storage is not supported/);
});

test('tls-verify: an untrusted certificate resolves only without verification; a plain-HTTP registry only with tls-verify false', async (t) => {
  for (const verify of [undefined, true]) {
    const err = await t.throwsAsync(resolveContainers([{ source: `${tls.host}/kiln/tiny:1`, ...(verify === undefined ? {} : { 'tls-verify': verify }) }], opts), { instanceOf: ContainerResolveError });
    t.is(err!.reason, 'tls');
    t.regex(err!.message, /TLS connection .*x509: certificate signed by unknown authority/);
    const plainErr = await t.throwsAsync(resolveContainers([{ source: `${plain.host}/kiln/tiny:1`, ...(verify === undefined ? {} : { 'tls-verify': verify }) }], opts), { instanceOf: ContainerResolveError });
    t.is(plainErr!.reason, 'tls');
    t.regex(plainErr!.message, /HTTP response to HTTPS client/);
  }
  const [spec] = await resolveContainers([{ source: `${tls.host}/kiln/tiny:1`, 'tls-verify': false }], opts);
  t.is(spec.tls_verify, false);
  t.regex(spec.image_id, /^sha256:[0-9a-f]{64}$/);
});

function manifestWith(bp: Blueprint, specs: ContainerSpec[] | undefined, type = 'qcow2', distro = 'fedora-43', arch = 'x86_64'): Manifest {
  const image = resolveImage(distro, arch, type);
  const input = { image, seed: '3', blueprint: bp };
  return generateManifest({ ...input, packages: syntheticDepsolve(packageRequests(input), arch), ...(specs ? { containers: specs } : {}) });
}

test('manifest: skopeo sources pin the images, one skopeo stage after fix-bls and before locale, skopeo in the build root; osbuild\'s schemas accept it', async (t) => {
  const bp: Blueprint = { containers: [{ source: `${plain.host}/kiln/tiny:1`, 'tls-verify': false, name: 'localhost/tiny' }, { source: `${plain.host}/kiln/multi:1` }] };
  const specs = await resolveContainers([bp.containers![0], { ...bp.containers![1], 'tls-verify': false }], opts);
  const m = manifestWith(bp, specs);
  const res = validateManifest(m);
  t.true(res.success, JSON.stringify(res.errors));
  t.notThrows(() => loadManifest(m as never));
  const os = m.pipelines.find((p) => p.name === 'os')!;
  const types = os.stages.map((s) => s.type);
  const at = types.indexOf('org.osbuild.skopeo');
  t.is(types[at - 1], 'org.osbuild.fix-bls');
  t.is(types[at + 1], 'org.osbuild.locale');
  t.is(types.filter((x) => x === 'org.osbuild.skopeo').length, 1);
  t.deepEqual(os.stages[at], {
    type: 'org.osbuild.skopeo',
    inputs: {
      images: {
        type: 'org.osbuild.containers',
        origin: 'org.osbuild.source',
        references: Object.fromEntries([[tiny.imageId, { name: 'localhost/tiny' }], [multi.images[0].imageId, { name: `${plain.host}/kiln/multi:1` }]].sort(([a], [b]) => (a < b ? -1 : 1))),
      },
      'manifest-lists': { type: 'org.osbuild.files', origin: 'org.osbuild.source', references: [multi.listDigest] },
    },
    options: { destination: { type: 'containers-storage' } },
  });
  t.deepEqual((m.sources['org.osbuild.skopeo'] as any).items[tiny.imageId], { image: { name: `${plain.host}/kiln/tiny`, digest: tiny.digest, 'tls-verify': false } });
  t.deepEqual((m.sources['org.osbuild.skopeo-index'] as any).items, { [multi.listDigest]: { image: { name: `${plain.host}/kiln/multi`, 'tls-verify': false } } });
  const image = resolveImage('fedora-43', 'x86_64', 'qcow2');
  t.true(packageRequests({ image, seed: '1', blueprint: bp }).build[0].include.includes('skopeo'));
  t.false(packageRequests({ image, seed: '1' }).build[0].include.includes('skopeo'));
  // a container type carries containers too (G2); a type without them refuses the field
  t.true(validateManifest(manifestWith(bp, specs, 'container')).success);
  const refused = t.throws(() => manifestWith(bp, specs, 'iot-installer'));
  t.truthy(refused);
  // a depsolve result without the resolved containers cannot make the manifest
  const missing = t.throws(() => manifestWith(bp, specs.slice(0, 1)), { instanceOf: KilnError });
  t.is(missing!.code, 'KILN_MANIFEST');
  // two entries that resolved to one image under two names: the image is stored once, so refused
  const twice = t.throws(() => manifestWith({ containers: [bp.containers![0], { ...bp.containers![0], name: 'other' }] }, [specs[0], { ...specs[0], local_name: 'other' }]), { instanceOf: InvalidInputError });
  t.regex(twice!.message, /same image/);
});

test('storage path: containers.storage.conf first with the path as an additional image store, TOML writer in the build root; ostree trees use /usr/share/containers/storage', (t) => {
  const src = [{ source: 'quay.io/x/y:1' }];
  t.is(containersPlan(src, undefined, false)?.storagePath, undefined);
  t.is(containersPlan(src, undefined, true)?.storagePath, '/usr/share/containers/storage');
  t.is(containersPlan(src, '/srv/c', true)?.storagePath, '/srv/c');
  t.is(containersPlan([], '/srv/c', true), undefined);
  const spec: ContainerSpec = { source: 'quay.io/x/y', digest: `sha256:${'1'.repeat(64)}`, image_id: `sha256:${'2'.repeat(64)}`, local_name: 'quay.io/x/y:1', arch: 'amd64' };
  const sources = new Sources();
  const stages = containerStages(containersPlan(src, undefined, true), [spec], sources);
  t.deepEqual(stages.map((s) => s.type), ['org.osbuild.containers.storage.conf', 'org.osbuild.skopeo']);
  t.deepEqual(stages[0].options, { filename: '/etc/containers/storage.conf', config: { storage: { options: { additionalimagestores: ['/usr/share/containers/storage'] } } } });
  t.deepEqual(stages[1].options, { destination: { type: 'containers-storage', 'storage-path': '/usr/share/containers/storage' } });
  t.false('manifest-lists' in stages[1].inputs!);
  // both stages validate against osbuild's schemas inside a real manifest
  const m = manifestWith({}, undefined);
  m.pipelines.find((p) => p.name === 'os')!.stages.push(...stages);
  Object.assign(m.sources, sources.toJSON());
  const res = validateManifest(m);
  t.true(res.success, JSON.stringify(res.errors));
  t.deepEqual(stageTools('org.osbuild.containers.storage.conf', resolveImage('rhel-9.6', 'x86_64', 'qcow2').distro), ['python3-toml']);
  t.deepEqual(stageTools('org.osbuild.containers.storage.conf', resolveImage('fedora-43', 'x86_64', 'qcow2').distro), ['python3-tomli-w']);
});

function depsolveServices(dir: string) {
  const config = loadConfig({ env: {}, overrides: { state_dir: dir, depsolve: { solver: ZERO_SOLVER, timeout_seconds: 60 } } });
  return { config, log: silentLogger, depsolveCacheDir: path.join(dir, 'cache'), outputsDir: path.join(dir, 'out'), osbuildStoreDir: path.join(dir, 'store'), withKoji: () => Promise.reject(new Error('no koji')), close: async () => undefined } as never;
}

async function depsolveWith(dir: string, blueprint: Blueprint, arch = 'x86_64'): Promise<DepsolveJobResult> {
  const handler = depsolveJob.create(depsolveServices(dir));
  const args = { compose_id: 'c', image_build_id: 'i', distribution: 'fedora-43', arch, image_type: 'qcow2', blueprint, seed: '5', definitions: imageCatalog().fingerprint, repositories: [{ baseurl: 'http://127.0.0.1:9/repo' }] };
  return (await handler({ job: { args } as never, signal: new AbortController().signal, log: silentLogger, progress: async () => undefined, checkpoint: async () => undefined })) as DepsolveJobResult;
}

test('end to end: the depsolve job pins the containers, the manifest names them, the osbuild stand-in pulls them into its store and copies them into containers-storage', async (t) => {
  const dir = path.join(scratch, 'e2e');
  const blueprint: Blueprint = { containers: [{ source: `${plain.host}/kiln/tiny:1`, 'tls-verify': false }, { source: `${plain.host}/kiln/multi:1`, 'tls-verify': false, name: 'localhost/multi' }] };
  const result = await depsolveWith(dir, blueprint);
  t.deepEqual(result.containers!.map((c) => c.digest), [tiny.digest, multi.images[0].digest]);
  const image = resolveImage('fedora-43', 'x86_64', 'qcow2');
  const manifest = generateManifest({ image, seed: '5', blueprint, packages: packagesFromDepsolve(result.package_sets), containers: result.containers! });
  const store = path.join(dir, 'store');
  const run = (m: Manifest, out: string, storeDir = store) => runOsbuild({ manifest: m, exportPipeline: image.exportPipeline, exportFilename: image.filename, outputDir: path.join(dir, out), storeDir, osbuildPath: STANDIN, timeoutMs: 120_000 });
  const first = await run(manifest, 'one');
  t.true(first.success, JSON.stringify(first.errors));
  for (const c of result.containers!) t.true(existsSync(path.join(store, 'sources', 'org.osbuild.containers', c.image_id, 'image', 'manifest.json')));
  t.true(existsSync(path.join(store, 'sources', 'org.osbuild.files', multi.listDigest)));
  const log = readFileSync(first.logPath, 'utf8');
  t.regex(log, /Writing manifest to image destination/);
  t.deepEqual((first.osbuildResult.sources['org.osbuild.skopeo'] as { cached: boolean }[]).map((s) => s.cached), [false, false]);
  // the store keeps them: the next build does not pull again
  const second = await run(manifest, 'two');
  t.true(second.success);
  t.deepEqual((second.osbuildResult.sources['org.osbuild.skopeo'] as { cached: boolean }[]).map((s) => s.cached), [true, true]);

  // what osbuild refuses, the stand-in refuses: an image whose config is not its id ...
  const tampered = structuredClone(manifest) as any;
  const items = tampered.sources['org.osbuild.skopeo'].items;
  const wrong = `sha256:${'a'.repeat(64)}`;
  items[wrong] = items[tiny.imageId];
  delete items[tiny.imageId];
  const refs = tampered.pipelines.find((p: any) => p.name === 'os').stages.find((s: any) => s.type === 'org.osbuild.skopeo').inputs.images.references;
  refs[wrong] = refs[tiny.imageId];
  delete refs[tiny.imageId];
  const bad = await run(tampered, 'three', path.join(dir, 'store-2'));
  t.false(bad.success);
  t.regex(osbuildFailure(bad).message, new RegExp(`org\\.osbuild\\.skopeo: Downloaded image .*kiln/tiny@${tiny.digest} has an id of ${tiny.imageId}, but expected ${wrong}`));
  t.is(bad.osbuildResult.sources.success, false);
  t.deepEqual(bad.osbuildResult.log, {});
  // ... a digest the registry no longer has ...
  await plain.push('kiln/gone', '1', { content: 'soon gone\n' });
  const [gone] = await resolveContainers([{ source: `${plain.host}/kiln/gone:1`, 'tls-verify': false }], opts);
  await plain.deleteManifest('kiln/gone', gone.digest);
  const goneManifest = generateManifest({ image, seed: '5', blueprint: { containers: [{ source: `${plain.host}/kiln/gone:1`, 'tls-verify': false }] }, packages: packagesFromDepsolve(result.package_sets), containers: [gone] });
  const goneRun = await run(goneManifest, 'four', path.join(dir, 'store-3'));
  t.false(goneRun.success);
  t.regex(osbuildFailure(goneRun).message, /unable to copy image: .*manifest unknown/);
  // ... and a manifest list no image of the stage belongs to
  const stray = structuredClone(manifest) as any;
  const skopeo = stray.pipelines.find((p: any) => p.name === 'os').stages.find((s: any) => s.type === 'org.osbuild.skopeo');
  delete skopeo.inputs.images.references[multi.images[0].imageId];
  const strayRun = await run(stray, 'five');
  t.false(strayRun.success);
  t.regex(osbuildFailure(strayRun).message, /in stage org\.osbuild\.skopeo.*manifest lists specified in the input did not match any of the container images/s);
});

test('the depsolve job fails naming the container when it cannot be resolved', async (t) => {
  const err = await t.throwsAsync(depsolveWith(path.join(scratch, 'fail'), { containers: [{ source: `${plain.host}/kiln/tiny:2`, 'tls-verify': false }] }), { instanceOf: ContainerResolveError });
  t.is(err!.code, 'KILN_CONTAINER_RESOLVE');
  t.regex(err!.message, /^blueprint\.containers\[0\]\.source: cannot resolve ".*kiln\/tiny:2": the image or tag does not exist/);
  // none: no containers part in the result
  const none = await depsolveWith(path.join(scratch, 'none'), {});
  t.false('containers' in none);
});
