/**
 * A real container registry on loopback for tests: Debian's docker-registry (distribution 2.8),
 * with its storage in a temporary directory, optionally behind TLS (a self-signed certificate
 * nobody trusts) or htpasswd authentication. Images are made here (a one-file layer, its
 * config, a Docker or OCI manifest, optionally a manifest list) and pushed with the registry's
 * HTTP API. Stopped by `stop()`; bounded: it is killed when its test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { freePort } from './net.js';
import { makePki } from './koji-hub.js';

export const REGISTRY_USER = 'kiln';
// bcrypt of "kiln-secret" (distribution's htpasswd takes bcrypt only)
const HTPASSWD = `${REGISTRY_USER}:$2b$12$/WGEdKiJUfQZXY8e8GV6Y.PjZvDPpk5bjekhsJwQHXol.Ta0bqqU2\n`;
const BASIC = `Basic ${Buffer.from(`${REGISTRY_USER}:kiln-secret`).toString('base64')}`;

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface PushedImage {
  /** Digest of its manifest. */
  digest: string;
  /** Digest of its config (the image id). */
  imageId: string;
  arch: string;
}

export interface TestRegistry {
  /** host:port */
  host: string;
  tls: boolean;
  push(repo: string, tag: string, opts?: { arch?: string; oci?: boolean; content?: string }): Promise<PushedImage>;
  /** An image of several layers (applied in order), each a list of entries. */
  pushLayers(repo: string, tag: string, layers: LayerEntry[][], opts?: { arch?: string; oci?: boolean }): Promise<PushedImage>;
  /** An image index (OCI) or manifest list (Docker) of one image per arch under `tag`. */
  pushList(repo: string, tag: string, arches: string[], opts?: { oci?: boolean }): Promise<{ listDigest: string; images: PushedImage[] }>;
  deleteManifest(repo: string, digest: string): Promise<void>;
  stop(): Promise<void>;
}

/** An entry of a test layer: a file, a symlink or a directory. */
export type LayerEntry = { name: string; content: string } | { name: string; symlink: string } | { name: string; dir: true };

/** A ustar archive of the entries, byte for byte the same each time. */
function tarOfEntries(entries: LayerEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = 'content' in e ? Buffer.from(e.content) : Buffer.alloc(0);
    const h = Buffer.alloc(512);
    const put = (s: string, off: number, len: number) => h.write(s, off, len, 'ascii');
    const octal = (n: number, len: number) => `${n.toString(8).padStart(len - 1, '0')}\0`;
    put(e.name, 0, 100);
    put(octal('dir' in e ? 0o755 : 0o644, 8), 100, 8);
    put(octal(0, 8), 108, 8);
    put(octal(0, 8), 116, 8);
    put(octal(data.length, 12), 124, 12);
    put(octal(0, 12), 136, 12);
    put('        ', 148, 8);
    put('symlink' in e ? '2' : 'dir' in e ? '5' : '0', 156, 1);
    if ('symlink' in e) put(e.symlink, 157, 100);
    put('ustar\0', 257, 6);
    put('00', 263, 2);
    let sum = 0;
    for (const b of h) sum += b;
    put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  return Buffer.concat([...parts, Buffer.alloc(1024)]);
}

const tarOf = (name: string, content: string) => tarOfEntries([{ name, content }]);

function request(base: string, ca: string | undefined, method: string, url: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const u = new URL(url, base);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { method, headers: { Authorization: BASIC, ...(body ? { 'Content-Length': String(body.length) } : {}), ...headers }, ...(ca ? { ca } : {}), timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

export async function startRegistry(opts: { tls?: boolean; auth?: boolean } = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-registry-'));
  const port = await freePort();
  let ca: string | undefined;
  const lines = ['version: 0.1', 'log:', '  level: error', 'storage:', '  delete:', '    enabled: true', '  filesystem:', `    rootdirectory: ${dir}/data`, 'http:', `  addr: 127.0.0.1:${port}`];
  if (opts.tls) {
    const pki = await makePki(dir);
    ca = pki.ca;
    writeFileSync(path.join(dir, 'tls.crt'), pki.serverCert);
    writeFileSync(path.join(dir, 'tls.key'), pki.serverKey);
    lines.push('  tls:', `    certificate: ${dir}/tls.crt`, `    key: ${dir}/tls.key`);
  }
  if (opts.auth) {
    writeFileSync(path.join(dir, 'htpasswd'), HTPASSWD);
    lines.push('auth:', '  htpasswd:', '    realm: kiln-test', `    path: ${dir}/htpasswd`);
  }
  writeFileSync(path.join(dir, 'config.yml'), `${lines.join('\n')}\n`);
  const child: ChildProcess = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = `${stderr}${d}`.slice(-4000)));
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  const base = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited ${child.exitCode}: ${stderr}`);
    const ok = await request(base, ca, 'GET', '/v2/').then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not answer within 20 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const call = (method: string, url: string, body?: Buffer, headers?: Record<string, string>) => request(base, ca, method, url, body, headers);

  async function blob(repo: string, data: Buffer): Promise<string> {
    const digest = sha(data);
    const start = await call('POST', `/v2/${repo}/blobs/uploads/`);
    if (start.status !== 202) throw new Error(`upload start ${start.status}: ${start.body}`);
    const loc = new URL(String(start.headers.location), base);
    loc.searchParams.set('digest', digest);
    const put = await call('PUT', loc.toString(), data, { 'Content-Type': 'application/octet-stream' });
    if (put.status !== 201) throw new Error(`blob put ${put.status}: ${put.body}`);
    return digest;
  }
  async function manifest(repo: string, ref: string, doc: Record<string, unknown>): Promise<string> {
    const body = Buffer.from(JSON.stringify(doc));
    const put = await call('PUT', `/v2/${repo}/manifests/${ref}`, body, { 'Content-Type': String(doc.mediaType) });
    if (put.status !== 201) throw new Error(`manifest put ${put.status}: ${put.body}`);
    return sha(body);
  }
  async function image(repo: string, ref: string, arch: string, oci: boolean, content: string): Promise<PushedImage> {
    return layered(repo, ref, arch, oci, [tarOf('hello.txt', content)]);
  }
  async function layered(repo: string, ref: string, arch: string, oci: boolean, tars: Buffer[]): Promise<PushedImage> {
    const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: tars.map((t) => sha(t)) }, config: { Cmd: ['/hello'] } }));
    const configDigest = await blob(repo, config);
    const layers: { size: number; digest: string }[] = [];
    for (const tar of tars) {
      const layer = gzipSync(tar, { level: 9 });
      layers.push({ size: layer.length, digest: await blob(repo, layer) });
    }
    const doc = oci
      ? { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: config.length, digest: configDigest }, layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })) }
      : { schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: configDigest }, layers: layers.map((l) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', ...l })) };
    return { digest: await manifest(repo, ref, doc), imageId: configDigest, arch };
  }
  return {
    host: `127.0.0.1:${port}`,
    tls: !!opts.tls,
    push: (repo, tag, o = {}) => image(repo, tag, o.arch ?? 'amd64', o.oci ?? false, o.content ?? `hello from ${repo}:${tag}\n`),
    pushLayers: (repo, tag, layers, o = {}) => layered(repo, tag, o.arch ?? 'amd64', o.oci ?? true, layers.map(tarOfEntries)),
    async pushList(repo, tag, arches, o = {}) {
      const oci = o.oci ?? true;
      const images: PushedImage[] = [];
      for (const arch of arches) {
        const pushed = await image(repo, `${tag}-${arch}`, arch, oci, `hello from ${repo}:${tag} for ${arch}\n`);
        images.push(pushed);
      }
      const sizes = await Promise.all(images.map(async (i) => Number((await call('HEAD', `/v2/${repo}/manifests/${i.digest}`, undefined, { Accept: oci ? 'application/vnd.oci.image.manifest.v1+json' : 'application/vnd.docker.distribution.manifest.v2+json' })).headers['content-length'])));
      const entries = images.map((i, n) => ({
        mediaType: oci ? 'application/vnd.oci.image.manifest.v1+json' : 'application/vnd.docker.distribution.manifest.v2+json',
        size: sizes[n],
        digest: i.digest,
        platform: { architecture: i.arch, os: 'linux', ...(i.arch === 'arm64' ? { variant: 'v8' } : {}) },
      }));
      const listDigest = await manifest(repo, tag, { schemaVersion: 2, mediaType: oci ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.docker.distribution.manifest.list.v2+json', manifests: entries });
      return { listDigest, images };
    },
    async deleteManifest(repo, digest) {
      const r = await call('DELETE', `/v2/${repo}/manifests/${digest}`);
      if (r.status !== 202) throw new Error(`manifest delete ${r.status}: ${r.body}`);
    },
    async stop() {
      process.removeListener('exit', onExit);
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
