/**
 * Flatpaks for tests: real, tiny ones made with the flatpak CLI (build-export into an ostree
 * repository, build-bundle --oci), pushed with skopeo into a loopback registry
 * (helpers/registry.ts), and a flatpak registry index (flatpak-oci-specs registry-index.md:
 * GET /index/static) on loopback naming them, as registry.fedoraproject.org serves it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { TestRegistry } from './registry.js';

export interface PushedFlatpak {
  ref: string;
  repo: string;
  digest: string;
  imageId: string;
  arch: string;
}

const OCI_ARCH: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64' };

/**
 * Builds the flatpak `ref` (runtime/<id>/<arch>/<branch> or app/…; an app's runtime is `runtime`)
 * with one file, as an OCI image, and pushes it to `registry` as `<repo>:<branch>-<arch>`.
 */
export async function pushFlatpak(registry: TestRegistry, repo: string, ref: string, runtime = 'org.kiln.Platform/x86_64/test'): Promise<PushedFlatpak> {
  const [kind, id, arch, branch] = ref.split('/');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-flatpak-'));
  try {
    const build = path.join(dir, 'build');
    mkdirSync(path.join(build, 'files'), { recursive: true });
    mkdirSync(path.join(build, 'usr'), { recursive: true });
    // what build-finish leaves: an export directory (an app's is checked for)
    mkdirSync(path.join(build, 'export'), { recursive: true });
    const content = kind === 'runtime' ? path.join(build, 'usr') : path.join(build, 'files');
    writeFileSync(path.join(content, 'hello.txt'), `hello from ${ref}\n`);
    writeFileSync(path.join(build, 'metadata'), kind === 'runtime' ? `[Runtime]\nname=${id}\nruntime=${id}/${arch}/${branch}\nsdk=${id}/${arch}/${branch}\n` : `[Application]\nname=${id}\nruntime=${runtime}\n`);
    const repoDir = path.join(dir, 'repo');
    execFileSync('ostree', ['init', '--mode=archive', `--repo=${repoDir}`]);
    const typeFlag = kind === 'runtime' ? ['--runtime'] : [];
    execFileSync('flatpak', ['build-export', ...typeFlag, `--arch=${arch}`, repoDir, build, branch], { stdio: 'ignore' });
    const layout = path.join(dir, 'oci');
    execFileSync('flatpak', ['build-bundle', ...typeFlag, `--arch=${arch}`, '--oci', repoDir, layout, id, branch], { stdio: 'ignore' });
    const target = `docker://${registry.host}/${repo}:${branch}-${arch}`;
    execFileSync('skopeo', ['copy', '-q', ...(registry.tls ? [] : ['--dest-tls-verify=false']), `oci:${layout}`, target], { stdio: 'ignore' });
    const raw = execFileSync('skopeo', ['inspect', '--raw', ...(registry.tls ? [] : ['--tls-verify=false']), target]);
    const manifest = JSON.parse(raw.toString('utf8'));
    return { ref, repo, digest: `sha256:${createHash('sha256').update(raw).digest('hex')}`, imageId: manifest.config.digest, arch };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface FlatpakIndex {
  /** oci+http://127.0.0.1:port: what the config's depsolve.flatpak_registries maps a type's registry to. */
  url: string;
  /** The query strings of the requests served. */
  requests: string[];
  stop(): Promise<void>;
}

/** A registry index listing `images` (repository, digest, org.flatpak.ref label) of `registry`. */
export async function startFlatpakIndex(registry: TestRegistry, images: PushedFlatpak[]): Promise<FlatpakIndex> {
  const requests: string[] = [];
  const byRepo = new Map<string, PushedFlatpak[]>();
  for (const i of images) byRepo.set(i.repo, [...(byRepo.get(i.repo) ?? []), i]);
  const body = JSON.stringify({
    Registry: `${registry.tls ? 'https' : 'http'}://${registry.host}/`,
    Results: [...byRepo].map(([repo, list]) => ({
      Name: repo,
      Images: list.map((i) => ({
        Tags: [`${i.ref.split('/')[3]}-${i.arch}`],
        Digest: i.digest,
        MediaType: 'application/vnd.oci.image.manifest.v1+json',
        OS: 'linux',
        Architecture: OCI_ARCH[i.arch] ?? i.arch,
        Labels: { 'org.flatpak.ref': i.ref },
      })),
      Lists: [],
    })),
  });
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(url.search);
    if (url.pathname !== '/index/static') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `oci+http://127.0.0.1:${port}`,
    requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
