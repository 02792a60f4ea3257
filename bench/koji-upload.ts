/**
 * Upload benchmark: a generated file uploaded to the dev hub (in its own process) by Kiln's
 * client (4 MiB chunks by default, adler32 per chunk, sha256 of the file) next to a plain streamed
 * HTTP POST of the same file in one request to the same hub endpoint (no chunking, no hashing
 * on the client), by Node (the peer the target is set against) and by curl. Best of `--rounds` (default 3) alternating runs each. Prints MB/s for both, the ratio (target >= 0.9),
 * the CPU time of uploader and hub, and Kiln's peak RSS.
 *
 *   npx tsx bench/koji-upload.ts [--size-mib 1024] [--chunk-mib 16] [--rounds 3]
 *       [--hub URL --user U --password P [--hub-pid PID] [--hub-work DIR]]
 *
 * With --hub the same runs go to that hub instead of a dev hub of its own: the real Koji hub
 * (see ../shared/real-peers/), whose per-request cost (session lookup in Postgres, Python) the
 * dev hub does not have. --hub-pid gives the hub's CPU time, --hub-work (its topdir's work/)
 * lets each run's upload be removed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_CHUNK_SIZE, KojiClient } from '../src/koji/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** CPU seconds (user + system, all threads) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 1/100 s
}

function startHubProcess(dir: string): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/devhub/cli.ts'), '--dir', dir, '--user', 'bench:bench', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n')[0];
      if (out.includes('\n')) {
        const { url } = JSON.parse(line);
        resolve({
          url,
          pid: child.pid!,
          stop: () =>
            new Promise((r) => {
              child.once('exit', () => r());
              child.kill('SIGTERM');
            }),
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`dev hub exited with ${code}`)));
  });
}

interface Login { user: string; password: string }

function runKilnUpload(url: string, login: Login, file: string, directory: string, chunkSize: number): Promise<{ seconds: number; cpuSeconds: number; peakRss: number; size: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'test/helpers/koji-upload-child.ts'), url, login.user, login.password, file, directory, String(chunkSize)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`kiln upload exited with ${code}`)))),
  );
}

/** The peer: one POST streaming the whole file into the same upload endpoint, with a logged-in session. */
async function plainPost(url: string, login: Login, file: string, directory: string): Promise<{ seconds: number; cpuSeconds: number }> {
  const client = new KojiClient({ url, auth: { type: 'password', ...login } });
  const session = await client.login();
  const size = (await stat(file)).size;
  const target = new URL(url);
  target.search = new URLSearchParams({ filename: path.basename(file), filepath: directory, offset: '0', fileverify: 'adler32', overwrite: '1' }).toString();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const req = http.request(target, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(size),
        'Koji-Session-Id': String(session.id),
        'Koji-Session-Key': session.key,
        'Koji-Session-Callnum': '0',
      },
    }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    createReadStream(file, { highWaterMark: 1 << 20 }).pipe(req);
  });
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await client.close();
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/**
 * The second peer: curl streaming the file in one POST (`-T`, no Expect: 100-continue), a native
 * client with none of Node's costs. Its CPU time comes from the shell's `times`.
 */
async function curlPost(url: string, login: Login, file: string, directory: string): Promise<{ seconds: number; cpuSeconds: number }> {
  const client = new KojiClient({ url, auth: { type: 'password', ...login } });
  const session = await client.login();
  const target = new URL(url);
  target.search = new URLSearchParams({ filename: path.basename(file), filepath: directory, offset: '0', fileverify: 'adler32', overwrite: '1' }).toString();
  const args = ['-sS', '--fail', '-o', '/dev/null', '-X', 'POST', '-T', file, '-H', 'Expect:', '-H', 'Content-Type: application/octet-stream',
    '-H', `Koji-Session-Id: ${session.id}`, '-H', `Koji-Session-Key: ${session.key}`, '-H', 'Koji-Session-Callnum: 0', target.href];
  const started = performance.now();
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('bash', ['-c', 'curl "$@" && times', 'curl', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`curl exited with ${code}`))));
  });
  const seconds = (performance.now() - started) / 1000;
  await client.close();
  // `times`: the shell's user and system time, then its children's ("0m0.123s 0m0.456s")
  const children = out.trim().split('\n').at(-1)!.match(/(\d+)m([\d.]+)s/g)!.map((t) => { const [m, sec] = t.slice(0, -1).split('m'); return Number(m) * 60 + Number(sec); });
  return { seconds, cpuSeconds: children[0] + children[1] };
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<{ kilnMBps: number; plainMBps: number; curlMBps: number; ratio: number; curlRatio: number; kilnPeakRssMiB: number }> {
  const { values } = parseArgs({ args: argv, options: { 'size-mib': { type: 'string', default: '1024' }, 'chunk-mib': { type: 'string', default: String(DEFAULT_CHUNK_SIZE / 2 ** 20) }, rounds: { type: 'string', default: '3' },
    hub: { type: 'string' }, user: { type: 'string' }, password: { type: 'string' }, 'hub-pid': { type: 'string' }, 'hub-work': { type: 'string' },
  } });
  if (values.hub && (!values.user || !values.password)) throw new Error('--hub needs --user and --password');
  const rounds = Number(values.rounds);
  const sizeMiB = Number(values['size-mib']);
  const chunk = Number(values['chunk-mib']) * 2 ** 20;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'kiln-bench-upload-'));
  const external = values.hub !== undefined;
  const hub = external
    ? { url: values.hub!, pid: values['hub-pid'] ? Number(values['hub-pid']) : undefined, stop: async () => {} }
    : await startHubProcess(path.join(tmp, 'hub'));
  const login: Login = external ? { user: values.user!, password: values.password! } : { user: 'bench', password: 'bench' };
  const hubWork = external ? values['hub-work'] : path.join(tmp, 'hub', 'work');
  const hubCpu = () => (hub.pid === undefined ? NaN : cpuSeconds(hub.pid));
  const stamp = Date.now().toString(36);
  try {
    const file = path.join(tmp, 'bench.raw');
    // Non-zero content written once; the page cache serves both runs alike.
    const fh = await open(file, 'w');
    const block = Buffer.alloc(2 ** 20);
    for (let i = 0; i < block.length; i++) block[i] = (i * 31 + 7) & 0xff;
    for (let i = 0; i < sizeMiB; i++) {
      block.writeUInt32LE(i, 0);
      await fh.write(block);
    }
    await fh.close();
    const bytes = sizeMiB * 2 ** 20;

    // Each run starts with no dirty pages: otherwise the second run pays for the first one's
    // writeback (the kernel throttles writers once dirty memory passes its limit).
    const settle = async (dir: string) => {
      if (hubWork) await rm(path.join(hubWork, dir), { recursive: true, force: true });
      execFileSync('sync');
    };
    if (!external) await settle('');
    // Best of `rounds` alternating runs each; CPU seconds of the uploading process (all threads)
    // and of the hub process during that run say where the time goes.
    type Run = { seconds: number; cpuSeconds: number; hubCpuSeconds: number; peakRss: number };
    let plain: Run = { seconds: Infinity, cpuSeconds: 0, hubCpuSeconds: 0, peakRss: 0 };
    let kiln: Run = { ...plain };
    let curl: Run = { ...plain };
    for (let round = 0; round < rounds; round++) {
      let hubBefore = hubCpu();
      const p = await plainPost(hub.url, login, file, `bench/${stamp}/plain${round}`);
      if (p.seconds < plain.seconds) plain = { ...p, hubCpuSeconds: hubCpu() - hubBefore, peakRss: 0 };
      await settle(`bench/${stamp}/plain${round}`);
      hubBefore = hubCpu();
      const c = await curlPost(hub.url, login, file, `bench/${stamp}/curl${round}`);
      if (c.seconds < curl.seconds) curl = { ...c, hubCpuSeconds: hubCpu() - hubBefore, peakRss: 0 };
      await settle(`bench/${stamp}/curl${round}`);
      hubBefore = hubCpu();
      const k = await runKilnUpload(hub.url, login, file, `bench/${stamp}/kiln${round}`, chunk);
      if (k.seconds < kiln.seconds) kiln = { ...k, hubCpuSeconds: hubCpu() - hubBefore };
      await settle(`bench/${stamp}/kiln${round}`);
    }
    const plainMBps = bytes / 1e6 / plain.seconds;
    const kilnMBps = bytes / 1e6 / kiln.seconds;
    const curlMBps = bytes / 1e6 / curl.seconds;
    const result = { kilnMBps, plainMBps, curlMBps, ratio: kilnMBps / plainMBps, curlRatio: kilnMBps / curlMBps, kilnPeakRssMiB: kiln.peakRss / 2 ** 20 };
    const cpu = (r: Run) => `CPU: uploader ${r.cpuSeconds.toFixed(2)} s, hub ${r.hubCpuSeconds.toFixed(2)} s`;
    console.log(`koji-upload: ${external ? hub.url : 'dev hub'}, ${sizeMiB} MiB file, ${chunk / 2 ** 20} MiB chunks, ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log(`  plain streamed POST : ${plainMBps.toFixed(1)} MB/s (${plain.seconds.toFixed(2)} s; ${cpu(plain)})`);
    console.log(`  curl -T POST        : ${curlMBps.toFixed(1)} MB/s (${curl.seconds.toFixed(2)} s; ${cpu(curl)})`);
    console.log(`  kiln uploadFile     : ${kilnMBps.toFixed(1)} MB/s (${kiln.seconds.toFixed(2)} s; ${cpu(kiln)}), peak RSS ${result.kilnPeakRssMiB.toFixed(0)} MiB`);
    console.log(`  ratio kiln/plain    : ${result.ratio.toFixed(2)} (target >= 0.9)`);
    console.log(`  ratio kiln/curl     : ${result.curlRatio.toFixed(2)}`);
    return result;
  } finally {
    await hub.stop();
    await rm(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main();
