/**
 * The content-generator calls and the read calls Kiln makes, typed. A write whose reply was
 * lost and whose retry met RetryError (the hub committed the first try) is settled by reading
 * the build back where that can prove the outcome (CGImport, CGRefundBuild).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidInputError } from '../errors.js';
import type { KojiClient } from './client.js';
import { KojiFault, KojiFaultCode, KojiRetryError } from './errors.js';
import { validateCGMetadata, type CgMetadata } from './metadata.js';
import { uploadFile } from './upload.js';

export const BuildState = { BUILDING: 0, COMPLETE: 1, DELETED: 2, FAILED: 3, CANCELED: 4 } as const;
export type BuildStateName = keyof typeof BuildState;

export interface KojiBuildInfo {
  id: number;
  build_id: number;
  name: string;
  version: string;
  release: string;
  nvr: string;
  epoch: number | null;
  state: number;
  owner_name?: string;
  /** when the build row was made (seconds since the epoch) */
  creation_ts?: number;
  task_id: number | null;
  cg_id: number | null;
  cg_name: string | null;
  extra: Record<string, unknown> | null;
  [key: string]: unknown;
}

export interface KojiArchiveInfo {
  id: number;
  build_id: number;
  buildroot_id: number | null;
  filename: string;
  size: number;
  checksum: string;
  checksum_type: number;
  type_name: string;
  btype: string;
  extra: Record<string, unknown> | null;
  arch?: string;
  [key: string]: unknown;
}

export interface Reservation {
  build_id: number;
  token: string;
}

export interface NVR {
  name: string;
  version: string;
  release: string;
  epoch?: number | null;
}

function checkNVR(nvr: NVR): void {
  if (!nvr || typeof nvr.name !== 'string' || !/^[A-Za-z0-9/_.+-]+$/.test(nvr.name)) throw new InvalidInputError('name', 'must match [A-Za-z0-9/_.+-]+');
  for (const f of ['version', 'release'] as const) {
    if (typeof nvr[f] !== 'string' || nvr[f] === '') throw new InvalidInputError(f, 'must be a non-empty string');
    if (nvr[f].includes('-')) throw new InvalidInputError(f, `must not contain '-' (Koji splits NVRs on it): ${nvr[f]}`);
  }
}

/** CGInitBuild: reserves the NVR; the token is needed for CGImport and CGRefundBuild. */
export async function cgInitBuild(client: KojiClient, cg: string, nvr: NVR): Promise<Reservation> {
  checkNVR(nvr);
  const data: Record<string, unknown> = { name: nvr.name, version: nvr.version, release: nvr.release };
  if (nvr.epoch !== undefined) data.epoch = nvr.epoch;
  try {
    const r = await client.call<Reservation>('CGInitBuild', [cg, data]);
    return { build_id: Number(r.build_id), token: String(r.token) };
  } catch (err) {
    if (err instanceof KojiRetryError) {
      // The token exists only in the lost reply: the reservation cannot be used or refunded,
      // only canceled by its owner (cancelBuild).
      throw new KojiRetryError(`CGInitBuild of ${nvr.name}-${nvr.version}-${nvr.release} committed but its reply was lost; the reservation's token is unknown`, {
        method: 'CGInitBuild',
        cause: err,
        details: { committed: true },
      });
    }
    throw err;
  }
}

export interface CGImportOptions {
  /**
   * Documents bigger than this are uploaded as `metadata.json` into the upload directory and
   * passed by name: the hub refuses XML-RPC requests over MaxRequestLength (4 MiB by default).
   * Default 3 MiB.
   */
  inlineLimit?: number;
  /** re-tries of a "Corrupted upload" fault (hub replicas lagging on shared storage), as composer does; default 10 */
  corruptedUploadRetries?: number;
  corruptedUploadDelayMs?: number;
}

/** CGImport: validates the document, imports it, returns the COMPLETE build. */
export async function cgImport(client: KojiClient, metadata: CgMetadata, directory: string, token: string, options: CGImportOptions = {}): Promise<KojiBuildInfo> {
  validateCGMetadata(metadata);
  if (typeof directory !== 'string' || directory === '') throw new InvalidInputError('directory', 'must be the upload directory');
  const retries = options.corruptedUploadRetries ?? 10;
  // A JSON string keeps every number exact whatever its size (XML-RPC ints are 32/64-bit).
  let doc = JSON.stringify(metadata);
  if (Buffer.byteLength(doc) > (options.inlineLimit ?? 3 * 1024 * 1024)) {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'kiln-cg-metadata-'));
    try {
      await writeFile(path.join(tmp, 'metadata.json'), doc);
      await uploadFile(client, path.join(tmp, 'metadata.json'), { directory, resume: false });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    doc = 'metadata.json';
  }
  for (let attempt = 0; ; attempt++) {
    try {
      const info = await client.call<KojiBuildInfo>('CGImport', [doc, directory, token]);
      return info;
    } catch (err) {
      if (err instanceof KojiRetryError && metadata.build.build_id !== undefined) {
        const info = await getBuild(client, metadata.build.build_id);
        const b = metadata.build;
        if (info && info.state === BuildState.COMPLETE && info.name === b.name && info.version === b.version && info.release === b.release) return info;
      }
      if (err instanceof KojiFault && err.faultCode === KojiFaultCode.GenericError && err.faultString.includes('Corrupted upload') && attempt < retries) {
        await sleep(options.corruptedUploadDelayMs ?? 1000);
        continue;
      }
      throw err;
    }
  }
}

/** CGRefundBuild: gives the reservation back; the build ends FAILED or CANCELED and its NVR can be used again. */
export async function cgRefundBuild(client: KojiClient, cg: string, buildId: number, token: string, state: 'FAILED' | 'CANCELED' = 'FAILED'): Promise<void> {
  if (state !== 'FAILED' && state !== 'CANCELED') throw new InvalidInputError('state', `must be FAILED or CANCELED, got ${String(state)}`);
  try {
    await client.call('CGRefundBuild', [cg, buildId, token, BuildState[state]]);
  } catch (err) {
    if (err instanceof KojiRetryError) {
      const info = await getBuild(client, buildId);
      if (info && info.state === BuildState[state]) return;
    }
    throw err;
  }
}

/**
 * cancelBuild: the build's owner (the CG user that reserved it) moves a BUILDING build to
 * CANCELED, which also drops its reservation, so the NVR can be reserved again. It is how a
 * reservation whose token was lost is cleared without a Koji admin. False when the build is
 * missing or no longer BUILDING.
 */
export async function cancelBuild(client: KojiClient, buildId: number): Promise<boolean> {
  try {
    return Boolean(await client.call<boolean>('cancelBuild', [buildId]));
  } catch (err) {
    if (err instanceof KojiRetryError) return (await getBuild(client, buildId))?.state === BuildState.CANCELED;
    throw err;
  }
}

export async function getBuild(client: KojiClient, build: number | string | NVR, strict = false): Promise<KojiBuildInfo | null> {
  return client.call<KojiBuildInfo | null>('getBuild', [build], strict ? { strict: true } : undefined);
}

export async function listArchives(client: KojiClient, filter: { buildID?: number; type?: string; filename?: string } = {}): Promise<KojiArchiveInfo[]> {
  return client.call<KojiArchiveInfo[]>('listArchives', [], filter);
}

export async function getTaskInfo(client: KojiClient, taskId: number, options: { request?: boolean; strict?: boolean } = {}): Promise<Record<string, unknown> | null> {
  return client.call('getTaskInfo', [taskId], options);
}

export async function getBuildTarget(client: KojiClient, target: string | number, strict = false): Promise<{ id: number; name: string; build_tag: number; build_tag_name: string; dest_tag: number; dest_tag_name: string } | null> {
  return client.call('getBuildTarget', [target], strict ? { strict: true } : undefined);
}

/** tagBuild: queues a tag task on the hub; returns its task id. */
export async function tagBuild(client: KojiClient, tag: string | number, build: number | string, options: { force?: boolean } = {}): Promise<number> {
  return client.call<number>('tagBuild', [tag, build], options.force ? { force: true } : undefined);
}

export async function getNextRelease(client: KojiClient, nv: { name: string; version: string }): Promise<string> {
  return client.call<string>('getNextRelease', [{ name: nv.name, version: nv.version }]);
}

/** checkUpload: what the hub holds at directory/name, or null. */
export async function checkUpload(client: KojiClient, directory: string, name: string, verify: 'adler32' | 'md5' | 'sha256' | null = null): Promise<{ size: number; mtime: number; hexdigest?: string; sumlength?: number } | null> {
  return client.call('checkUpload', [directory, name, verify]);
}
