/**
 * Builds the CG import metadata (version 0) for a finished compose, following what
 * osbuild-composer's koji-finalize sends (reference/composer-koji.md §5.4): one buildroot per
 * image build, then per image build its image, its osbuild manifest and its log. Outputs carry
 * the image btype as composer does, in the legacy `extra.image` key: the hub stores an output's
 * extra as the archive's, and Pungi's osbuild phase reads `archive.extra.image.arch` (a
 * `typeinfo.image` key would import as well but leave no `image` key there). Checksums are
 * sha256 unless asked otherwise.
 */
import { InvalidInputError } from '../errors.js';
import type { CgBuildroot, CgImageInfo, CgMetadata, CgOutput, CgRpmComponent } from '../generated/cg-metadata.schema.js';
import { validate } from '../schemas.js';
import { findArchiveType } from './archive-types.js';

export type { CgMetadata, CgOutput, CgBuildroot, CgRpmComponent, CgImageInfo };

/** A file as uploaded: the name it has in the upload directory, its size and checksums (UploadResult fits). */
export interface CGFileFacts {
  name: string;
  size: number;
  sha256: string;
}

/** An RPM as osbuild's org.osbuild.rpm stage metadata reports it. */
export interface RpmFacts {
  name: string;
  version: string;
  release: string;
  epoch?: number | string | null;
  arch: string;
  sigmd5: string;
  sigpgp?: string | null;
  siggpg?: string | null;
}

/** One image build (image type × arch) of the compose. */
export interface CGImageBuildFacts {
  arch: string;
  /** the build host's OS, e.g. "rhel-9.4" */
  hostOs: string;
  /** the build host's arch; default `arch` */
  hostArch?: string;
  osbuildVersion: string;
  /** RPMs of the build pipelines: the buildroot's components */
  buildrootRpms?: RpmFacts[];
  /** RPMs of the payload pipelines: the image's components */
  imageRpms?: RpmFacts[];
  image: CGFileFacts;
  manifest?: CGFileFacts;
  log: CGFileFacts;
  /**
   * The subdirectory of the import's upload directory that holds this image's files (each
   * output's `relpath`); default: the upload directory itself.
   */
  relpath?: string;
  /** output type string for the image; default "image" */
  imageOutputType?: string;
  imageType?: string;
  bootMode?: 'legacy' | 'uefi' | 'hybrid' | 'none';
  /** where osbuild exported the image: {export_filename, export_name} */
  osbuildArtifact?: Record<string, unknown>;
  /** other places the image went, e.g. [{type: 'aws.s3', bucket, key, url}] */
  uploads?: Array<{ type: string; [key: string]: unknown }>;
  tools?: Array<{ name: string; version: string }>;
  /** container.type of the buildroot; default "none" (osbuild ran on the host) */
  containerType?: string;
}

export interface CGComposeFacts {
  name: string;
  version: string;
  release: string;
  epoch?: number | null;
  /** the reservation from CGInitBuild */
  buildId: number;
  /** the Koji task the build belongs to; none (undefined, null or 0): no task_id in the metadata, which is how the hub wants it */
  taskId?: number | null;
  owner?: string;
  source?: string;
  /** epoch seconds or a Date */
  startTime: number | Date;
  endTime: number | Date;
  /** content generator name; default "osbuild", the CG name Koji sites grant */
  contentGenerator?: string;
  /** reported as content_generator.version; default each image build's osbuild version */
  contentGeneratorVersion?: string;
  images: CGImageBuildFacts[];
  /** extra info per manifest name for build.extra.osbuild_manifest (e.g. {info: {osbuild_composer_version}}) */
  manifestInfo?: Record<string, unknown>;
}

const seconds = (t: number | Date) => (t instanceof Date ? t.getTime() / 1000 : t);

function rpmComponents(rpms: RpmFacts[] | undefined, field: string): CgRpmComponent[] {
  const seen = new Set<string>();
  const out: CgRpmComponent[] = [];
  for (const [i, r] of (rpms ?? []).entries()) {
    const epochRaw = r.epoch ?? null;
    const epoch = epochRaw === null || epochRaw === '' ? null : Number(epochRaw);
    if (epoch !== null && !Number.isInteger(epoch)) throw new InvalidInputError(`${field}[${i}].epoch`, `must be an integer or null, got ${JSON.stringify(r.epoch)}`);
    const key = `${r.name}-${epoch ?? 0}:${r.version}-${r.release}.${r.arch}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      type: 'rpm', name: r.name, version: r.version, release: r.release, epoch, arch: r.arch, sigmd5: r.sigmd5,
      signature: r.siggpg || r.sigpgp || null,
    });
  }
  return out;
}

/** Builds and validates the metadata document; throws InvalidInputError naming the bad field. */
export function buildCGMetadata(facts: CGComposeFacts): CgMetadata {
  if (!Array.isArray(facts.images) || facts.images.length === 0) throw new InvalidInputError('images', 'at least one image build is required');
  // Koji verifies CG outputs by the checksum type given: sha256, the one Kiln computes while uploading
  const checksumType = 'sha256';
  const sum = (f: CGFileFacts) => f.sha256;
  const names = new Map<string, string>();
  const claim = (f: CGFileFacts, field: string) => {
    const prior = names.get(f.name);
    if (prior) throw new InvalidInputError(field, `file name ${f.name} is also used by ${prior}`);
    names.set(f.name, field);
  };
  const imageTypeinfo: Record<string, CgImageInfo> = {};
  const manifests: Record<string, Record<string, unknown>> = {};
  const buildroots: CgBuildroot[] = [];
  const outputs: CgOutput[] = [];

  facts.images.forEach((img, i) => {
    const field = `images[${i}]`;
    for (const [key, f] of [['image', img.image], ['log', img.log], ['manifest', img.manifest]] as const) {
      if (f) claim(f, `${field}.${key}`);
    }
    if (!findArchiveType(img.image.name)) {
      throw new InvalidInputError(`${field}.image.name`, `Koji has no archive type for the extension of ${img.image.name} (CGImport would refuse it)`);
    }
    if (img.manifest && !findArchiveType(img.manifest.name)) {
      throw new InvalidInputError(`${field}.manifest.name`, `Koji has no archive type for the extension of ${img.manifest.name}`);
    }
    const info: CgImageInfo = {
      arch: img.arch,
      osbuild_version: img.osbuildVersion,
      ...(img.bootMode ? { boot_mode: img.bootMode } : {}),
      ...(img.imageType ? { image_type: img.imageType } : {}),
      ...(img.osbuildArtifact ? { osbuild_artifact: img.osbuildArtifact } : {}),
      ...(img.uploads?.length ? { uploads: img.uploads } : {}),
    };
    imageTypeinfo[img.image.name] = info;
    buildroots.push({
      id: i,
      host: { os: img.hostOs, arch: img.hostArch ?? img.arch },
      content_generator: { name: facts.contentGenerator ?? 'osbuild', version: facts.contentGeneratorVersion ?? img.osbuildVersion },
      container: { type: img.containerType ?? 'none', arch: img.arch },
      tools: img.tools ?? [],
      components: rpmComponents(img.buildrootRpms, `${field}.buildrootRpms`),
    });
    const where = img.relpath ? { relpath: img.relpath } : {};
    outputs.push({
      buildroot_id: i, ...where, filename: img.image.name, filesize: img.image.size, arch: img.arch,
      checksum: sum(img.image), checksum_type: checksumType, type: img.imageOutputType ?? 'image',
      components: rpmComponents(img.imageRpms, `${field}.imageRpms`),
      extra: { image: info },
    });
    if (img.manifest) {
      manifests[img.manifest.name] = { arch: img.arch, ...(facts.manifestInfo ?? {}) };
      outputs.push({
        buildroot_id: i, ...where, filename: img.manifest.name, filesize: img.manifest.size, arch: img.arch,
        checksum: sum(img.manifest), checksum_type: checksumType, type: 'osbuild-manifest',
        extra: { image: { arch: img.arch } },
      });
    }
    outputs.push({
      buildroot_id: i, ...where, filename: img.log.name, filesize: img.log.size, arch: 'noarch',
      checksum: sum(img.log), checksum_type: checksumType, type: 'log',
    });
  });

  const metadata = {
    metadata_version: 0,
    build: {
      name: facts.name,
      version: facts.version,
      release: facts.release,
      ...(facts.epoch !== undefined ? { epoch: facts.epoch } : {}),
      source: facts.source ?? '',
      start_time: seconds(facts.startTime),
      end_time: seconds(facts.endTime),
      ...(facts.owner ? { owner: facts.owner } : {}),
      build_id: facts.buildId,
      ...(facts.taskId ? { task_id: facts.taskId } : {}),
      extra: {
        typeinfo: { image: imageTypeinfo },
        ...(Object.keys(manifests).length ? { osbuild_manifest: manifests } : {}),
      },
    },
    buildroots,
    output: outputs,
  };
  return validateCGMetadata(metadata);
}

/** Checks a metadata document against schemas/cg-metadata.schema.json. */
export function validateCGMetadata(metadata: unknown): CgMetadata {
  return validate<CgMetadata>('cg-metadata.schema', metadata, 'metadata');
}
