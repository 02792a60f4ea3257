/**
 * Flatpaks of the Kinoite and Silverblue installers (installer_config.flatpaks): the definitions,
 * the manifest (a bare-user /flatpak/repo in the installer tree, one
 * org.osbuild.flatpak.build-import-bundle.oci per flatpak from the skopeo source), resolution in
 * a flatpak registry index on loopback with real flatpaks in a real registry (Debian's
 * docker-registry, real skopeo), its failures naming the reference, and the depsolve job →
 * manifest → osbuild stand-in path, whose import is real flatpak into the ISO's root.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContainerResolveError, resolveFlatpaks, type FlatpakSpec } from '../src/containers/index.js';
import { KilnError } from '../src/errors.js';
import { generateManifest, imageCatalog, osbuildFailure, packageRequests, packagesFromDepsolve, resolveImage, runOsbuild, type Manifest, type ResolvedImage } from '../src/osbuild/index.js';
import { depsolveJob, type DepsolveJobResult } from '../src/jobs/depsolve.js';
import { loadConfig } from '../src/config/index.js';
import { silentLogger } from '../src/log.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { pushFlatpak, startFlatpakIndex, type FlatpakIndex, type PushedFlatpak } from './helpers/flatpak.js';
import { serveDirectory } from './helpers/rpm-repos.js';
import { syntheticDepsolve, syntheticFlatpaks } from './osbuild-standin/synthetic.js';
import { validateManifest } from './osbuild-standin/validate.js';

const STANDIN = fileURLToPath(new URL('./osbuild-standin/osbuild.mjs', import.meta.url));
const ZERO_SOLVER = fileURLToPath(new URL('../bench/fixtures/zero-depsolve.mjs', import.meta.url));
const FEDORA = 'oci+https://registry.fedoraproject.org';
const scratch = mkdtempSync(path.join(os.tmpdir(), 'kiln-flatpak-test-'));

let registry: TestRegistry;
let index: FlatpakIndex;
const pushed: PushedFlatpak[] = [];
const kinoite = () => resolveImage('fedora-43', 'x86_64', 'kinoite-installer');

test.before(async () => {
  registry = await startRegistry();
  // every flatpak of the Fedora 43 x86_64 Kinoite installer, each a real (tiny) flatpak image
  for (const ref of kinoite().installerConfig.flatpaks![0].references) {
    pushed.push(await pushFlatpak(registry, `flatpaks/${ref.split('/')[1].toLowerCase()}`, ref, 'org.fedoraproject.KDE6Platform/x86_64/f43'));
  }
  index = await startFlatpakIndex(registry, pushed);
});

test.after.always(async () => {
  await Promise.all([registry?.stop(), index?.stop()]);
  rmSync(scratch, { recursive: true, force: true });
});

const opts = (extra: Record<string, unknown> = {}) => ({ arch: 'x86_64', timeoutMs: 30_000, registries: { [FEDORA]: index.url }, ...extra });

test('definitions: the references are templated per release and arch; Fedora 45 takes the f44 runtimes, as upstream', (t) => {
  const k = kinoite().installerConfig.flatpaks!;
  t.is(k.length, 1);
  t.deepEqual(k[0].registry, { remote_name: 'fedora', url: FEDORA });
  t.deepEqual(k[0].references.slice(0, 3), ['runtime/org.fedoraproject.KDE6Platform/x86_64/f43', 'runtime/org.fedoraproject.Platform.GL.default/x86_64/f43', 'app/org.kde.elisa/x86_64/stable']);
  t.is(k[0].references.length, 12);
  const s45 = resolveImage('fedora-45', 'aarch64', 'silverblue-installer').installerConfig.flatpaks![0].references;
  t.is(s45.length, 20);
  t.is(s45[0], 'runtime/org.fedoraproject.Platform/aarch64/f44');
  t.true(s45.every((r) => r.split('/')[2] === 'aarch64'));
  // the other Atomic installers have none
  t.is(resolveImage('fedora-43', 'x86_64', 'sway-atomic-installer').installerConfig.flatpaks, undefined);
});

function manifestOf(image: ResolvedImage, flatpaks: FlatpakSpec[] | undefined = syntheticFlatpaks(image)): Manifest {
  const commit = { url: 'https://ostree.example.test/repo', ref: image.ostree!.ref!, checksum: 'c'.repeat(64) };
  const input = { image, seed: '17', ostree: { url: commit.url } };
  return generateManifest({ ...input, packages: syntheticDepsolve(packageRequests(input), image.arch), ostreeCommits: { payload: commit }, ...(flatpaks ? { flatpaks } : {}) });
}

test('manifest: /flatpak/repo in the installer tree after the commit and its kickstart, one import per flatpak from the skopeo source', (t) => {
  const image = kinoite();
  const specs = syntheticFlatpaks(image);
  const m = manifestOf(image, specs);
  const tree = m.pipelines.find((p) => p.name === 'anaconda-tree')!.stages;
  const types = tree.map((s) => s.type).filter((x) => x !== 'org.osbuild.rpm');
  // upstream's order: the commit, its interactive-defaults kickstart, the flatpaks, then the installer's own stages
  t.deepEqual(types.slice(0, 4), ['org.osbuild.ostree.init', 'org.osbuild.ostree.pull', 'org.osbuild.kickstart', 'org.osbuild.ostree.init']);
  t.deepEqual(types.slice(4, 16), Array(12).fill('org.osbuild.flatpak.build-import-bundle.oci'));
  t.is(types[16], 'org.osbuild.buildstamp');
  t.deepEqual(tree.filter((s) => s.type === 'org.osbuild.ostree.init')[1].options, { path: '/flatpak/repo', mode: 'bare-user' });
  const imports = tree.filter((s) => s.type === 'org.osbuild.flatpak.build-import-bundle.oci');
  imports.forEach((s, i) => {
    t.deepEqual(s.options, { repository: 'tree:///flatpak/repo' });
    t.deepEqual(s.inputs, { containers: { type: 'org.osbuild.containers', origin: 'org.osbuild.source', references: { [specs[i].image_id]: { name: specs[i].local_name } } } });
  });
  const skopeo = (m.sources['org.osbuild.skopeo'] as { items: Record<string, unknown> }).items;
  t.is(Object.keys(skopeo).length, 12);
  t.deepEqual(skopeo[specs[0].image_id], { image: { name: specs[0].source, digest: specs[0].digest } });
  // flatpak and skopeo run in the build root
  for (const p of ['flatpak', 'skopeo']) t.true(packageRequests({ image, seed: '17', ostree: { url: 'https://ostree.example.test/repo' } }).build[0].include.includes(p), p);
  const res = validateManifest(m);
  t.true(res.success, JSON.stringify(res.errors));
  // the Sway installer: no flatpak repository
  const sway = manifestOf(resolveImage('fedora-43', 'x86_64', 'sway-atomic-installer'));
  t.false(JSON.stringify(sway).includes('flatpak'));
});

test('manifest: the resolved flatpaks must be the type\'s, in its order', (t) => {
  const image = kinoite();
  const specs = syntheticFlatpaks(image);
  t.is(t.throws(() => manifestOf(image, []), { instanceOf: KilnError })!.code, 'KILN_MANIFEST');
  t.regex(t.throws(() => manifestOf(image, specs.slice(1)))!.message, /has 11 resolved flatpaks, image type kinoite-installer 12/);
  const swapped = [specs[1], specs[0], ...specs.slice(2)];
  t.regex(t.throws(() => manifestOf(image, swapped))!.message, /resolved flatpak 0 is runtime\/org\.fedoraproject\.Platform\.GL\.default\/x86_64\/f43, image type kinoite-installer names runtime\/org\.fedoraproject\.KDE6Platform\/x86_64\/f43/);
});

test.serial('resolution: each reference found in the registry index and pinned to its image (digest, config digest) in the registry', async (t) => {
  const before = index.requests.length;
  const specs = await resolveFlatpaks(kinoite().installerConfig.flatpaks, opts());
  t.deepEqual(specs.map((s) => s.ref), pushed.map((p) => p.ref));
  specs.forEach((s, i) => {
    t.is(s.digest, pushed[i].digest);
    t.is(s.image_id, pushed[i].imageId);
    t.is(s.source, `${registry.host}/${pushed[i].repo}`);
    t.is(s.local_name, pushed[i].repo);
    // the index names a plain-HTTP registry: pulled without TLS
    t.is(s.tls_verify, false);
    t.is(s.arch, 'amd64');
  });
  // the index is read once, with flatpak's own query
  t.is(index.requests.length - before, 1);
  const q = new URLSearchParams(index.requests.at(-1));
  t.deepEqual([q.get('label:org.flatpak.ref:exists'), q.get('os'), q.get('tag')], ['1', 'linux', 'latest']);
});

test('resolution failures name the reference (or the registry) and say why', async (t) => {
  const fail = async (sources: unknown, o: Record<string, unknown>, field: string, why: RegExp) => {
    const err = await t.throwsAsync(resolveFlatpaks(sources as never, opts(o)), { instanceOf: ContainerResolveError });
    t.is(err!.code, 'KILN_CONTAINER_RESOLVE');
    t.is(err!.field, field);
    t.regex(err!.message, why);
  };
  const entry = (references: string[], url = FEDORA) => [{ registry: { remote_name: 'fedora', url }, references }];
  // a reference the index does not list (Silverblue's are not in this registry)
  await fail(entry([pushed[0].ref, 'app/org.gnome.Maps/x86_64/stable']), {}, 'installer_config.flatpaks[0].references[1]', /^installer_config\.flatpaks\[0\]\.references\[1\]: cannot resolve "app\/org\.gnome\.Maps\/x86_64\/stable": the image or tag does not exist in the registry \(no image labelled org\.flatpak\.ref=app\/org\.gnome\.Maps\/x86_64\/stable in the index of oci\+http:\/\/127\.0\.0\.1:\d+\)/);
  await fail(entry(['app/org.kde.kcalc/stable']), {}, 'installer_config.flatpaks[0].references[0]', /the reference is invalid \(a flatpak reference has 4 parts/);
  await fail(entry([pushed[0].ref]), { arch: 'aarch64' }, 'installer_config.flatpaks[0].references[0]', /the reference is for x86_64, the build for aarch64/);
  // the registry unreachable
  const gone = await startFlatpakIndex(registry, []);
  await gone.stop();
  await fail(entry([pushed[0].ref]), { registries: { [FEDORA]: gone.url } }, 'installer_config.flatpaks[0].references[0]', /the registry cannot be reached \(http:\/\/127\.0\.0\.1:\d+\/index\/static: /);
  // plain HTTP only as the host's replacement; a replacement that is no registry URL names the config key
  await fail(entry([pushed[0].ref], index.url), { registries: {} }, 'installer_config.flatpaks[0].registry.url', /is plain HTTP: only oci\+https registries/);
  await fail(entry([pushed[0].ref]), { registries: { [FEDORA]: 'https://x.test' } }, `depsolve.flatpak_registries["${FEDORA}"]`, /is not an OCI registry URL/);
  // the index lists an image the registry no longer has
  const extra = await pushFlatpak(registry, 'flatpaks/org.kiln.gone', 'app/org.kiln.Gone/x86_64/stable');
  const stale = await startFlatpakIndex(registry, [extra]);
  try {
    await registry.deleteManifest(extra.repo, extra.digest);
    await fail(entry([extra.ref]), { registries: { [FEDORA]: stale.url } }, 'installer_config.flatpaks[0].references[0]', /the image or tag does not exist in the registry \(.*manifest unknown/);
  } finally {
    await stale.stop();
  }
});

test('config: depsolve.flatpak_registries is checked (names the key)', (t) => {
  const load = (v: unknown) => loadConfig({ env: {}, overrides: { state_dir: scratch, depsolve: { timeout_seconds: 60, flatpak_registries: v } } as never });
  t.deepEqual(load({ [FEDORA]: 'oci+http://127.0.0.1:5000' }).depsolve.flatpak_registries, { [FEDORA]: 'oci+http://127.0.0.1:5000' });
  const err = t.throws(() => load({ [FEDORA]: 'https://mirror.example' }), { instanceOf: KilnError });
  t.is(err!.code, 'KILN_INVALID_CONFIG');
  t.regex(err!.message, /depsolve\.flatpak_registries/);
});

// --- depsolve job → manifest → osbuild stand-in ------------------------------------------------

/** A real archive repository with the Kinoite ref committed, served over loopback HTTP. */
async function kinoiteRepo(dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const repo = path.join(dir, 'repo');
  const content = path.join(dir, 'content');
  mkdirSync(path.join(content, 'usr'), { recursive: true });
  writeFileSync(path.join(content, 'usr', 'marker'), 'kinoite\n');
  execFileSync('ostree', ['init', '--mode=archive', `--repo=${repo}`]);
  execFileSync('ostree', ['commit', `--repo=${repo}`, '--branch=fedora/43/x86_64/kinoite', `--tree=dir=${content}`, '--subject=test']);
  const served = await serveDirectory(dir);
  return { url: `${served.url}/repo`, stop: () => served.close() };
}

test.serial('end to end: the depsolve job resolves the flatpaks, the stand-in pulls them and imports them with flatpak into the ISO root\'s /flatpak/repo', async (t) => {
  const dir = path.join(scratch, 'e2e');
  mkdirSync(dir, { recursive: true });
  const served = await kinoiteRepo(dir);
  try {
    const config = loadConfig({ env: {}, overrides: { state_dir: dir, depsolve: { solver: ZERO_SOLVER, timeout_seconds: 60, flatpak_registries: { [FEDORA]: index.url } } } });
    const services = { config, log: silentLogger, depsolveCacheDir: path.join(dir, 'cache'), outputsDir: path.join(dir, 'out'), osbuildStoreDir: path.join(dir, 'store'), withKoji: () => Promise.reject(new Error('no koji')), close: async () => undefined } as never;
    const args = { compose_id: 'c', image_build_id: 'i', distribution: 'fedora-43', arch: 'x86_64', image_type: 'kinoite-installer', seed: '5', ostree: { url: served.url }, definitions: imageCatalog().fingerprint, repositories: [{ baseurl: 'http://127.0.0.1:9/repo' }] };
    const job = (a: Record<string, unknown>) => depsolveJob.create(services)({ job: { args: a } as never, signal: new AbortController().signal, log: silentLogger, progress: async () => undefined, checkpoint: async () => undefined }) as Promise<DepsolveJobResult>;
    const result = await job(args);
    t.deepEqual(result.flatpaks!.map((f) => f.digest), pushed.map((p) => p.digest));
    const image = kinoite();
    const manifest = generateManifest({ image, seed: '5', ostree: { url: served.url }, packages: packagesFromDepsolve(result.package_sets), ostreeCommits: result.ostree!, flatpaks: result.flatpaks! });
    const run = await runOsbuild({ manifest, exportPipeline: image.exportPipeline, exportFilename: image.filename, outputDir: path.join(dir, 'out'), storeDir: path.join(dir, 'store'), osbuildPath: STANDIN, timeoutMs: 300_000 });
    t.true(run.success, JSON.stringify(run.errors));
    t.deepEqual((run.osbuildResult.sources['org.osbuild.skopeo'] as unknown[]).length, 12);
    // the installer root (erofs) holds the commit's repository and the flatpak repository with every ref
    const extracted = path.join(dir, 'install.img');
    execFileSync('xorriso', ['-osirrox', 'on', '-indev', run.imagePath!, '-extract', '/images/install.img', extracted], { stdio: 'ignore' });
    const root = path.join(dir, 'root');
    execFileSync('fsck.erofs', [`--extract=${root}`, extracted], { stdio: 'ignore' });
    const refs = execFileSync('ostree', ['refs', `--repo=${path.join(root, 'flatpak', 'repo')}`], { encoding: 'utf8' }).trim().split('\n').sort();
    t.deepEqual(refs, pushed.map((p) => p.ref).sort());
    // the extraction drops the bare-user repository's xattrs: the commits, not the files, are readable here
    t.regex(execFileSync('ostree', ['show', `--repo=${path.join(root, 'flatpak', 'repo')}`, 'app/org.kde.kcalc/x86_64/stable'], { encoding: 'utf8' }), /^commit [0-9a-f]{64}$/m);
    t.deepEqual(execFileSync('ostree', ['refs', `--repo=${path.join(root, 'ostree', 'repo')}`], { encoding: 'utf8' }).trim(), 'fedora/43/x86_64/kinoite');

    // what osbuild refuses, the stand-in refuses: an import stage given two images
    const two = structuredClone(manifest) as any;
    const stages = two.pipelines.find((p: any) => p.name === 'anaconda-tree').stages.filter((s: any) => s.type === 'org.osbuild.flatpak.build-import-bundle.oci');
    Object.assign(stages[0].inputs.containers.references, stages[1].inputs.containers.references);
    const bad = await runOsbuild({ manifest: two, exportPipeline: image.exportPipeline, exportFilename: image.filename, outputDir: path.join(dir, 'out-2'), storeDir: path.join(dir, 'store'), osbuildPath: STANDIN, timeoutMs: 300_000 });
    t.false(bad.success);
    t.regex(osbuildFailure(bad).message, /org\.osbuild\.flatpak\.build-import-bundle\.oci.*need exactly one container archive/s);

    // the job fails naming the reference when the registry lacks one: Silverblue's are not there
    const err = await t.throwsAsync(job({ ...args, image_type: 'silverblue-installer', ostree: { url: served.url, ref: 'fedora/43/x86_64/kinoite' } }), { instanceOf: ContainerResolveError });
    t.regex(err!.message, /^installer_config\.flatpaks\[0\]\.references\[0\]: cannot resolve "runtime\/org\.fedoraproject\.Platform\/x86_64\/f43"/);
  } finally {
    await served.stop();
  }
});
