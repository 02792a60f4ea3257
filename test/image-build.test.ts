/**
 * Depsolve → manifest → osbuild, end to end: the glue of src/osbuild/from-depsolve.ts, Kiln's
 * own solver (a real subprocess on python3-dnf) against real RPM repositories served over
 * HTTP (test/helpers/distro-repo.ts: tiny RPMs for every name the image types ask for, comps
 * groups, dependencies), the manifest generator, and the osbuild stand-in as a real
 * subprocess.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cumulativePackages, depsolve, DepsolveError, KILN_SOLVER, type DepsolveRequest, type DepsolveResult } from '../src/depsolve/index.js';
import { InvalidInputError, KilnError } from '../src/errors.js';
import type { Blueprint } from '../src/blueprint/index.js';
import {
  depsolveRequestsFor,
  generateManifest,
  kojiFilename,
  modulesFromDepsolve,
  packageRequests,
  packagesFromDepsolve,
  resolveImage,
  splitExtension,
  runOsbuild,
  type Manifest,
  type RepoInput,
  type ResolvedImage,
  type RunOsbuildOptions,
} from '../src/osbuild/index.js';
import { validate } from '../src/schemas.js';
import { distroRepo, repoWithout, type DistroRepo } from './helpers/distro-repo.js';
import { cachedRepo, modularRepo, serveDirectory, type BuiltRepo, type ServedDirectory } from './helpers/rpm-repos.js';
import { validateManifest } from './osbuild-standin/validate.js';

const STANDIN = fileURLToPath(new URL('./osbuild-standin/osbuild.mjs', import.meta.url));
const DISTROS = [
  { distro: 'fedora-43', arch: 'x86_64', types: ['guest-image', 'minimal-raw', 'aws', 'container'] },
  // CentOS Stream 10 has no minimal-raw (upstream offers none for EL 10)
  { distro: 'centos-10', arch: 'aarch64', types: ['guest-image', 'aws', 'container', 'tar'] },
];
const TYPES = (distro: string) => DISTROS.find((d) => d.distro === distro)!.types;
const NVR = { name: 'kiln-image-test', version: '43', release: '1' };
// Not a real key: the solver passes armored keys through and nothing here verifies signatures.
const KEY = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGkilnAAAAAAKILNTESTKEY\n=kiln\n-----END PGP PUBLIC KEY BLOCK-----\n';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'kiln-image-build-test-'));
const servers: ServedDirectory[] = [];
test.after.always(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(scratch, { recursive: true, force: true });
});
let dirCount = 0;
const tmp = (label: string) => path.join(scratch, `${dirCount++}-${label}`);

// ---------- fixtures ----------

interface Served {
  repo: DistroRepo;
  url: string;
}

const distroRepos = new Map<string, Promise<Served>>();

/** The repository for a distro/arch and all TYPES, served over HTTP; built once. */
function served(distro: string, arch: string): Promise<Served> {
  const key = `${distro}/${arch}`;
  let p = distroRepos.get(key);
  if (!p) {
    p = (async () => {
      const repo = await distroRepo(TYPES(distro).map((t) => resolveImage(distro, arch, t)));
      const server = await serveDirectory(repo.path);
      servers.push(server);
      return { repo, url: server.url };
    })();
    distroRepos.set(key, p);
  }
  return p;
}

/** A second repository, for the os set only in the customization test. */
let extrasMemo: Promise<BuiltRepo & { url: string }> | undefined;
function extras(): Promise<BuiltRepo & { url: string }> {
  extrasMemo ??= (async () => {
    const repo = await cachedRepo('image-build-extras', [
      { name: 'kiln-extra-tool', arch: 'x86_64', release: '1.fc43', requires: ['kiln-extra-lib', 'bash'] },
      { name: 'kiln-extra-lib', release: '1.fc43' },
    ]);
    const server = await serveDirectory(repo.path);
    servers.push(server);
    return { ...repo, url: server.url };
  })();
  return extrasMemo;
}

/** test/helpers/rpm-repos.ts' modular repository (module streams kilnmod:1, kilnmod:2, othermod:stable), served. */
let modularMemo: Promise<BuiltRepo & { url: string }> | undefined;
function modular(): Promise<BuiltRepo & { url: string }> {
  modularMemo ??= (async () => {
    const repo = await modularRepo('x86_64');
    const server = await serveDirectory(repo.path);
    servers.push(server);
    return { ...repo, url: server.url };
  })();
  return modularMemo;
}

const cacheDirs = new Map<string, string>();
function cacheDir(key: string): string {
  let dir = cacheDirs.get(key);
  if (!dir) cacheDirs.set(key, (dir = path.join(scratch, `rpmmd-${key.replace(/\W/g, '-')}`)));
  return dir;
}

async function depsolveAll(requests: Record<string, DepsolveRequest>, cacheKey: string): Promise<Record<string, DepsolveResult>> {
  const entries = await Promise.all(
    Object.entries(requests).map(async ([set, req]) => [set, await depsolve(req, { cacheDir: cacheDir(cacheKey), solver: KILN_SOLVER, timeoutMs: 60_000 })] as const),
  );
  return Object.fromEntries(entries);
}

/** What the depsolve job asks for: the image's package chains (the seed does not change them). */
const plan = (image: ResolvedImage, blueprint?: Blueprint) => packageRequests({ image, seed: '1', ...(blueprint ? { blueprint } : {}) });

const sha256File = (file: string) => `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;
const nevra = (p: { name: string; version: string; release: string; arch: string }) => `${p.name}-${p.version}-${p.release}.${p.arch}`;
const rpmStages = (m: Manifest, pipeline: string) => m.pipelines.find((p) => p.name === pipeline)!.stages.filter((s) => s.type === 'org.osbuild.rpm');
type Reference = { id: string; options?: { metadata: Record<string, boolean> } };
const references = (m: Manifest, pipeline: string) => rpmStages(m, pipeline).flatMap((s) => (s.inputs as { packages: { references: Reference[] } }).packages.references);

// ---------- unit: depsolveRequestsFor ----------

test('depsolveRequestsFor: one request per package set, with the image arch, releasever, platform and chain', (t) => {
  const image = resolveImage('centos-10', 'aarch64', 'guest-image');
  const chains = plan(image);
  const requests = depsolveRequestsFor(image, chains, [{ baseurl: 'https://example.com/$arch/os' }]);
  t.deepEqual(Object.keys(requests), ['build', 'os']);
  for (const [set, req] of Object.entries(requests)) {
    t.is(req.arch, 'aarch64');
    t.is(req.releasever, '10');
    t.is(req.module_platform_id, 'platform:el10');
    t.deepEqual(
      req.transactions,
      chains[set].map((c, i) => ({ name: i ? `${set}.${i}` : set, package_specs: c.include, exclude_specs: c.exclude, install_weak_deps: c.install_weak_deps })),
    );
    // Nothing is substituted: $arch is the builder plugin's business.
    t.deepEqual(req.repos, [{ id: 'repo-0', baseurl: ['https://example.com/$arch/os'], gpgcheck: false }]);
    t.notThrows(() => validate('depsolve-request.schema', structuredClone(req)));
  }
  t.true(requests.os.transactions[0].package_specs.includes('@core'));
  t.true(requests.os.transactions[0].exclude_specs!.includes('dracut-config-rescue'));
  t.true(requests.os.transactions[0].install_weak_deps);
  t.true(requests.build.transactions[0].install_weak_deps, 'the build root takes weak dependencies, as osbuild/images builds it');
  const rhel = resolveImage('rhel-9.6', 'x86_64', 'aws');
  t.is(rhel.distro.releasever, '9');
  t.is(depsolveRequestsFor(rhel, plan(rhel), [{ baseurl: 'https://x' }]).os.releasever, '9');
});

test('depsolveRequestsFor: what the configuration needs, then the request\'s packages, each a transaction on top of the one before', (t) => {
  const image = resolveImage('fedora-43', 'x86_64', 'minimal-raw');
  const requests = depsolveRequestsFor(image, plan(image, { packages: [{ name: 'tmux' }, { name: 'htop' }, { name: 'tmux' }] }), [{ baseurl: 'https://x' }]);
  t.is(requests.build.transactions.length, 1);
  t.is(requests.os.transactions.length, 3);
  t.like(requests.os.transactions[0], { name: 'os' });
  t.deepEqual(requests.os.transactions[1], { name: 'os.1', package_specs: ['selinux-policy-targeted'], exclude_specs: [], install_weak_deps: false });
  t.deepEqual(requests.os.transactions[2], { name: 'os.2', package_specs: ['tmux', 'htop'], exclude_specs: [], install_weak_deps: false });
});

test('depsolveRequestsFor: repositories with package_sets go only to those sets; ids follow the request order', (t) => {
  const image = resolveImage('fedora-43', 'x86_64', 'guest-image');
  const repos: RepoInput[] = [
    { baseurl: 'https://a/everything' },
    { baseurl: 'https://b/os-only', package_sets: ['os'] },
    { metalink: 'https://c/metalink?repo=x', package_sets: ['build', 'os'] },
    { baseurl: 'https://d/installer', package_sets: ['installer'] },
    { mirrorlist: 'https://e/mirrors', package_sets: ['build'] },
  ];
  const requests = depsolveRequestsFor(image, plan(image), repos);
  t.deepEqual(requests.build.repos.map((r) => r.id), ['repo-0', 'repo-2', 'repo-4']);
  t.deepEqual(requests.os.repos.map((r) => r.id), ['repo-0', 'repo-1', 'repo-2']);
  t.deepEqual(requests.os.repos[2], { id: 'repo-2', metalink: 'https://c/metalink?repo=x', gpgcheck: false });
  t.deepEqual(requests.build.repos[2], { id: 'repo-4', mirrorlist: 'https://e/mirrors', gpgcheck: false });
  // The same repository is the same object content (and id) in every request.
  t.deepEqual(requests.build.repos[0], requests.os.repos[0]);
});

test('depsolveRequestsFor: gpg, ssl and hotfix flags map to the solver repository fields', (t) => {
  const image = resolveImage('fedora-43', 'x86_64', 'container');
  const requests = depsolveRequestsFor(image, plan(image), [
    { baseurl: 'https://signed', gpgkey: KEY, check_gpg: true, check_repo_gpg: true },
    { baseurl: 'https://key-but-no-check', gpgkey: 'https://keys.example.com/RPM-GPG-KEY' },
    { baseurl: 'https://self-signed', ignore_ssl: true, module_hotfixes: true, rhsm: false },
    { baseurl: 'https://strict', ignore_ssl: false, check_gpg: false },
  ]);
  t.deepEqual(requests.os.repos, [
    { id: 'repo-0', baseurl: ['https://signed'], gpgcheck: true, repo_gpgcheck: true, gpgkeys: [KEY] },
    { id: 'repo-1', baseurl: ['https://key-but-no-check'], gpgcheck: false, gpgkeys: ['https://keys.example.com/RPM-GPG-KEY'] },
    { id: 'repo-2', baseurl: ['https://self-signed'], gpgcheck: false, sslverify: false, module_hotfixes: true },
    { id: 'repo-3', baseurl: ['https://strict'], gpgcheck: false, sslverify: true },
  ]);
});

test('depsolveRequestsFor: unusable repositories are refused, naming the field', (t) => {
  const image = resolveImage('fedora-43', 'x86_64', 'guest-image');
  const refuse = (repos: RepoInput[], field: string, message: RegExp) => {
    const err = t.throws(() => depsolveRequestsFor(image, plan(image), repos), { instanceOf: InvalidInputError });
    t.is(err?.field, field);
    t.regex(err?.message ?? '', message);
  };
  refuse([], 'repositories', /at least one/);
  refuse([{ baseurl: 'https://ok' }, { baseurl: '', gpgkey: KEY }], 'repositories[1]', /baseurl, metalink or mirrorlist/);
  refuse([{ baseurl: 'https://ok', rhsm: true }], 'repositories[0].rhsm', /RHSM/);
  refuse([{ baseurl: 'https://ok', check_gpg: true }], 'repositories[0].gpgkey', /gpgkey is required/);
  refuse([{ baseurl: 'https://ok', package_sets: ['os'] }], 'repositories', /package set "build"/);
});

// ---------- unit: packageSetsFromDepsolve ----------

function pkg(name: string, repo: string, extra: Partial<DepsolveResult['transactions'][0]['packages'][0]> = {}) {
  const location = `Packages/${name}-1.0-1.noarch.rpm`;
  return {
    name,
    epoch: 0,
    version: '1.0',
    release: '1',
    arch: 'noarch',
    repo_id: repo,
    location,
    remote_location: `https://${repo}.example.com/${location}`,
    checksum: `sha256:${createHash('sha256').update(`${repo}/${name}`).digest('hex')}`,
    ...extra,
  };
}

function repo(id: string, gpgcheck: boolean, gpgkeys: string[] = []) {
  return { id, gpgcheck, repo_gpgcheck: false, gpgkeys, sslverify: true };
}

test('packagesFromDepsolve: each pipeline\'s transactions in order, check_gpg and keys from the package\'s repository', (t) => {
  const KEY2 = KEY.replace('KILNTESTKEY', 'OTHERKEY');
  const results: Record<string, DepsolveResult> = {
    build: {
      solver: 'dnf',
      api_version: 2,
      transactions: [{ name: 'build', packages: [pkg('bash', 'repo-0'), pkg('rpm', 'repo-0')] }],
      repos: [repo('repo-0', true, [KEY])],
    },
    os: {
      solver: 'dnf',
      api_version: 2,
      transactions: [
        { name: 'os', packages: [pkg('bash', 'repo-0'), pkg('kernel', 'repo-0')] },
        { name: 'os.1', packages: [pkg('tmux', 'repo-1'), pkg('libevent', 'repo-2')] },
      ],
      repos: [repo('repo-0', true, [KEY]), repo('repo-1', false, [KEY2]), repo('repo-2', true, [KEY2])],
    },
  };
  const packages = packagesFromDepsolve(results);
  t.deepEqual(Object.keys(packages), ['build', 'os']);
  t.deepEqual(packages.os.map((tr) => tr.map((p) => p.name)), [['bash', 'kernel'], ['tmux', 'libevent']]);
  t.deepEqual(packages.build.map((tr) => tr.map((p) => p.name)), [['bash', 'rpm']]);
  t.deepEqual(packages.os.flat().map((p) => p.check_gpg), [true, true, false, true]);
  t.deepEqual(packages.os[1][0], {
    name: 'tmux',
    epoch: 0,
    version: '1.0',
    release: '1',
    arch: 'noarch',
    checksum: pkg('tmux', 'repo-1').checksum,
    remote_location: 'https://repo-1.example.com/Packages/tmux-1.0-1.noarch.rpm',
    check_gpg: false,
  });
  // a checked package carries its repository's keys; an unchecked repository's keys are not used
  t.deepEqual(packages.os[1][1].gpgkeys, [KEY2]);
  t.deepEqual(packages.os[0][0].gpgkeys, [KEY]);
});

test('packagesFromDepsolve: a package from a repository the result does not list is refused', (t) => {
  const err = t.throws(
    () =>
      packagesFromDepsolve({
        os: { solver: 'dnf', api_version: 2, transactions: [{ packages: [pkg('bash', 'repo-0'), pkg('ghost', 'repo-7')] }], repos: [repo('repo-0', false)] },
      }),
    { instanceOf: DepsolveError },
  );
  t.is(err?.kind, 'MalformedResponse');
  t.regex(err?.message ?? '', /ghost.*repo-7/);
});

// ---------- end to end ----------

interface Prepared {
  requests: Record<string, DepsolveRequest>;
  results: Record<string, DepsolveResult>;
  manifest: Manifest;
  outputDir: string;
  runOptions: RunOsbuildOptions;
}

/** Depsolve and manifest, as the compose flow's depsolve and osbuild jobs do them. */
async function prepare(image: ResolvedImage, repos: RepoInput[], blueprint?: Blueprint): Promise<Prepared> {
  const requests = depsolveRequestsFor(image, plan(image, blueprint), repos);
  const results = await depsolveAll(requests, `${image.distro.name}-${image.arch}`);
  // as the osbuild job makes it (src/osbuild/manifest-task.ts)
  const manifest = generateManifest({ image, seed: '1', packages: packagesFromDepsolve(results), modules: modulesFromDepsolve(results), ...(blueprint ? { blueprint } : {}) });
  const dir = tmp(`${image.distro.name}-${image.arch}-${image.name}`);
  const outputDir = path.join(dir, 'outputs', 'compose-1', 'image-1');
  const runOptions: RunOsbuildOptions = {
    manifest,
    exportPipeline: image.exportPipeline,
    exportFilename: image.filename,
    outputDir,
    storeDir: path.join(dir, 'store'),
    imageName: kojiFilename(NVR, image),
    osbuildPath: STANDIN,
  };
  return { requests, results, manifest, outputDir, runOptions };
}

/**
 * The stand-in writes the exported file only when the export pipeline's LAST stage has an
 * options.filename. A disk pipeline without BIOS boot (aarch64 `image`, for aws) ends with
 * org.osbuild.copy; its image.raw comes from org.osbuild.truncate, and real osbuild exports
 * the whole pipeline tree, so the manifest is right and the stand-in is not (its export should
 * take the last stage that names a filename). Until test/osbuild-standin/main.ts is fixed,
 * such runs are expected to end in "was not exported"; this check fails once it is fixed.
 */
for (const { distro, arch, types } of DISTROS) {
  for (const type of types) {
    test(`${distro} ${arch} ${type}: depsolve → manifest → osbuild`, async (t) => {
      const { repo, url } = await served(distro, arch);
      const image = resolveImage(distro, arch, type);
      const { requests, results, manifest, outputDir, runOptions } = await prepare(image, [{ baseurl: url }]);
      const chains = plan(image);

      // The depsolve: every named package of each set is there, no excluded one, all for this arch.
      const sets = Object.fromEntries(Object.entries(results).map(([set, r]) => [set, cumulativePackages(r)]));
      t.deepEqual(Object.keys(sets).sort(), ['build', 'os']);
      for (const [set, chain] of Object.entries(chains)) {
        const names = new Set(sets[set].map((p) => p.name));
        for (const spec of chain.flatMap((c) => c.include).filter((s) => !s.startsWith('@'))) t.true(names.has(spec), `${set} lacks ${spec}`);
        for (const spec of chain.flatMap((c) => c.exclude)) t.false(names.has(spec), `${set} has excluded ${spec}`);
        // More than was asked for: dependencies and group members came in.
        t.true(names.size > chain[0].include.length, `${set}: ${names.size} packages for ${chain[0].include.length} specs`);
        // install_weak_deps reached the solver: kernel-core recommends linux-firmware.
        if (names.has('kernel-core') && !chain[0].include.includes('linux-firmware')) t.is(names.has('linux-firmware'), chain[0].install_weak_deps, `${set}: weak deps`);
        for (const p of sets[set]) t.true(p.arch === arch || p.arch === 'noarch', `${p.name}.${p.arch}`);
      }
      const osNames = new Set(sets.os.map((p) => p.name));
      // Dependency chains resolved (python3 → glibc → glibc-common; rpm → rpm-libs).
      t.true(['python3', 'glibc', 'glibc-common', 'rpm', 'rpm-libs'].every((n) => new Set(sets.build.map((p) => p.name)).has(n)));
      if (chains.os[0].include.includes('@core')) t.true(['basesystem', 'systemd', 'NetworkManager'].every((n) => osNames.has(n)), '@core members');
      if (chains.os[0].include.includes('@Fedora Cloud Server')) t.true(osNames.has('sudo') && osNames.has('basesystem'), 'cloud server group members');
      if (osNames.has('langpacks-en')) t.true(osNames.has('google-noto-sans-vf-fonts'), 'virtual provide');
      t.deepEqual(requests.os.repos.map((r) => r.id), ['repo-0']);

      // The manifest's curl sources are exactly the depsolved packages, pointing into the repo.
      const all = [...sets.build, ...sets.os];
      const items = (manifest.sources['org.osbuild.curl'] as { items: Record<string, { url: string }> }).items;
      t.deepEqual(Object.keys(items).sort(), [...new Set(all.map((p) => p.checksum))].sort());
      for (const p of all) {
        t.is(p.remote_location, `${url}/${p.location}`);
        t.is(items[p.checksum].url, p.remote_location);
        t.is(sha256File(repo.file(p.location)), p.checksum, `checksum of ${p.location}`);
      }
      t.deepEqual(references(manifest, 'build').map((r) => r.id).sort(), [...new Set(sets.build.map((p) => p.checksum))].sort());
      t.deepEqual(references(manifest, 'os').map((r) => r.id).sort(), [...new Set(sets.os.map((p) => p.checksum))].sort());
      t.false(references(manifest, 'os').some((r) => r.options), 'no gpg check without check_gpg');

      // The run: image under the Koji name, log and manifest beside it, the OS set's RPMs reported.
      const kojiName = kojiFilename(NVR, image);
      t.is(kojiName, `${NVR.name}-${NVR.version}-${NVR.release}.${arch}${splitExtension(image.filename)}`);
      const run = await runOsbuild(runOptions);
      t.true(run.success, JSON.stringify(run.errors));
      t.is(run.imagePath, path.join(outputDir, kojiName));
      t.true(existsSync(run.imagePath!));
      t.true(run.size! > 0);
      t.is(run.logPath, path.join(outputDir, `${kojiName}.osbuild.log`));
      t.is(run.manifestPath, path.join(outputDir, `${kojiName}.manifest.json`));
      t.deepEqual(readdirSync(outputDir).sort(), [kojiName, `${kojiName}.manifest.json`, `${kojiName}.osbuild.log`].sort());
      t.deepEqual(JSON.parse(readFileSync(run.manifestPath, 'utf8')), manifest);
      t.regex(readFileSync(run.logPath, 'utf8'), /org\.osbuild\.rpm/);
      t.deepEqual(run.rpms.map(nevra).sort(), sets.os.map(nevra).sort());
    });
  }
}

test('excludes reach the solver: without them the excluded group members would be installed', async (t) => {
  const { url } = await served('fedora-43', 'x86_64');
  const image = resolveImage('fedora-43', 'x86_64', 'guest-image');
  const request = depsolveRequestsFor(image, plan(image), [{ baseurl: url }]).os;
  const excluded = ['dracut-config-rescue', 'firewalld', 'plymouth', 'geolite2-city', 'geolite2-country'];
  t.true(excluded.every((n) => request.transactions[0].exclude_specs!.includes(n)));
  const unexcluded = structuredClone(request);
  unexcluded.transactions[0].exclude_specs = [];
  const [withExcludes, without] = await Promise.all(
    [request, unexcluded].map((r) => depsolve(r, { cacheDir: cacheDir('fedora-43-x86_64'), solver: KILN_SOLVER, timeoutMs: 60_000 })),
  );
  const names = (r: DepsolveResult) => new Set(cumulativePackages(r).map((p) => p.name));
  for (const n of excluded) {
    t.true(names(without).has(n), `${n} is a default member of @Fedora Cloud Server`);
    t.false(names(withExcludes).has(n), `${n} is excluded`);
  }
  // The EL guest image excludes firmware that @core brings.
  const el = await served('centos-10', 'aarch64');
  const elGuest = resolveImage('centos-10', 'aarch64', 'guest-image');
  const guestRequest = depsolveRequestsFor(elGuest, plan(elGuest), [{ baseurl: el.url }]).os;
  t.true(guestRequest.transactions[0].exclude_specs!.includes('iwl7260-firmware'));
  const guestUnexcluded = structuredClone(guestRequest);
  guestUnexcluded.transactions[0].exclude_specs = [];
  const [guest, unexcludedGuest] = await Promise.all(
    [guestRequest, guestUnexcluded].map((r) => depsolve(r, { cacheDir: cacheDir('centos-10-aarch64'), solver: KILN_SOLVER, timeoutMs: 60_000 })),
  );
  t.false(names(guest).has('iwl7260-firmware'));
  t.true(names(unexcludedGuest).has('iwl7260-firmware'));
});

test('a customization package from an os-only repository with gpgcheck lands in the OS set only, checked', async (t) => {
  const [{ url }, extra] = await Promise.all([served('fedora-43', 'x86_64'), extras()]);
  const image = resolveImage('fedora-43', 'x86_64', 'guest-image');
  const repos: RepoInput[] = [{ baseurl: url }, { baseurl: extra.url, package_sets: ['os'], check_gpg: true, gpgkey: KEY }];
  const { requests, results, manifest, runOptions } = await prepare(image, repos, { packages: [{ name: 'kiln-extra-tool' }, { name: 'bash' }] });
  const run = await runOsbuild(runOptions);

  t.deepEqual(requests.build.repos.map((r) => r.id), ['repo-0']);
  t.deepEqual(requests.os.repos.map((r) => r.id), ['repo-0', 'repo-1']);
  // The request's transaction adds only what is new: the tool and its library (bash was there).
  t.is(results.os.transactions.length, 3);
  t.is(results.os.transactions[2].name, 'os.2');
  t.deepEqual(results.os.transactions[2].packages.map((p) => `${p.name}@${p.repo_id}`).sort(), ['kiln-extra-lib@repo-1', 'kiln-extra-tool@repo-1']);
  t.false(cumulativePackages(results.build).some((p) => p.name.startsWith('kiln-extra')));

  const osRefs = references(manifest, 'os');
  const byId = new Map(cumulativePackages(results.os).map((p) => [p.checksum, p]));
  for (const r of osRefs) {
    const p = byId.get(r.id)!;
    t.is(r.options?.metadata['rpm.check_gpg'] === true, p.repo_id === 'repo-1', `${p.name} check_gpg`);
  }
  t.is(osRefs.filter((r) => r.options).length, 2);
  // keys go with the transaction whose packages are checked: the request's, last
  t.deepEqual(rpmStages(manifest, 'os').map((s) => (s.options as { gpgkeys?: string[] }).gpgkeys), [undefined, undefined, [KEY]]);
  for (const p of results.os.transactions[2].packages) {
    t.is((manifest.sources['org.osbuild.curl'] as { items: Record<string, { url: string }> }).items[p.checksum].url, `${extra.url}/${p.location}`);
    t.is(sha256File(path.join(extra.path, p.location)), p.checksum);
  }
  t.true(run.success, JSON.stringify(run.errors));
  // The OS set is the whole chain: the image type's packages and the customization's.
  t.deepEqual(run.rpms.map(nevra).sort(), cumulativePackages(results.os).map(nevra).sort());
  t.true(run.rpms.some((r) => r.name === 'kernel'));
  t.true(run.rpms.some((r) => r.name === 'kiln-extra-tool' && r.arch === 'x86_64'));
  t.true(run.rpms.some((r) => r.name === 'kiln-extra-lib'));
});

test('a package missing from the repository gives a depsolve error naming it', async (t) => {
  const { repo } = await served('fedora-43', 'x86_64');
  const partial = await repoWithout(repo, ['qemu-guest-agent', 'grub2-common'], tmp('partial-repo'));
  const repos: RepoInput[] = [{ baseurl: partial.baseurl }];

  // Asked for by name (guest-image's os set): the solver cannot mark it.
  const guestImage = resolveImage('fedora-43', 'x86_64', 'guest-image');
  const guest = depsolveRequestsFor(guestImage, plan(guestImage), repos).os;
  const marking = await t.throwsAsync(depsolve(guest, { cacheDir: tmp('cache'), solver: KILN_SOLVER, timeoutMs: 60_000 }), { instanceOf: DepsolveError });
  t.is(marking?.kind, 'MarkingErrors');
  t.is(marking?.code, 'KILN_DEPSOLVE');
  t.deepEqual(marking?.details?.packages, ['qemu-guest-agent']);
  t.regex(marking?.message ?? '', /qemu-guest-agent/);

  // Needed as a dependency (grub2-efi-x64 requires grub2-common): the solve fails, naming it.
  const rawImage = resolveImage('fedora-43', 'x86_64', 'minimal-raw');
  const raw = depsolveRequestsFor(rawImage, plan(rawImage), repos).os;
  const unsolvable = await t.throwsAsync(depsolve(raw, { cacheDir: tmp('cache'), solver: KILN_SOLVER, timeoutMs: 60_000 }), { instanceOf: DepsolveError });
  t.is(unsolvable?.kind, 'DepsolveError');
  t.regex(unsolvable?.message ?? '', /grub2-common/);
  t.true(unsolvable instanceof KilnError);
});

test('enabled_modules: the stream comes from a modular payload repository and is written into the image as dnf keeps it', async (t) => {
  const [{ url }, mod] = await Promise.all([served('fedora-43', 'x86_64'), modular()]);
  const image = resolveImage('fedora-43', 'x86_64', 'guest-image');
  const blueprint: Blueprint = {
    enabled_modules: [{ name: 'kilnmod', stream: '2' }],
    packages: [{ name: 'tool-user' }, { name: '@othermod:stable/default' }],
    customizations: { directories: [{ path: '/srv/kiln' }] },
  };
  const repos: RepoInput[] = [{ baseurl: url }, { baseurl: mod.url, package_sets: ['blueprint'] }];
  const { requests, results, manifest, runOptions } = await prepare(image, repos, blueprint);

  // the request: the image's own transactions kept to the distro repository, the blueprint's with the stream
  const os = requests.os.transactions;
  t.deepEqual(os.at(-1), { name: `os.${os.length - 1}`, package_specs: ['tool-user', '@othermod:stable/default'], exclude_specs: [], module_enable_specs: ['kilnmod:2'], install_weak_deps: false });
  for (const tr of os.slice(0, -1)) t.deepEqual(tr.repo_ids, ['repo-0']);
  t.deepEqual(requests.os.repos.map((r) => r.id), ['repo-0', 'repo-1']);
  t.deepEqual(requests.build.repos.map((r) => r.id), ['repo-0']);

  // the result: stream 2's tool (not stream 1's default, not the non-modular 3.0), both modules reported
  t.deepEqual(
    results.os.transactions.at(-1)!.packages.map((p) => `${p.name}-${p.epoch}:${p.version}@${p.repo_id}`),
    ['kilnmod-tool-1:2.0@repo-1', 'othermod-pkg-0:1.0@repo-1', 'tool-user-0:1.0@repo-1'],
  );
  t.false(results.os.transactions.slice(0, -1).some((tr) => tr.packages.some((p) => p.repo_id === 'repo-1')), 'the image’s own transactions do not see the payload repository');
  t.deepEqual(results.build.modules, {});
  t.deepEqual(Object.keys(results.os.modules!), ['kilnmod', 'othermod']);
  const kilnmod = results.os.modules!.kilnmod;
  const othermod = results.os.modules!.othermod;
  t.deepEqual(kilnmod['module-file'].data, { name: 'kilnmod', stream: '2', profiles: [], state: 'enabled' });
  t.deepEqual(othermod['module-file'].data, { name: 'othermod', stream: 'stable', profiles: ['default'], state: 'enabled' });

  // the manifest: config per module, the failsafe directory and files, before the blueprint's directories (osbuild/images' order)
  const stages = manifest.pipelines.find((p) => p.name === 'os')!.stages;
  const at = stages.findIndex((s) => s.type === 'org.osbuild.dnf.module-config');
  t.true(stages.slice(at).every((s) => s.type !== 'org.osbuild.rpm'), 'after the packages');
  t.deepEqual(stages.slice(at, at + 5).map((s) => s.type), ['org.osbuild.dnf.module-config', 'org.osbuild.dnf.module-config', 'org.osbuild.mkdir', 'org.osbuild.copy', 'org.osbuild.mkdir']);
  t.deepEqual(stages[at].options, { conf: { name: 'kilnmod', stream: '2', state: 'enabled', profiles: [] } });
  t.deepEqual(stages[at + 1].options, { conf: { name: 'othermod', stream: 'stable', state: 'enabled', profiles: ['default'] } });
  t.deepEqual(stages[at + 2].options, { paths: [{ path: '/var/lib/dnf/modulefailsafe', parents: true, exist_ok: true }] });
  t.deepEqual((stages[at + 4].options as { paths: { path: string }[] }).paths.map((p) => p.path), ['/srv/kiln']);
  const copy = stages[at + 3].options as { paths: { from: string; to: string }[] };
  t.deepEqual(copy.paths.map((p) => p.to), ['tree:///var/lib/dnf/modulefailsafe/kilnmod:2', 'tree:///var/lib/dnf/modulefailsafe/othermod:stable']);
  const inline = (manifest.sources['org.osbuild.inline'] as { items: Record<string, { data: string }> }).items;
  for (const [p, m] of [[copy.paths[0], kilnmod], [copy.paths[1], othermod]] as const) {
    const id = /sha256:[0-9a-f]{64}$/.exec(p.from)![0];
    t.is(Buffer.from(inline[id].data, 'base64').toString('utf8'), m['failsafe-file'].data);
  }
  t.regex(kilnmod['failsafe-file'].data, /document: modulemd[\s\S]*stream: "?2"?[\s\S]*kilnmod-tool-1:2\.0-1\.module_kilnmod2\.noarch/);

  // osbuild's schemas accept it; the same result in another order gives the same manifest
  const valid = validateManifest(manifest);
  t.true(valid.success, JSON.stringify(valid.errors));
  const reordered = { ...results, os: { ...results.os, modules: { othermod, kilnmod } } };
  t.deepEqual(generateManifest({ image, seed: '1', blueprint, packages: packagesFromDepsolve(reordered), modules: modulesFromDepsolve(reordered) }), manifest);

  const run = await runOsbuild(runOptions);
  t.true(run.success, JSON.stringify(run.errors));
  t.true(run.rpms.some((r) => r.name === 'kilnmod-tool' && r.version === '2.0'));
  t.regex(readFileSync(run.logPath, 'utf8'), /org\.osbuild\.dnf\.module-config/);
});

test('modulesFromDepsolve: the os pipeline’s modules sorted by name; none without them', (t) => {
  const module = (name: string) => ({
    'module-file': { path: `/etc/dnf/modules.d/${name}.conf`, data: { name, stream: '1', profiles: [], state: 'enabled' } },
    'failsafe-file': { path: `/var/lib/dnf/modulefailsafe/${name}:1`, data: `name: ${name}\n` },
  });
  const result = (modules?: Record<string, ReturnType<typeof module>>): DepsolveResult => ({ solver: 'dnf', api_version: 2, transactions: [], repos: [], ...(modules ? { modules } : {}) });
  t.deepEqual(modulesFromDepsolve({ build: result({ b: module('b') }), os: result({ z: module('z'), a: module('a') }) }).map((m) => m['module-file'].data.name), ['a', 'z']);
  t.deepEqual(modulesFromDepsolve({ build: result(), os: result() }), []);
  t.deepEqual(modulesFromDepsolve({ build: result() }), []);
});
