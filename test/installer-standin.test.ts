/**
 * The osbuild stand-in assembles installer ISOs for real where this host can (mksquashfs,
 * mkfs.erofs, mkfs.fat, xorrisofs, implantisomd5), so what Kiln hands to Koji is an ISO a
 * reader can check: volume id, El Torito EFI entry, the squashfs root, .discinfo, the kickstart.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { contentPipeline, generateManifest, kojiFilename, packageRequests, resolveImage, runOsbuild } from '../src/osbuild/index.js';
import type { Blueprint } from '../src/blueprint/index.js';
import { syntheticDepsolve } from './osbuild-standin/synthetic.js';

const STANDIN = fileURLToPath(new URL('./osbuild-standin/osbuild.mjs', import.meta.url));
const root = mkdtempSync(path.join(os.tmpdir(), 'kiln-iso-test-'));
test.after.always(() => rmSync(root, { recursive: true, force: true }));

const xorriso = (iso: string, ...args: string[]) => execFileSync('xorriso', ['-indev', iso, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

async function buildIso(distro: string, arch: string, type: string, blueprint?: Blueprint) {
  const image = resolveImage(distro, arch, type);
  const input = { image, seed: '3', ...(blueprint ? { blueprint } : {}) };
  const manifest = generateManifest({ ...input, packages: syntheticDepsolve(packageRequests(input), arch) });
  const dir = mkdtempSync(path.join(root, 'run-'));
  const imageName = kojiFilename({ name: 'Fedora-netinst', version: '43', release: '1' }, image);
  const run = await runOsbuild({
    manifest,
    exportPipeline: image.exportPipeline,
    exportFilename: image.filename,
    outputDir: path.join(dir, 'out'),
    storeDir: path.join(dir, 'store'),
    imageName,
    rpmPipeline: contentPipeline(image.kind),
    osbuildPath: STANDIN,
  });
  return { run, image, manifest };
}

test('image installer: a real ISO with the label, the EFI El Torito image, the squashfs root, the tarball, kickstart and .discinfo', async (t) => {
  const { run } = await buildIso('fedora-43', 'x86_64', 'minimal-installer', { customizations: { user: [{ name: 'alice', key: 'ssh-ed25519 AAAA' }], installer: { unattended: true } } });
  t.true(run.success, JSON.stringify(run.errors));
  const iso = run.imagePath!;
  t.is(path.basename(iso), 'Fedora-netinst-43-1.x86_64.iso');
  const pvd = xorriso(iso, '-pvd_info');
  t.regex(pvd, /Volume Id\s+: Fedora-43-Unknown-x86_64/);
  t.regex(pvd, /System Id\s+: LINUX/);
  // ISO 9660 upper-cases the publisher and preparer (a-characters)
  t.regex(pvd, /Publisher Id\s+: FEDORA PROJECT/);
  t.regex(pvd, /Preparer Id\s+: IMAGE-BUILDER - HTTPS:\/\/OSBUILD.ORG\//);
  const files = xorriso(iso, '-find', '/', '-type', 'f');
  for (const f of ['/.discinfo', '/images/install.img', '/images/efiboot.img', '/images/pxeboot/vmlinuz', '/images/pxeboot/initrd.img', '/liveimg.tar.gz', '/osbuild.ks']) t.true(files.includes(`'${f}'`), f);
  t.regex(xorriso(iso, '-report_el_torito', 'plain'), /El Torito img path :\s+1\s+\/images\/efiboot\.img/);
  const out = path.join(root, 'x');
  execFileSync('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', out], { stdio: 'ignore' });
  t.deepEqual(readFileSync(path.join(out, '.discinfo'), 'utf8').split('\n').slice(1, 3), ['Fedora 43', 'x86_64']);
  const ks = readFileSync(path.join(out, 'osbuild.ks'), 'utf8');
  t.regex(ks, /^liveimg --url file:\/\/\/run\/install\/repo\/liveimg\.tar\.gz$/m);
  t.regex(ks, /^user --name alice$/m);
  t.regex(ks, /^rootpw --lock$/m);
  // the root image is a squashfs holding the installer tree's .buildstamp
  const listing = execFileSync('unsquashfs', ['-l', path.join(out, 'images', 'install.img')]).toString();
  t.regex(listing, /\.buildstamp/);
  const check = spawnSync('checkisomd5', [iso]);
  t.is(check.status, 0, 'implantisomd5 ran: the checksum checks out');
  t.regex(`${check.stdout}${check.stderr}`, /PASS/);
  // the image's components are the installed os tree's packages
  t.true(run.rpms.some((r) => r.name === 'NetworkManager-wifi'));
  t.false(run.rpms.some((r) => r.name === 'anaconda'));
});

test('network installer: an erofs root, the legal files, no payload', async (t) => {
  const { run } = await buildIso('fedora-43', 'aarch64', 'everything-network-installer');
  t.true(run.success, JSON.stringify(run.errors));
  const files = xorriso(run.imagePath!, '-find', '/', '-type', 'f');
  t.true(files.includes("'/Fedora-Legal-README.txt'"));
  t.false(files.includes("'/liveimg.tar.gz'"));
  const out = path.join(root, 'n');
  execFileSync('xorriso', ['-osirrox', 'on', '-indev', run.imagePath!, '-extract', '/images/install.img', out], { stdio: 'ignore' });
  t.is(readFileSync(out).readUInt32LE(1024), 0xe0f5e1e2, 'an erofs super block');
  t.regex(xorriso(run.imagePath!, '-pvd_info'), /Volume Id\s+: Fedora-43-Everything-aarch64/);
  // boot.iso has no os tree: its components are the installer tree's packages
  t.true(run.rpms.some((r) => r.name === 'anaconda'));
});
