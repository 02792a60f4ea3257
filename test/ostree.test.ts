/**
 * ostree image types (issue 17): the request's ostree options, ref resolution against real
 * ostree repositories served over loopback HTTP, the manifests of the commit, container and
 * disk kinds (stage order against osbuild's own test manifests, osbuild's schemas), the
 * stand-in's real ostree source and commit archive, and the compose graph that serves a commit
 * built by one image to a disk of the same compose.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { composeJobGraph, type DepsolveArgs, type OsbuildArgs } from '../src/compose/graph.js';
import { honouredOptions } from '../src/compose/options.js';
import { InvalidInputError } from '../src/errors.js';
import { generateManifest, ostreePlan, packageRequests, pullsCommit, resolveImage, runOsbuild, supportedImages, type Manifest, type ResolvedImage } from '../src/osbuild/index.js';
import { OstreeResolveError, resolveOstreeRef, serveCommitTarball } from '../src/ostree/index.js';
import { findReference } from './helpers/reference.js';
import { serveDirectory, unreachableUrl } from './helpers/rpm-repos.js';
import { syntheticDepsolve, syntheticFlatpaks } from './osbuild-standin/synthetic.js';
import { validateManifest } from './osbuild-standin/validate.js';

const STANDIN = fileURLToPath(new URL('./osbuild-standin/osbuild.mjs', import.meta.url));
const HAS_OSTREE = spawnSync('ostree', ['--version']).status === 0;
const S3 = { region: 'us-east-1', endpoint: undefined, bucket: undefined } as never;

/** A real archive repository with `ref` committed (a tiny tree); its checksum from ostree itself. */
function makeRepo(dir: string, ref: string, parentOf?: string): { repo: string; checksum: string } {
  const repo = path.join(dir, 'repo');
  const content = path.join(dir, `content-${ref.replace(/\//g, '_')}-${Date.now()}`);
  mkdirSync(path.join(content, 'usr'), { recursive: true });
  writeFileSync(path.join(content, 'usr', 'marker'), `${ref} ${parentOf ?? ''}\n`);
  execFileSync('ostree', ['init', '--mode=archive', `--repo=${repo}`]);
  execFileSync('ostree', ['commit', `--repo=${repo}`, `--branch=${ref}`, `--tree=dir=${content}`, '--subject=test']);
  return { repo, checksum: execFileSync('ostree', ['rev-parse', `--repo=${repo}`, ref], { encoding: 'utf8' }).trim() };
}

function manifestFor(image: ResolvedImage, opts: { ostree?: Record<string, string>; commit?: { url: string; ref: string; checksum: string }; blueprint?: unknown } = {}): Manifest {
  const input = { image, seed: 7, ...(opts.ostree ? { ostree: opts.ostree } : {}), ...(opts.blueprint ? { blueprint: opts.blueprint as never } : {}) };
  const packages = syntheticDepsolve(packageRequests(input), image.arch);
  const c = opts.commit;
  const flatpaks = syntheticFlatpaks(image);
  return generateManifest({ ...input, packages, ...(c ? { ostreeCommits: pullsCommit(image.kind) ? { payload: c } : { parent: c } } : {}), ...(flatpaks.length ? { flatpaks } : {}) });
}

const stageTypes = (m: Manifest, pipeline: string) => m.pipelines.find((p) => p.name === pipeline)!.stages.map((s) => s.type);

// --- the request's ostree options ----------------------------------------------------------

test('ostree options: defaults per distro, errors name the request field', (t) => {
  const iot = resolveImage('fedora-43', 'x86_64', 'iot-commit');
  t.is(ostreePlan(iot, undefined)!.ref, 'fedora/43/x86_64/iot');
  t.is(ostreePlan(resolveImage('rhel-9.6', 'aarch64', 'edge-commit'), undefined)!.ref, 'rhel/9/aarch64/edge');
  t.is(ostreePlan(resolveImage('centos-9', 'x86_64', 'edge-commit'), undefined)!.ref, 'centos/9/x86_64/edge');
  t.deepEqual(ostreePlan(iot, { url: 'https://ostree.example.test/repo', parent: 'fedora/43/x86_64/iot-stable' })!.parent, { url: 'https://ostree.example.test/repo', ref: 'fedora/43/x86_64/iot-stable' });
  // a Fedora IoT disk defaults to Fedora's mirror list; an Edge disk has no default repository
  t.deepEqual(ostreePlan(resolveImage('fedora-43', 'x86_64', 'iot-raw-xz'), undefined)!.payload, { url: 'mirrorlist=https://ostree.fedoraproject.org/iot/mirrorlist', ref: 'fedora/43/x86_64/iot' });
  const edge = resolveImage('rhel-9.6', 'x86_64', 'edge-raw-image');
  const bad: [Record<string, unknown>, string, RegExp][] = [
    [{}, 'image_requests[0].ostree.url', /is required: image type edge-raw-image deploys a commit/],
    [{ url: 'https://x.test/repo', ref: 'a'.repeat(64) }, 'image_requests[0].ostree.ref', /looks like a commit checksum/],
    [{ url: 'https://x.test/repo', ref: 'bad ref!' }, 'image_requests[0].ostree.ref', /not a valid ostree ref/],
    [{ url: 'ftp://x.test/repo' }, 'image_requests[0].ostree.url', /http, https or file/],
    [{ url: 'not a url' }, 'image_requests[0].ostree.url', /is not a URL/],
    [{ url: 'https://x.test/repo', parent: 'p' }, 'image_requests[0].ostree.parent', /applies to commits/],
    [{ url: 'https://x.test/repo', rhsm: true }, 'image_requests[0].ostree.rhsm', /RHSM/],
  ];
  for (const [o, field, message] of bad) {
    const err = t.throws(() => honouredOptions({ architecture: 'x86_64', image_type: 'edge-raw-image', repositories: [], ostree: o } as never, edge, 'image_requests[0]', S3), { instanceOf: InvalidInputError });
    t.is(err?.field, field, JSON.stringify(o));
    t.regex(err!.message, message);
  }
  const err = t.throws(() => honouredOptions({ architecture: 'x86_64', image_type: 'iot-commit', repositories: [], ostree: { parent: 'fedora/43/x86_64/iot' } } as never, iot, 'image_requests[0]', S3), { instanceOf: InvalidInputError });
  t.is(err?.field, 'image_requests[0].ostree.url');
  // the same disk without a URL is fine when the compose builds its commit
  t.notThrows(() => honouredOptions({ architecture: 'x86_64', image_type: 'edge-raw-image', repositories: [] } as never, edge, 'image_requests[0]', S3, true));
});

// --- ref resolution against real repositories ------------------------------------------------

test.serial('ref resolution: GET <url>/refs/heads/<ref> of a real repository over loopback HTTP, mirror lists, failures named after the field', async (t) => {
  if (!HAS_OSTREE) return t.fail('the ostree binary is missing (Debian package ostree, in .ci/run)');
  const dir = mkdtempSync(path.join(tmpdir(), 'kiln-ostree-'));
  const served = await serveDirectory(dir);
  try {
    const { checksum } = makeRepo(dir, 'fedora/43/x86_64/iot');
    const opts = { field: 'ostree.ref', timeoutMs: 10_000 };
    const c = await resolveOstreeRef({ url: `${served.url}/repo/`, ref: 'fedora/43/x86_64/iot' }, opts);
    t.deepEqual(c, { url: `${served.url}/repo/`, ref: 'fedora/43/x86_64/iot', checksum });
    t.true(served.requests.includes('/repo/refs/heads/fedora/43/x86_64/iot'));
    // a mirror list: the first URL it names (comments and blank lines skipped)
    writeFileSync(path.join(dir, 'mirrorlist'), `# mirrors\n\n${served.url}/repo\n${served.url}/elsewhere\n`);
    t.is((await resolveOstreeRef({ url: `mirrorlist=${served.url}/mirrorlist`, ref: 'fedora/43/x86_64/iot' }, opts)).checksum, checksum);
    // a checksum is taken as it is, without asking the repository
    const before = served.requests.length;
    t.is((await resolveOstreeRef({ url: `${served.url}/repo`, ref: checksum }, opts)).checksum, checksum);
    t.is(served.requests.length, before);
    // a file:// repository (what a compose's own commit is served as)
    t.is((await resolveOstreeRef({ url: `file://${dir}/repo`, ref: 'fedora/43/x86_64/iot' }, opts)).checksum, checksum);

    const missing = await t.throwsAsync(resolveOstreeRef({ url: `${served.url}/repo`, ref: 'fedora/43/x86_64/nope' }, { ...opts, field: 'ostree.parent' }), { instanceOf: OstreeResolveError });
    t.is(missing?.code, 'KILN_OSTREE_RESOLVE');
    t.is(missing?.reason, 'not-found');
    t.regex(missing!.message, /^ostree\.parent: cannot resolve ref "fedora\/43\/x86_64\/nope" of http:\/\/127\.0\.0\.1:\d+\/repo: .*404/);
    writeFileSync(path.join(dir, 'repo', 'refs', 'heads', 'garbage'), 'not a checksum\n');
    t.is((await t.throwsAsync(resolveOstreeRef({ url: `${served.url}/repo`, ref: 'garbage' }, opts), { instanceOf: OstreeResolveError }))?.reason, 'invalid-answer');
    t.is((await t.throwsAsync(resolveOstreeRef({ url: await unreachableUrl(), ref: 'x' }, opts), { instanceOf: OstreeResolveError }))?.reason, 'unreachable');
    writeFileSync(path.join(dir, 'badlist'), '# nothing here\n');
    t.is((await t.throwsAsync(resolveOstreeRef({ url: `mirrorlist=${served.url}/badlist`, ref: 'x' }, opts), { instanceOf: OstreeResolveError }))?.reason, 'mirrorlist');
  } finally {
    await served.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// --- manifests ------------------------------------------------------------------------------

/** osbuild's test manifests name the pipelines differently: theirs → ours. */
const PIPELINES: Record<string, Record<string, string>> = {
  'fedora-ostree-commit.json': { 'ostree-tree': 'os', 'ostree-commit': 'ostree-commit' },
  'fedora-ostree-container.json': { 'ostree-tree': 'os', 'ostree-commit': 'ostree-commit', 'container-tree': 'container-tree', 'container-ostree': 'container-tree', container: 'container' },
  'fedora-ostree-image.json': { 'image-tree': 'ostree-deployment', image: 'image', qcow2: 'qcow2' },
};

/** Stages osbuild's manifests have and Kiln's do not, each with why. */
const NOT_IN_KILN: Record<string, string> = {
  'org.osbuild.rpm.macros': 'osbuild/images sets the rpm database path with the rpm stage\'s dbpath option instead',
  'org.osbuild.ostree.aleph': 'osbuild/images writes no aleph file (it is CoreOS\'s, from coreos-assembler)',
  'org.osbuild.sgdisk': 'osbuild/images partitions ostree disks with sfdisk',
  'org.osbuild.luks2.format': 'the test manifest encrypts its root; Fedora IoT\'s table does not',
  'org.osbuild.lvm2.create': 'the same: no LVM in Fedora IoT\'s table',
  'org.osbuild.lvm2.metadata': 'the same',
  'org.osbuild.mkfs.xfs': 'Fedora IoT formats / with ext4',
  'org.osbuild.grub2.inst': 'Fedora IoT on x86_64 boots with UEFI only',
};

/** Stages both have, placed differently, each with why (left out of the order comparison). */
const ORDER_DIFFERS: Record<string, string> = {
  'org.osbuild.systemd': 'osbuild/images enables units after the files are written, near the end of the tree; osbuild\'s hand-written manifest right after rpm',
  'org.osbuild.ostree.config': 'osbuild/images configures the repository inside the deployment (a deployment mount), so after deploy and fillvar; the hand-written manifest before the deployment exists',
  'org.osbuild.ostree.selinux': 'osbuild/images labels the deployment last, after grub2 and the blueprint\'s files and units; the hand-written manifest has none of those after it',
};

test('stage order: every stage osbuild\'s ostree test manifests share with Kiln\'s comes in the same order', (t) => {
  const dir = findReference('upstream/osbuild-test-manifests');
  if (!dir) return t.log('skipped: shared/reference/upstream/osbuild-test-manifests is not here'), t.pass();
  const ours: Record<string, Manifest> = {
    'fedora-ostree-commit.json': manifestFor(resolveImage('fedora-43', 'x86_64', 'iot-commit')),
    'fedora-ostree-container.json': manifestFor(resolveImage('fedora-43', 'x86_64', 'iot-container')),
    'fedora-ostree-image.json': manifestFor(resolveImage('fedora-43', 'x86_64', 'iot-qcow2'), { commit: { url: 'https://ostree.example.test/repo', ref: 'fedora/43/x86_64/iot', checksum: 'c'.repeat(64) } }),
  };
  for (const [file, mapping] of Object.entries(PIPELINES)) {
    const theirs = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Manifest;
    const byOurs = new Map<string, string[]>();
    for (const [their, our] of Object.entries(mapping)) byOurs.set(our, [...(byOurs.get(our) ?? []), ...theirs.pipelines.find((p) => p.name === their)!.stages.map((s) => s.type)]);
    for (const [our, theirTypes] of byOurs) {
      const mine = stageTypes(ours[file], our);
      for (const type of new Set(theirTypes)) if (!mine.includes(type)) t.truthy(NOT_IN_KILN[type], `${file} ${our}: ${type} is missing in Kiln's and not listed`);
      // the shared stages, first occurrence each, in the same relative order
      const shared = (list: string[]) => [...new Set(list.filter((x) => theirTypes.includes(x) && mine.includes(x) && !ORDER_DIFFERS[x]))];
      t.deepEqual(shared(mine), shared(theirTypes), `${file} ${our}`);
    }
  }
  // the pipelines themselves, as osbuild/images names them
  t.deepEqual(ours['fedora-ostree-commit.json'].pipelines.map((p) => p.name), ['build', 'os', 'ostree-commit', 'commit-archive']);
  t.deepEqual(ours['fedora-ostree-container.json'].pipelines.map((p) => p.name), ['build', 'os', 'ostree-commit', 'container-tree', 'container']);
  t.deepEqual(ours['fedora-ostree-image.json'].pipelines.map((p) => p.name), ['build', 'ostree-deployment', 'image', 'qcow2']);
});

test('manifests: the commit tree is prepared for rpm-ostree; a deployment pulls the resolved commit by checksum and runs its stages inside the deployment', (t) => {
  const parent = { url: 'https://ostree.example.test/repo', ref: 'fedora/43/x86_64/iot', checksum: 'd'.repeat(64) };
  const commit = manifestFor(resolveImage('fedora-43', 'x86_64', 'iot-commit'), { ostree: { url: parent.url }, commit: parent, blueprint: { customizations: { user: [{ name: 'admin', key: 'ssh-ed25519 AAAAkey admin@x' }] } } });
  const os = commit.pipelines.find((p) => p.name === 'os')!;
  t.is(os.stages[0].type, 'org.osbuild.dracut.conf');
  t.is(os.stages[1].type, 'org.osbuild.ostree.passwd');
  t.deepEqual(os.stages[1].inputs, { commits: { type: 'org.osbuild.ostree.checkout', origin: 'org.osbuild.source', references: [parent.checksum] } });
  const rpm = os.stages.find((s) => s.type === 'org.osbuild.rpm')!;
  t.like(rpm.options, { ostree_booted: true, dbpath: '/usr/share/rpm', disable_dracut: true });
  // users without keys in the commit, keys written on first boot into /var/home
  t.false('key' in ((os.stages.find((s) => s.type === 'org.osbuild.users')!.options!.users as Record<string, object>).admin));
  t.true((os.stages.find((s) => s.type === 'org.osbuild.first-boot')!.options!.commands as string[]).includes('mkdir -p /var/home/admin/.ssh'));
  t.deepEqual(os.stages.slice(-2).map((s) => s.type), ['org.osbuild.ostree.preptree', 'org.osbuild.bootupd.gen-metadata']);
  t.deepEqual(commit.pipelines.find((p) => p.name === 'ostree-commit')!.stages[1].options, { ref: 'fedora/43/x86_64/iot', os_version: '43', parent: parent.checksum });
  t.deepEqual(commit.sources['org.osbuild.ostree'], { items: { [parent.checksum]: { remote: { url: parent.url } } } });

  const payload = { url: 'https://edge.example.test/repo', ref: 'rhel/9/x86_64/edge', checksum: 'e'.repeat(64) };
  const disk = manifestFor(resolveImage('rhel-9.6', 'x86_64', 'edge-raw-image'), { ostree: { url: payload.url }, commit: payload });
  const dep = disk.pipelines.find((p) => p.name === 'ostree-deployment')!;
  t.deepEqual(dep.stages.find((s) => s.type === 'org.osbuild.ostree.pull')!.inputs, { commits: { type: 'org.osbuild.ostree', origin: 'org.osbuild.source', references: { [payload.checksum]: { ref: payload.ref } } } });
  const deploy = dep.stages.find((s) => s.type === 'org.osbuild.ostree.deploy')!.options as { kernel_opts: string[] };
  t.true(deploy.kernel_opts[0].startsWith('luks.uuid='), 'the LUKS root is named on the command line');
  t.deepEqual(deploy.kernel_opts.slice(1), ['modprobe.blacklist=vc4', 'rw', 'coreos.no_persist_ip', 'ignition.platform.id=metal', '$ignition_firstboot']);
  // edge-raw-image keeps the request's repository as its remote (use_ostree_remotes)
  t.deepEqual(dep.stages.find((s) => s.type === 'org.osbuild.ostree.remotes')!.options, { repo: '/ostree/repo', remotes: [{ name: 'rhel-edge', url: payload.url }] });
  for (const s of dep.stages.filter((x) => ['org.osbuild.fstab', 'org.osbuild.grub2', 'org.osbuild.locale'].includes(x.type))) {
    t.deepEqual(s.mounts, [{ name: 'ostree-rhel/9/x86_64/edge', type: 'org.osbuild.ostree.deployment', options: { deployment: { osname: 'rhel-edge', ref: payload.ref, serial: 0 } } }]);
  }
  t.like(dep.stages.find((s) => s.type === 'org.osbuild.grub2')!.options, { greenboot: true, ignition: true, uefi: { vendor: 'redhat', install: true, unified: true }, legacy: 'i386-pc' });
  t.deepEqual(disk.pipelines.map((p) => p.name), ['build', 'ostree-deployment', 'image', 'xz']);
  t.is(disk.pipelines.find((p) => p.name === 'image')!.stages.find((s) => s.type === 'org.osbuild.copy')!.inputs!['root-tree'] !== undefined, true);
  // no os pipeline, nothing depsolved for it
  t.deepEqual(Object.keys(packageRequests({ image: resolveImage('rhel-9.6', 'x86_64', 'edge-raw-image'), seed: 1, ostree: { url: payload.url } })), ['build']);
  t.true(packageRequests({ image: resolveImage('fedora-43', 'x86_64', 'iot-commit'), seed: 1 }).build[0].include.includes('rpm-ostree'));
  t.deepEqual(packageRequests({ image: resolveImage('fedora-43', 'x86_64', 'iot-container'), seed: 1 })['container-tree'], [{ include: ['nginx'], exclude: [], install_weak_deps: true }]);
});

test('every ostree type of every architecture makes a manifest osbuild\'s schemas accept', (t) => {
  let n = 0;
  for (const c of supportedImages()) {
    if (!['fedora-41', 'fedora-43', 'fedora-45', 'rhel-9.0', 'rhel-9.6', 'rhel-9.8', 'centos-9'].includes(c.distro)) continue;
    const image = resolveImage(c.distro, c.arch, c.imageType);
    // simplified installers need installation_device and take other customizations: test/simplified-installer.test.ts
    if (!image.kind.startsWith('ostree') || image.kind === 'ostree_simplified_installer') continue;
    const url = 'https://ostree.example.test/repo';
    const m = manifestFor(image, {
      ostree: { url },
      commit: { url, ref: image.ostree!.ref!, checksum: 'f'.repeat(64) },
      // installers take no services (they go into the commit)
      blueprint: { customizations: { user: [{ name: 'u', key: 'ssh-ed25519 AAAA', groups: ['wheel'] }], group: [{ name: 'g' }], ...(image.bootIso ? {} : { services: { enabled: ['chronyd'] } }), fips: true } },
    });
    const r = validateManifest(m);
    if (r.skipped) return t.log('osbuild schemas absent: not validated'), t.pass();
    t.true(r.success, `${c.distro} ${c.arch} ${c.imageType}: ${JSON.stringify(r.errors?.slice(0, 3))}`);
    n++;
  }
  // 88 commits, containers and disks; 44 installers (iot, edge, Atomic, 12 of them with flatpaks)
  t.is(n, 132);
});

// --- the stand-in: real ostree sources, real commit archives ----------------------------------

test.serial('stand-in: pulls ostree sources with the real ostree (a wrong checksum fails the build before any pipeline); a commit archive is a real repository', async (t) => {
  if (!HAS_OSTREE) return t.fail('the ostree binary is missing');
  const dir = mkdtempSync(path.join(tmpdir(), 'kiln-ostree-standin-'));
  const served = await serveDirectory(path.join(dir));
  try {
    const { checksum } = makeRepo(dir, 'rhel/9/x86_64/edge');
    const image = resolveImage('rhel-9.6', 'x86_64', 'edge-raw-image');
    const url = `${served.url}/repo`;
    const run = (m: Manifest, out: string) =>
      runOsbuild({ manifest: JSON.stringify(m), exportPipeline: image.exportPipeline, exportFilename: image.filename, outputDir: path.join(dir, out), storeDir: path.join(dir, 'store'), osbuildPath: STANDIN, timeoutMs: 120_000 } as never);
    const ok = await run(manifestFor(image, { ostree: { url }, commit: { url, ref: 'rhel/9/x86_64/edge', checksum } }), 'ok');
    t.true(ok.success);
    t.true(served.requests.some((r) => r.startsWith('/repo/objects/')), 'the commit was pulled over HTTP');
    t.is(execFileSync('ostree', ['show', '--print-metadata-key=ostree.ref-binding', `--repo=${path.join(dir, 'store', 'sources', 'org.osbuild.ostree', 'repo')}`, checksum]).length > 0, true);
    const wrong = await run(manifestFor(image, { ostree: { url }, commit: { url, ref: 'rhel/9/x86_64/edge', checksum: '0'.repeat(63) + '1' } }), 'wrong');
    t.false(wrong.success);
    t.regex(JSON.stringify(wrong), /org\.osbuild\.ostree|ostree', 'pull'/);

    const commitImage = resolveImage('fedora-43', 'x86_64', 'iot-commit');
    const built = await runOsbuild({ manifest: JSON.stringify(manifestFor(commitImage)), exportPipeline: commitImage.exportPipeline, exportFilename: commitImage.filename, outputDir: path.join(dir, 'commit'), storeDir: path.join(dir, 'store'), osbuildPath: STANDIN, timeoutMs: 120_000 } as never);
    t.true(built.success);
    const served2 = await serveCommitTarball(built.imagePath!, 'fedora/43/x86_64/iot', path.join(dir, 'served'));
    t.regex(served2.checksum, /^[0-9a-f]{64}$/);
    t.is(served2.url, `file://${path.join(dir, 'served', 'repo')}`);
    t.is(execFileSync('ostree', ['rev-parse', `--repo=${path.join(dir, 'served', 'repo')}`, 'fedora/43/x86_64/iot'], { encoding: 'utf8' }).trim(), served2.checksum);
    await t.throwsAsync(serveCommitTarball(built.imagePath!, 'fedora/43/x86_64/other', path.join(dir, 'served')), { message: /has no ref fedora\/43\/x86_64\/other/ });
  } finally {
    await served.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// --- the compose graph -------------------------------------------------------------------------

test('compose graph: a disk of a commit the compose builds resolves after that commit\'s osbuild job, which keeps its repository for it', (t) => {
  const request = { distribution: 'fedora-43', koji: { server: 'https://koji.example.test/kojihub', task_id: 1, name: 'iot', version: '43', release: '1' }, image_requests: [] } as never;
  const images = [
    { id: 'a', position: 0, request: { architecture: 'x86_64', image_type: 'iot-commit', repositories: [] } },
    { id: 'b', position: 1, request: { architecture: 'x86_64', image_type: 'iot-raw-xz', repositories: [] }, ostreeCommitFrom: 0 },
    { id: 'c', position: 2, request: { architecture: 'x86_64', image_type: 'iot-qcow2', repositories: [], ostree: { url: 'https://ostree.example.test/repo' } } },
  ];
  const specs = composeJobGraph('compose', request, images as never, 'kiln-cg/x', 0, { seed: '1', definitions: 'x' });
  const byKey = new Map(specs.map((s) => [s.key, s]));
  t.deepEqual(byKey.get('depsolve-1')!.dependencies, ['osbuild-0']);
  t.is((byKey.get('depsolve-1')!.args as DepsolveArgs).ostree_commit_from, 0);
  t.is(byKey.get('depsolve-0')!.dependencies, undefined);
  t.is(byKey.get('depsolve-2')!.dependencies, undefined);
  t.deepEqual((byKey.get('depsolve-2')!.args as DepsolveArgs).ostree, { url: 'https://ostree.example.test/repo' });
  t.true((byKey.get('osbuild-0')!.args as OsbuildArgs).ostree_serve);
  t.is((byKey.get('osbuild-2')!.args as OsbuildArgs).ostree_serve, undefined);
});
