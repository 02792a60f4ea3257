/**
 * Memory stays flat: a child process uploads a 300 MiB sparse file to s3rver (16 MiB parts,
 * 4 in flight) and its peak RSS is compared with the same child uploading a 60 MiB file.
 * Measured here (node 20): 6 MiB file (one PutObject) 107 MiB, 60 MiB 141 MiB, 300 MiB
 * 141-143 MiB with 1, 4 or 8 parts in flight: a fixed ~35 MiB of garbage not yet collected
 * over the single-put baseline, nothing that grows with the file. Holding the file would add
 * 240 MiB to the difference; holding the parts in flight (4 × 16 MiB) would break the bound.
 * The child takes its credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the SDK's
 * standard chain), the path a worker without s3.credentials_file takes.
 */
import test from 'ava';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnTs } from './helpers/process.js';
import { S3RVER_CREDENTIALS, startS3rver } from './helpers/s3.js';

const MiB = 1024 * 1024;

test('peak RSS of an upload of a 300 MiB file stays at that of a 60 MiB one', async (t) => {
  t.timeout(90_000);
  const s3 = await startS3rver(['big']);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-s3-mem-'));
  t.teardown(async () => {
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const small = path.join(dir, 'small.raw');
  writeFileSync(small, Buffer.alloc(60 * MiB, 1));
  const big = path.join(dir, 'big.raw');
  writeFileSync(big, '');
  truncateSync(big, 300 * MiB);

  const env = {
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PROFILE: '',
    NODE_NO_WARNINGS: '1',
  };
  const run = async (file: string) => {
    const child = spawnTs('test/helpers/s3.ts', env, ['upload', JSON.stringify({ file, endpoint: s3.endpoint, bucket: 'big', partSize: 16 * MiB, concurrency: 4 })]);
    const { code } = await child.exited;
    t.is(code, 0, child.output());
    return JSON.parse(child.output().trim().split('\n').at(-1)!) as { size: number; parts: number; peakRss: number; seconds: number };
  };
  const base = await run(small);
  const result = await run(big);
  t.is(base.parts, 4);
  t.is(result.size, 300 * MiB);
  t.is(result.parts, 19);
  const growth = result.peakRss - base.peakRss;
  t.log(`peak RSS: 60 MiB file ${(base.peakRss / MiB).toFixed(0)} MiB, 300 MiB file ${(result.peakRss / MiB).toFixed(0)} MiB (+${(growth / MiB).toFixed(1)} MiB); ${(300 / result.seconds).toFixed(0)} MiB/s to s3rver`);
  t.true(growth < 24 * MiB, `peak RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
  t.true(result.peakRss < 200 * MiB, `peak RSS ${(result.peakRss / MiB).toFixed(1)} MiB`);
});
