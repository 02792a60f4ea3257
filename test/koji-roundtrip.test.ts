import test from 'ava';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { hubFixture, CG, randomContent } from './helpers/koji-hub.js';
import { BuildState, buildCGMetadata, cgImport, cgInitBuild, cgRefundBuild, getBuild, listArchives, uploadFile, type CGComposeFacts } from '../src/koji/index.js';

function facts(nvr: { name: string; version: string; release: string }, buildId: number, files: { image: any; manifest: any; log: any }): CGComposeFacts {
  return {
    ...nvr,
    buildId,
    startTime: 1_700_000_000,
    endTime: 1_700_000_600,
    owner: 'kiln',
    images: [
      {
        arch: 'x86_64',
        hostOs: 'rhel-9.4',
        osbuildVersion: '129',
        bootMode: 'hybrid',
        imageType: 'qcow2',
        buildrootRpms: [{ name: 'bash', version: '5.1.8', release: '9.el9', epoch: null, arch: 'x86_64', sigmd5: 'abc', sigpgp: null }],
        imageRpms: [{ name: 'kernel', version: '5.14.0', release: '1.el9', epoch: 0, arch: 'x86_64', sigmd5: 'def', siggpg: 'sig' }],
        ...files,
      },
    ],
  };
}

test('full CG round trip: init, upload 3 files, import, getBuild COMPLETE with archives', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const nvr = { name: 'rhel-guest', version: '9.4', release: '1' };
  const { build_id, token } = await cgInitBuild(client, CG, nvr);
  t.true(build_id > 0);
  t.regex(token, /^[0-9a-f]{64}$/);
  t.is((await getBuild(client, build_id))!.state, BuildState.BUILDING);

  const dir = 'kiln/compose-1';
  const image = await uploadFile(client, await f.file('rhel-guest-9.4-1.x86_64.qcow2', randomContent(3 * 1024 * 1024 + 17)), { directory: dir, chunkSize: 1024 * 1024 });
  const manifest = await uploadFile(client, await f.file('rhel-guest-9.4-1.x86_64.manifest.json', '{"version":"2"}'), { directory: dir });
  const log = await uploadFile(client, await f.file('rhel-guest-9.4-1.x86_64.osbuild.log', 'Pipeline: os\n'), { directory: dir });
  t.is(image.size, 3 * 1024 * 1024 + 17);
  t.is(image.chunks, 4);
  t.is(image.resumedFrom, 0);

  const metadata = buildCGMetadata(facts(nvr, build_id, { image, manifest, log }));
  const info = await cgImport(client, metadata, dir, token);
  t.is(info.state, BuildState.COMPLETE);
  const build = (await getBuild(client, 'rhel-guest-9.4-1'))!;
  t.is(build.state, BuildState.COMPLETE);
  t.is(build.id, build_id);
  t.is(build.owner_name, 'kiln');
  t.is(build.cg_name, CG);
  t.deepEqual((build.extra as any).typeinfo.image['rhel-guest-9.4-1.x86_64.qcow2'].arch, 'x86_64');

  const archives = await listArchives(client, { buildID: build_id, type: 'image' });
  t.deepEqual(archives.map((a) => [a.filename, a.type_name, a.size, a.checksum, a.arch]).sort(), [
    ['rhel-guest-9.4-1.x86_64.manifest.json', 'json', manifest.size, manifest.sha256, 'x86_64'],
    ['rhel-guest-9.4-1.x86_64.qcow2', 'qcow2', image.size, image.sha256, 'x86_64'],
  ]);
  const logs = await client.call<Array<{ name: string; path: string }>>('getBuildLogs', [build_id]);
  t.deepEqual(logs.map((l) => l.name).sort(), ['cg_import.log', 'rhel-guest-9.4-1.x86_64.osbuild.log']);
  // The hub has none of the RPMs the image was built from: it drops them and says so only in cg_import.log.
  const importLog = await readFile(path.join(f.hub.dir, logs.find((l) => l.name === 'cg_import.log')!.path), 'utf8');
  t.regex(importLog, /^IGNORING unmatched rpm component: \{'type': 'rpm', 'name': 'bash', 'version': '5\.1\.8', 'release': '9\.el9', 'epoch': None, 'arch': 'x86_64', 'sigmd5': 'abc', 'signature': None\}$/m);
  t.regex(importLog, /^IGNORING unmatched rpm component: \{'type': 'rpm', 'name': 'kernel', 'version': '5\.14\.0', 'release': '1\.el9', 'epoch': 0, 'arch': 'x86_64', 'sigmd5': 'def', 'signature': 'sig'\}$/m);
  t.regex(importLog, /CG import was SUCCESSFUL\.\n$/);
  t.deepEqual(f.hub.tables().buildroots[1].components, [], 'the dropped components are not recorded');

  // Replaying the import is refused: the reservation is gone.
  const replay = await t.throwsAsync(cgImport(client, metadata, dir, token));
  t.regex(replay!.message, /Token doesn't match build ID/);
  t.is(f.hub.builds().length, 1);
});

test('refund leaves the build FAILED and the NVR reusable; a second refund fails', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const nvr = { name: 'refund-me', version: '1', release: '1' };
  const first = await cgInitBuild(client, CG, nvr);
  await cgRefundBuild(client, CG, first.build_id, first.token, 'FAILED');
  t.is((await getBuild(client, first.build_id))!.state, BuildState.FAILED);
  const again = await t.throwsAsync(cgRefundBuild(client, CG, first.build_id, first.token, 'FAILED'));
  t.regex(again!.message, /Build ID \d+ is not in BUILDING state/);

  const second = await cgInitBuild(client, CG, nvr);
  t.is(second.build_id, first.build_id, 'the FAILED build is recycled');
  t.not(second.token, first.token);
  t.is((await getBuild(client, second.build_id))!.state, BuildState.BUILDING);
  await cgRefundBuild(client, CG, second.build_id, second.token, 'CANCELED');
  t.is((await getBuild(client, second.build_id))!.state, BuildState.CANCELED);
});

test('installer ISOs and PXE tarballs: `iso` and `tar` archives whose extra.image.arch Pungi\'s osbuild phase reads', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const { kojiFilename, resolveImage } = await import('../src/osbuild/index.js');
  const nvr = { name: 'Fedora-Everything-netinst', version: '43', release: '20261203.n.0' };
  const { build_id, token } = await cgInitBuild(client, CG, nvr);
  const dir = 'kiln/compose-iso';
  const images = [];
  for (const [arch, type] of [['x86_64', 'everything-network-installer'], ['aarch64', 'pxe-tar-xz']] as const) {
    const name = kojiFilename(nvr, { arch, filename: resolveImage('fedora-43', arch, type).filename });
    const image = await uploadFile(client, await f.file(name, randomContent(64 * 1024)), { directory: dir });
    const manifest = await uploadFile(client, await f.file(`${name}.manifest.json`, '{"version":"2"}'), { directory: dir });
    const log = await uploadFile(client, await f.file(`${name}.osbuild.log`, 'Pipeline: bootiso\n'), { directory: dir });
    images.push({ ...facts(nvr, build_id, { image, manifest, log }).images[0], arch, imageType: type });
  }
  const metadata = buildCGMetadata({ ...facts(nvr, build_id, images[0] as any), images: images as any });
  t.is((await cgImport(client, metadata, dir, token)).state, BuildState.COMPLETE);
  const archives = await listArchives(client, { buildID: build_id, type: 'image' });
  const outputs = archives.filter((a) => a.type_name !== 'json');
  t.deepEqual(outputs.map((a) => [a.filename, a.type_name]).sort(), [
    ['Fedora-Everything-netinst-43-20261203.n.0.aarch64.tar.xz', 'tar'],
    ['Fedora-Everything-netinst-43-20261203.n.0.x86_64.iso', 'iso'],
  ]);
  // pungi/phases/osbuild.py: arch = archive["extra"]["image"]["arch"] (a KeyError stops the compose)
  for (const a of archives) t.is((a.extra as any).image.arch, a.filename.includes('aarch64') ? 'aarch64' : 'x86_64', a.filename);
  t.is((outputs.find((a) => a.type_name === 'iso')!.extra as any).image.image_type, 'everything-network-installer');
});
