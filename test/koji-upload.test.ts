import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { hubFixture, USER, PASSWORD } from './helpers/koji-hub.js';
import { DEFAULT_CHUNK_SIZE, uploadFile } from '../src/koji/index.js';

const CHILD = path.resolve('test/helpers/koji-upload-child.ts');

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

function uploader(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done, stderr: () => stderr };
}

test('a 1 GiB sparse file uploads from a child process with peak RSS under 150 MiB', async (t) => {
  t.timeout(120_000);
  const f = await hubFixture();
  t.teardown(() => f.close());
  const file = path.join(f.tmp, 'big.raw');
  const fh = await open(file, 'w');
  await fh.truncate(1024 ** 3);
  await fh.close();
  const { done } = uploader([f.hub.url, USER, PASSWORD, file, 'kiln/big']);
  const r = await done;
  t.is(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  t.is(result.size, 1024 ** 3);
  t.is(result.chunks, 1024 ** 3 / DEFAULT_CHUNK_SIZE);
  t.log(`1 GiB upload: ${result.seconds.toFixed(1)} s, ${(1024 / result.seconds).toFixed(0)} MiB/s, peak RSS ${(result.peakRss / 2 ** 20).toFixed(0)} MiB`);
  t.true(result.peakRss < 150 * 2 ** 20, `peak RSS ${result.peakRss}`);
  const stored = path.join(f.hub.dir, 'work', 'kiln/big', 'big.raw');
  t.is((await stat(stored)).size, 1024 ** 3);
  t.is(await sha256File(stored), result.sha256);
});

test('SIGKILL mid-file: a new process resumes at the verified offset and the file checksum matches', async (t) => {
  t.timeout(120_000);
  const f = await hubFixture();
  t.teardown(() => f.close());
  const size = 192 * 2 ** 20 + 12345;
  const file = path.join(f.tmp, 'image.qcow2');
  // Non-repeating content so a wrong resume offset cannot go unnoticed.
  const fh = await open(file, 'w');
  const block = Buffer.alloc(2 ** 20);
  for (let i = 0, off = 0; off < size; i++) {
    for (let j = 0; j < block.length; j += 4) block.writeUInt32LE((i * 262144 + j / 4) >>> 0, j);
    const n = Math.min(block.length, size - off);
    await fh.write(block, 0, n, off);
    off += n;
  }
  await fh.close();
  const expected = await sha256File(file);

  const first = uploader([f.hub.url, USER, PASSWORD, file, 'kiln/resume'], { KILN_TEST_PROGRESS: '1' });
  await new Promise<void>((resolve) => {
    first.child.stderr.on('data', () => {
      const m = /progress (\d+)\n$/.exec(first.stderr());
      if (m && Number(m[1]) >= 48 * 2 ** 20) {
        first.child.kill('SIGKILL');
        resolve();
      }
    });
  });
  const killed = await first.done;
  t.is(killed.signal, 'SIGKILL');
  const stored = path.join(f.hub.dir, 'work', 'kiln/resume', 'image.qcow2');
  const heldAtKill = (await stat(stored)).size;
  t.true(heldAtKill >= 48 * 2 ** 20 && heldAtKill < size, `hub held ${heldAtKill}`);

  const second = await uploader([f.hub.url, USER, PASSWORD, file, 'kiln/resume']).done;
  t.is(second.code, 0, second.stderr);
  const result = JSON.parse(second.stdout);
  t.true(result.resumedFrom >= 48 * 2 ** 20, `resumed from ${result.resumedFrom}`);
  t.is(result.bytesSent, size - result.resumedFrom, 'only the rest was sent');
  // The hub saw the new session's first chunk at the resume offset, not at 0.
  const sessions = [...new Set(f.hub.hub.uploads.map((u) => u.sessionId))];
  t.is(sessions.length, 2);
  const firstOfSecond = f.hub.hub.uploads.find((u) => u.sessionId === sessions[1])!;
  t.is(firstOfSecond.offset, result.resumedFrom);
  t.is(result.sha256, expected);
  t.is(await sha256File(stored), expected);
  t.is((await stat(stored)).size, size);
});

test('resume: a complete file is not sent again; a different prefix on the hub starts over', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const content = Buffer.alloc(50_000, 1);
  const file = path.join(f.tmp, 'r.qcow2');
  await (await import('node:fs/promises')).writeFile(file, content);
  const first = await uploadFile(client, file, { directory: 'r', chunkSize: 8192 });
  const again = await uploadFile(client, file, { directory: 'r', chunkSize: 8192 });
  t.is(again.resumedFrom, content.length);
  t.is(again.bytesSent, 0);
  t.is(again.sha256, first.sha256);
  // The hub holds 20 kB of other bytes: the upload must not trust them.
  const stored = path.join(f.hub.dir, 'work', 'r', 'r.qcow2');
  await (await import('node:fs/promises')).writeFile(stored, Buffer.alloc(20_000, 2));
  const fresh = await uploadFile(client, file, { directory: 'r', chunkSize: 8192 });
  t.is(fresh.resumedFrom, 0);
  t.is(fresh.bytesSent, content.length);
  t.is(fresh.sha256, first.sha256);
  t.true((await (await import('node:fs/promises')).readFile(stored)).equals(content));
});

test('pipelined chunks: sizes around chunk boundaries arrive intact with the right sums, corrupted chunks are re-sent', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const chunk = 64 * 1024;
  const { readFile } = await import('node:fs/promises');
  // above 256 KiB the chunks are hashed on worker threads; below, inline
  for (const size of [0, 1, chunk - 1, chunk, chunk + 1, 5 * chunk, 17 * chunk + 3]) {
    const content = Buffer.alloc(size);
    for (let i = 0; i < size; i++) content[i] = (i * 7 + size) & 0xff;
    const file = await f.file(`p${size}.raw`, content);
    const r = await uploadFile(client, file, { directory: 'pipe', chunkSize: chunk });
    t.is(r.sha256, createHash('sha256').update(content).digest('hex'), `size ${size}`);
    t.is(r.chunks, Math.max(1, Math.ceil(size / chunk)), `size ${size}`);
    t.true((await readFile(path.join(f.hub.dir, 'work', 'pipe', `p${size}.raw`))).equals(content), `size ${size}`);
  }
  // a third of the chunks stored with a flipped byte: each is re-sent from its buffer, never a later one's
  const content = Buffer.alloc(40 * chunk + 11);
  for (let i = 0; i < content.length; i++) content[i] = (i * 13) & 0xff;
  const file = await f.file('corrupt.raw', content);
  f.hub.setFaults({ rate: 0.33, kinds: ['corrupt-chunk'], methods: ['upload'], seed: 7 });
  const r = await uploadFile(client, file, { directory: 'pipe', chunkSize: chunk, chunkRetries: 10 });
  f.hub.setFaults(null);
  t.true(r.chunkRetries > 5, `${r.chunkRetries} chunks re-sent`);
  t.is(r.sha256, createHash('sha256').update(content).digest('hex'));
  t.true((await readFile(path.join(f.hub.dir, 'work', 'pipe', 'corrupt.raw'))).equals(content));
});

test('an aborted upload stops before its next chunk; the next try resumes where the hub is', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const chunk = 64 * 1024;
  const content = Buffer.alloc(20 * chunk, 5);
  const file = await f.file('abort.raw', content);
  const controller = new AbortController();
  const err = await t.throwsAsync(
    uploadFile(client, file, {
      directory: 'abort',
      chunkSize: chunk,
      signal: controller.signal,
      onProgress: ({ offset }) => offset >= 5 * chunk && controller.abort(new Error('job canceled')),
    }),
  );
  t.is(err!.message, 'job canceled');
  const { stat: statFile } = await import('node:fs/promises');
  t.is((await statFile(path.join(f.hub.dir, 'work', 'abort', 'abort.raw'))).size, 5 * chunk);
  const again = await uploadFile(client, file, { directory: 'abort', chunkSize: chunk });
  t.is(again.resumedFrom, 5 * chunk);
  t.is(again.sha256, createHash('sha256').update(content).digest('hex'));
});

test("the dev hub reads a directory's owner record as the real hub does: half-written, the upload fails with ValueError", async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const { mkdir, writeFile } = await import('node:fs/promises');
  // what a second first upload sees while the first one has created .user but not written it
  await mkdir(path.join(f.hub.dir, 'work', 'half'), { recursive: true });
  await writeFile(path.join(f.hub.dir, 'work', 'half', '.user'), '');
  const file = await f.file('h.raw', Buffer.alloc(1000, 3));
  const err = await t.throwsAsync(uploadFile(f.client(), file, { directory: 'half', resume: false }));
  t.regex(err!.message, /Fault \(1\): <class 'ValueError'>: invalid literal for int\(\) with base 10: ''/);
});

test('chunks bigger than a piece are streamed: a try cut mid-body, a 503 or a corrupted chunk is sent again from the file', async (t) => {
  t.timeout(120_000);
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const { readFile } = await import('node:fs/promises');
  const chunk = 5 * 2 ** 20 + 3; // pieces are 2 MiB: each chunk ends inside a piece-sized step
  const content = Buffer.alloc(23 * 2 ** 20 + 5);
  for (let i = 0; i + 4 <= content.length; i += 4) content.writeUInt32LE(i >>> 2, i);
  const file = await f.file('streamed.raw', content);
  const retriesBefore = client.stats.retries;
  f.hub.setFaults({ rate: 0.5, kinds: ['reset', 'http503', 'corrupt-chunk'], methods: ['upload'], seed: 3 });
  const r = await uploadFile(client, file, { directory: 'stream', chunkSize: chunk, chunkRetries: 10 });
  f.hub.setFaults(null);
  const faults = f.hub.hub.calls.filter((c) => c.method === 'upload' && c.fault).map((c) => c.fault);
  t.true(faults.includes('reset') && faults.includes('corrupt-chunk'), `faults: ${faults.join(' ')}`);
  t.true(client.stats.retries > retriesBefore, 'tries cut by the hub were sent again');
  t.is(r.chunks - r.chunkRetries, Math.ceil(content.length / chunk));
  t.is(r.sha256, createHash('sha256').update(content).digest('hex'));
  t.true((await readFile(path.join(f.hub.dir, 'work', 'stream', 'streamed.raw'))).equals(content));
});

test('a file that shrinks while it uploads fails the upload at once, naming the file; the hub request is not retried', async (t) => {
  const f = await hubFixture();
  t.teardown(() => f.close());
  const client = f.client();
  const { truncate } = await import('node:fs/promises');
  const chunk = 3 * 2 ** 20;
  const file = await f.file('shrinks.raw', Buffer.alloc(40 * 2 ** 20, 9));
  const retriesBefore = client.stats.retries;
  const err = await t.throwsAsync(
    uploadFile(client, file, { directory: 'shrink', chunkSize: chunk, onProgress: ({ offset }) => void (offset === chunk && truncate(file, 2 * chunk)) }),
  );
  t.regex(err!.message, /shrinks\.raw shrank to \d+ bytes while uploading \(was 41943040\)/);
  t.is(client.stats.retries, retriesBefore);
});
