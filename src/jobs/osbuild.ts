import { stat, open, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { KilnError } from '../errors.js';
import type { Logger } from '../log.js';
import { uploadFile, type KojiClient, type UploadResult } from '../koji/index.js';
import {
  resolveImage,
  imageDefinitionOptions,
  runOsbuild,
  contentPipeline,
  osbuildFailure,
  osbuildVersion,
  storeArgs,
  storeOptions,
  type ProgressEvent,
  type RpmInfo,
} from '../osbuild/index.js';
import { diskFullError, isDiskFullError } from '../osbuild/disk.js';
import { buildInputOf, imageFileName, seedOf, type OsbuildArgs } from '../compose/index.js';
import { checkDefinitions } from './definitions.js';
import type { DepsolveJobResult } from './depsolve.js';
import type { JobType } from './types.js';
import { hostOs } from './host.js';
import { generateManifestOffThread } from './cpu-pool.js';
import { builderSources, composeReposDir, serveCommitTarball } from '../ostree/index.js';
import { ostreePlan, type OstreeCommit } from '../osbuild/index.js';
import { uploadToS3, s3UploadOptions } from '../upload/index.js';
import { runOnBuilder } from '../builder/manager.js';
import { coalescing } from './throttle.js';
import { outlastingOutages } from './hub-outage.js';

const LOG_TAIL = 256 * 1024;

export interface UploadedFile {
  name: string;
  size: number;
  sha256: string;
}

export interface OsbuildJobResult {
  arch: string;
  image_type: string;
  host_os: string;
  osbuild_version: string;
  export_name: string;
  export_filename: string;
  image: UploadedFile;
  manifest_file: UploadedFile;
  log_file: UploadedFile;
  /**
   * Where in the compose's Koji upload directory the files are: a directory per image, because
   * the hub records an upload directory's owner on the first upload into it without a lock, so
   * two first uploads into one directory at once can fail ("not owner").
   */
  koji_relpath: string;
  rpms: RpmInfo[];
  buildroot_rpms: RpmInfo[];
  manifest: unknown;
  log: string;
  /** ostree commits: the ref and the commit built (and where a later image of the compose finds it). */
  ostree_commit?: OstreeCommit;
  /** Uploads besides Koji's (upload_options): where the image went. */
  uploads?: { type: 'aws.s3'; bucket: string; key: string; url: string; etag: string; size: number }[];
}

async function tailOf(file: string, bytes: number): Promise<string> {
  try {
    const { size } = await stat(file);
    const fh = await open(file, 'r');
    try {
      const length = Math.min(size, bytes);
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, size - length);
      return buf.toString('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}

function uploaded(r: UploadResult): UploadedFile {
  return { name: r.name, size: r.size, sha256: r.sha256 };
}

/** rpm metadata osbuild reported for a pipeline (the build root's, for the CG buildroot). */
function pipelineRpms(osbuildResult: Record<string, any>, pipeline: string): RpmInfo[] {
  const packages = osbuildResult?.metadata?.[pipeline]?.['org.osbuild.rpm']?.packages;
  return Array.isArray(packages) ? packages : [];
}

const versions = new Map<string, Promise<string>>();
/** osbuild's version, asked once per binary per process (it does not change under a running worker). */
function cachedOsbuildVersion(binary: string): Promise<string> {
  let v = versions.get(binary);
  if (!v) {
    v = osbuildVersion(binary).catch(() => 'unknown');
    versions.set(binary, v);
  }
  return v;
}

/** The job's progress report for an osbuild progress event: "<pipeline>: <stage>" as message. */
export function buildingProgress(e: ProgressEvent): Record<string, unknown> {
  return {
    phase: 'building',
    done: e.done,
    total: e.total,
    ...(e.subprogress ? { subprogress: { done: e.subprogress.done, total: e.subprogress.total } } : {}),
    ...(e.pipeline || e.stage ? { message: [e.pipeline, e.stage].filter(Boolean).join(': ') } : {}),
  };
}

/** An error that carries what the compose's logs must still show (log tail, manifest). */
function withReport(err: unknown, report: Record<string, unknown>): unknown {
  if (err && typeof err === 'object') (err as { result?: unknown }).result = report;
  return err;
}

/** Abort reasons that mean another worker owns the job now: its output directory is not ours to remove. */
const LOST = new Set(['KILN_JOB_STALE_TOKEN', 'KILN_JOB_NOT_RUNNING', 'KILN_JOB_NOT_FOUND']);

/**
 * A build leaves nothing behind: once uploaded, or when it failed, its output directory (the
 * image, the log, the manifest) is removed so the space is back, and the compose's directory
 * too once empty.
 */
async function removeOutputs(outputDir: string, signal: AbortSignal, log: Logger, why: 'uploaded' | 'failed'): Promise<void> {
  if (signal.aborted && LOST.has(String((signal.reason as { code?: unknown } | undefined)?.code))) return;
  try {
    await rm(outputDir, { recursive: true, force: true, maxRetries: 2 });
    await rmdir(path.dirname(outputDir)).catch(() => undefined); // other images of the compose may still be there
    log.info({ outputDir, build: why }, 'output directory removed');
  } catch (err) {
    log.warn({ err, outputDir, build: why }, 'could not remove the output directory');
  }
}

/** ENOSPC/EDQUOT from anywhere in the job → KILN_DISK_FULL naming the state directory; keeps the report. */
async function asDiskFull(err: unknown, stateDir: string): Promise<unknown> {
  if (!isDiskFullError(err) || (err instanceof KilnError && err.code === 'KILN_DISK_FULL')) return err;
  const file = (err as NodeJS.ErrnoException).path;
  const mapped = await diskFullError(err instanceof KilnError ? undefined : err, {
    dir: stateDir,
    ...(file ? { path: file } : {}),
    ...(err instanceof KilnError ? { message: err.message } : {}),
  });
  const report = (err as { result?: unknown }).result;
  return report === undefined ? mapped : withReport(mapped, report as Record<string, unknown>);
}

/**
 * Builds one image: manifest from the image type and the depsolve result, osbuild run in
 * <state>/outputs/<compose>/<image-build>/, then image, manifest and log uploaded (resumably)
 * into the compose's Koji upload directory under their Koji file names.
 */
export const osbuildJob: JobType = {
  defaultConcurrency: 1,
  create: (services) => async ({ job, signal, log, progress }) => {
    const args = job.args as OsbuildArgs;
    const depsolved = job.dependencies[1]?.result as DepsolveJobResult | undefined;
    if (!depsolved?.package_sets) throw new KilnError('KILN_MANIFEST', 'the depsolve result is missing');
    checkDefinitions(args);
    const image = resolveImage(args.distribution, args.arch, args.image_type);
    const manifest = await generateManifestOffThread({
      distribution: args.distribution,
      arch: args.arch,
      imageType: args.image_type,
      packageSets: depsolved.package_sets,
      ...(depsolved.containers ? { containers: depsolved.containers } : {}),
      ...(depsolved.flatpaks ? { flatpaks: depsolved.flatpaks } : {}),
      ...(args.ostree ? { ostree: args.ostree } : {}),
      ...(args.ostree_commit_from !== undefined ? { ostreeFromCompose: true } : {}),
      ...(depsolved.ostree ? { ostreeCommits: depsolved.ostree } : {}),
      ...(depsolved.bootc ? { bootc: depsolved.bootc } : {}),
      ...buildInputOf(args),
      seed: seedOf(args),
      ...(args.size !== undefined ? { size: args.size } : {}),
      definitions: imageDefinitionOptions(),
    });
    const outputDir = path.join(services.outputsDir, args.compose_id, args.image_build_id);
    const uploadSubdir = args.image_build_id;
    const stateDir = services.config.state_dir;
    let result: OsbuildJobResult;
    try {
      result = await build();
    } catch (err) {
      const failure = await asDiskFull(err, stateDir);
      await removeOutputs(outputDir, signal, log, 'failed');
      throw failure;
    }
    // the files are in Koji's upload directory now (and in S3); the log tail and the manifest
    // travel in the result: nothing here is needed again, and images are big
    await removeOutputs(outputDir, signal, log, 'uploaded');
    return result;

    async function build(): Promise<OsbuildJobResult> {
      const reporter = coalescing((p: Record<string, unknown>) => void progress(p).catch(() => undefined), 1_000);
      const report = (p: Record<string, unknown>, force = false) => reporter.report(p, force);
      try {
        return await buildAndUpload(report);
      } finally {
        reporter.stop();
      }
    }

    async function buildAndUpload(report: (p: Record<string, unknown>, force?: boolean) => void): Promise<OsbuildJobResult> {
      const imageName = imageFileName(args.koji, image, args.filename_suffix);
      const cfg = services.config.osbuild;
      // the builder does not report its osbuild's version (yet): recorded as unknown
      const version = cfg.builder_url ? 'unknown' : await cachedOsbuildVersion(cfg.binary);
      log.info({ imageName, osbuildVersion: version }, 'osbuild starting');
      const runOptions = {
        manifest,
        exportPipeline: image.exportPipeline,
        exportFilename: image.filename,
        outputDir,
        imageName,
        rpmPipeline: contentPipeline(image.kind),
        signal,
        timeoutMs: cfg.timeout_seconds * 1000,
        onProgress: (e: ProgressEvent) => report(buildingProgress(e)),
      };
      // with a builder configured, osbuild runs there (the jobsite); otherwise on this host
      const store = storeOptions(manifest, cfg.cache_max_size);
      // commits this compose built and this host serves go to the builder with the manifest
      const sourcesDir = path.join(outputDir, 'builder-sources');
      const sourcePaths = cfg.builder_url ? await builderSources(JSON.parse(manifest), stateDir, sourcesDir, signal) : [];
      const run = await (cfg.builder_url
        ? runOnBuilder({ ...runOptions, url: cfg.builder_url, log, store, ...(sourcePaths.length ? { sources: { dir: sourcesDir, paths: sourcePaths } } : {}) })
        : runOsbuild({
            ...runOptions,
            storeDir: services.osbuildStoreDir,
            extraArgs: storeArgs(store),
            stopGraceMs: cfg.stop_grace_seconds * 1000,
            osbuildPath: cfg.binary,
            logger: log,
            stateDir,
          })
      ).catch(async (err) => {
        throw withReport(err, { manifest: JSON.parse(manifest), log: await tailOf(path.join(outputDir, `${imageName}.osbuild.log`), LOG_TAIL) });
      });
      if (sourcePaths.length) await rm(sourcesDir, { recursive: true, force: true });
      if (!run.success || !run.imagePath) {
        throw withReport(osbuildFailure(run), { manifest: JSON.parse(manifest), log: await tailOf(run.logPath, LOG_TAIL) });
      }

      let ostreeCommit: OstreeCommit | undefined;
      if (image.kind === 'ostree_commit') {
        const ref = ostreePlan(image, args.ostree)!.ref;
        const dest = path.join(composeReposDir(stateDir, args.compose_id), args.image_build_id);
        ostreeCommit = await serveCommitTarball(run.imagePath, ref, dest, signal);
        if (!args.ostree_serve) await rm(dest, { recursive: true, force: true });
        log.info({ ref, checksum: ostreeCommit.checksum, served: args.ostree_serve ?? false }, 'ostree commit built');
      }

      const files = [run.imagePath, run.manifestPath, run.logPath];
      // The image goes on the job's Koji session and the manifest and log beside it on a second
      // one (a session takes one request at a time). They start once the image's first chunk is
      // answered: the hub records an upload directory's owner on the first upload into it,
      // without a lock, and a second first upload could read the record half-written.
      const directory = path.posix.join(args.koji.directory, uploadSubdir);
      // Uploads resume from what the hub holds, so a hub outage is waited out (koji.outage_wait_seconds)
      // and costs a delay, not the built image.
      const uploadAll = async (): Promise<UploadResult[]> => {
        const stop = new AbortController();
        let uploadedFiles = 0;
        const upload = (client: KojiClient, i: number, onChunk?: () => void): Promise<UploadResult> =>
          uploadFile(client, files[i], {
            directory,
            chunkSize: services.config.koji.upload_chunk_bytes,
            log,
            signal: AbortSignal.any([signal, stop.signal]),
            onProgress: ({ offset, size }) => {
              onChunk?.();
              report({ phase: 'uploading', done: uploadedFiles, total: files.length, subprogress: { done: offset, total: size }, message: `uploading ${path.basename(files[i])}` });
            },
          }).then(
            (r: UploadResult) => {
              uploadedFiles++;
              return r;
            },
            (err: unknown) => {
              stop.abort(err);
              throw err;
            },
          );
        let directoryOwned!: () => void;
        const owned = new Promise<void>((resolve) => (directoryOwned = resolve));
        const imageUpload = services.withKoji(args.koji.server, (client) => upload(client, 0, directoryOwned).finally(directoryOwned));
        const besideUpload = services.withKoji(args.koji.server, async (client): Promise<UploadResult[]> => {
          await owned;
          if (stop.signal.aborted) throw stop.signal.reason;
          return [await upload(client, 1), await upload(client, 2)];
        });
        const [imageDone, besideDone] = await Promise.allSettled([imageUpload, besideUpload]);
        // the first failure, not the other upload's abort it caused
        for (const r of [imageDone, besideDone]) if (r.status === 'rejected' && r.reason !== stop.signal.reason) throw r.reason;
        if (imageDone.status === 'rejected') throw imageDone.reason;
        if (besideDone.status === 'rejected') throw besideDone.reason;
        return [imageDone.value, ...besideDone.value];
      };
      const results = await outlastingOutages(services.config.koji.outage_wait_seconds, signal, log, uploadAll);
      let uploads: OsbuildJobResult['uploads'];
      if (args.upload_options) {
        const options = s3UploadOptions(args.upload_options, services.config.s3);
        const s3 = await uploadToS3(run.imagePath, {
          ...options,
          // the Koji file name: unique per build, so a retry overwrites its own object only
          key: `${args.upload_options.key_prefix ?? ''}${imageName}`,
          signal,
          log,
          onProgress: ({ sent, size }) =>
            report({ phase: 'uploading', done: files.length, total: files.length + 1, subprogress: { done: sent, total: size }, message: `uploading to s3://${options.bucket}` }),
        });
        uploads = [{ type: 'aws.s3', bucket: s3.bucket, key: s3.key, url: s3.url, etag: s3.etag, size: s3.size }];
        log.info({ bucket: s3.bucket, key: s3.key, size: s3.size }, 'image uploaded to S3');
      }
      report({ phase: 'uploading', done: files.length, total: files.length }, true);
      const result: OsbuildJobResult = {
        arch: args.arch,
        image_type: image.name,
        host_os: hostOs(),
        osbuild_version: version,
        export_name: image.exportPipeline,
        export_filename: image.filename,
        koji_relpath: uploadSubdir,
        image: uploaded(results[0]),
        manifest_file: uploaded(results[1]),
        log_file: uploaded(results[2]),
        rpms: run.rpms,
        buildroot_rpms: pipelineRpms(run.osbuildResult, 'build'),
        manifest: JSON.parse(manifest),
        log: await tailOf(run.logPath, LOG_TAIL),
        ...(uploads ? { uploads } : {}),
        ...(ostreeCommit ? { ostree_commit: ostreeCommit } : {}),
      };
      log.info({ imageName, size: result.image.size, rpms: result.rpms.length }, 'image built and uploaded');
      return result;
    }
  },
};
