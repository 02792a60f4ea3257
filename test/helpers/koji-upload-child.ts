/**
 * A separate process that uploads one file to a hub with Kiln's client and prints the result
 * as JSON with its peak RSS (VmHWM) and the CPU time of the upload (all threads). Used by the memory and kill/resume tests and the bench.
 * argv: <hub url> <user> <password> <file> <directory> [chunkSize]
 */
import { readFileSync } from 'node:fs';
import { KojiClient, uploadFile } from '../../src/koji/index.js';

export function peakRssBytes(pid: number | 'self' = 'self'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

const [url, user, password, file, directory, chunkSize] = process.argv.slice(2);
const client = new KojiClient({
  url,
  auth: { type: 'password', user, password },
  retry: { attempts: 8, baseDelayMs: 20, maxDelayMs: 500 },
  timeoutMs: 60_000,
});
// Logged in before the clock starts, as the benchmark's plain POST is.
await client.login();
const cpuBefore = process.cpuUsage();
const started = performance.now();
const result = await uploadFile(client, file, {
  directory,
  ...(chunkSize ? { chunkSize: Number(chunkSize) } : {}),
  onProgress: (p) => {
    if (process.env.KILN_TEST_PROGRESS) process.stderr.write(`progress ${p.offset}\n`);
  },
});
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
await client.close();
process.stdout.write(JSON.stringify({ ...result, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRss: peakRssBytes() }) + '\n');
