/**
 * The glue between an image request and the two jobs that build it: the depsolve job turns the
 * image type's package sets and the request's repositories into one DepsolveRequest per
 * package set (`depsolveRequestsFor`), and the osbuild job turns the stored results back into
 * the packages that `generateManifest` takes (`packagesFromDepsolve`).
 */
import { InvalidInputError, KilnError } from '../errors.js';
import { DepsolveError } from '../depsolve/index.js';
import type { DepsolveRepoConfig, DepsolveRequest, DepsolveResult, DepsolveTransactionRequest } from '../depsolve/index.js';
import type { ResolvedImage } from './definitions/index.js';
import type { PackageRequests } from './manifest.js';
import type { ImageModule } from './stages/modules.js';
import type { ManifestPackage, PipelinePackages } from './stages/rpm.js';

/**
 * One entry of an image request's `repositories`, as osbuild-composer's cloud API takes it
 * (and koji-osbuild's builder plugin sends it). URLs are used verbatim: `$arch` and the like
 * are substituted by the builder plugin before the request reaches Kiln.
 */
export interface RepoInput {
  baseurl?: string;
  metalink?: string;
  mirrorlist?: string;
  /** An ASCII-armored key (or several in one block) or a key URL. */
  gpgkey?: string;
  /** Verify package signatures (needs `gpgkey`). Default false, as in composer. */
  check_gpg?: boolean;
  /** Verify the repository metadata signature. */
  check_repo_gpg?: boolean;
  /** Do not verify the server's TLS certificate. */
  ignore_ssl?: boolean;
  module_hotfixes?: boolean;
  /** Subscription-manager entitlements; not supported by Kiln (koji-osbuild always sends false). */
  rhsm?: boolean;
  /**
   * Use this repository only for these package sets (e.g. `["os"]`); without it, for all.
   * `blueprint` names the blueprint's own packages (composer's payload repositories).
   */
  package_sets?: string[];
}

/** The id of the repository at `index` of the request's list: the same in every set's request. */
export function repoId(index: number): string {
  return `repo-${index}`;
}

function nonEmpty(s: string | undefined): s is string {
  return typeof s === 'string' && s.length > 0;
}

function repoConfig(repo: RepoInput, index: number): DepsolveRepoConfig {
  const field = `repositories[${index}]`;
  if (repo.rhsm === true) {
    throw new InvalidInputError(`${field}.rhsm`, 'RHSM repositories are not supported; give the repository with its own URL and keys');
  }
  if (!nonEmpty(repo.baseurl) && !nonEmpty(repo.metalink) && !nonEmpty(repo.mirrorlist)) {
    throw new InvalidInputError(field, 'one of baseurl, metalink or mirrorlist is required');
  }
  // composer refuses this too (ErrorNoGPGKey): gpgcheck without a key fails every package later.
  if (repo.check_gpg === true && !nonEmpty(repo.gpgkey)) {
    throw new InvalidInputError(`${field}.gpgkey`, 'check_gpg is set, so a gpgkey is required');
  }
  return {
    id: repoId(index),
    ...(nonEmpty(repo.baseurl) ? { baseurl: [repo.baseurl] as [string] } : {}),
    ...(nonEmpty(repo.metalink) ? { metalink: repo.metalink } : {}),
    ...(nonEmpty(repo.mirrorlist) ? { mirrorlist: repo.mirrorlist } : {}),
    gpgcheck: repo.check_gpg === true,
    ...(repo.check_repo_gpg !== undefined ? { repo_gpgcheck: repo.check_repo_gpg } : {}),
    ...(nonEmpty(repo.gpgkey) ? { gpgkeys: [repo.gpgkey] } : {}),
    ...(repo.ignore_ssl !== undefined ? { sslverify: !repo.ignore_ssl } : {}),
    ...(repo.module_hotfixes !== undefined ? { module_hotfixes: repo.module_hotfixes } : {}),
  };
}

/**
 * One DepsolveRequest per pipeline that installs packages (`build`, `os`): the image's arch,
 * releasever and module_platform_id, the pipeline's chain of transactions (named `<pipeline>`,
 * then `<pipeline>.1`, … for the chained ones: configuration packages, the request's packages),
 * and the repositories meant for it. A repository with `package_sets` is used only for the
 * pipelines it names (names this image does not have are ignored, as composer does); one
 * without is used for all. One naming `blueprint` serves the blueprint's own transaction too
 * (osbuild/images' payload repositories): the other transactions of that pipeline are kept to
 * the pipeline's repositories with `repo_ids`. Repository ids are `repo-<position in
 * repositories>`, so one repository has one id in every request and in the results.
 *
 * Throws InvalidInputError (field `repositories…`) for a repository Kiln cannot use or a
 * pipeline left without repositories.
 */
export function depsolveRequestsFor(image: ResolvedImage, requests: PackageRequests, repositories: RepoInput[]): Record<string, DepsolveRequest> {
  if (repositories.length === 0) throw new InvalidInputError('repositories', 'at least one repository is required');
  const configs = repositories.map((r, i) => ({ config: repoConfig(r, i), sets: r.package_sets }));
  const out: Record<string, DepsolveRequest> = {};
  for (const [set, chain] of Object.entries(requests)) {
    const repos = configs.filter(({ sets }) => !sets || sets.includes(set)).map(({ config }) => config);
    const payload = chain.some((t) => t.blueprint) ? configs.filter(({ sets }) => sets?.includes('blueprint') && !sets.includes(set)).map(({ config }) => config) : [];
    if (repos.length === 0) {
      throw new InvalidInputError('repositories', `no repository is meant for package set ${JSON.stringify(set)} of image type ${image.name}`, {
        details: { packageSet: set },
      });
    }
    const transactions = chain.map((t, i): DepsolveTransactionRequest => {
      if (t.include.length === 0) {
        // the chain never holds an empty transaction; an image type with an empty set is a definition bug.
        throw new KilnError('KILN_INTERNAL', `package set ${set} of ${image.name} has an empty transaction`, { details: { packageSet: set } });
      }
      return {
        name: i === 0 ? set : `${set}.${i}`,
        package_specs: [...t.include] as [string, ...string[]],
        exclude_specs: [...t.exclude],
        ...(payload.length && !t.blueprint ? { repo_ids: repos.map((r) => r.id) as [string, ...string[]] } : {}),
        ...(t.enable_modules?.length ? { module_enable_specs: [...t.enable_modules] } : {}),
        install_weak_deps: t.install_weak_deps,
      };
    });
    out[set] = {
      arch: image.arch,
      releasever: image.distro.releasever,
      module_platform_id: image.distro.modulePlatformId,
      repos: [...repos, ...payload] as [DepsolveRepoConfig, ...DepsolveRepoConfig[]],
      transactions: transactions as [DepsolveTransactionRequest, ...DepsolveTransactionRequest[]],
    };
  }
  return out;
}

/**
 * The depsolve results per pipeline (as the depsolve job stores them) as the manifest takes
 * them: each pipeline's transactions in order, every package marked `check_gpg` with its
 * repository's keys when that repository has gpgcheck.
 *
 * Throws DepsolveError (MalformedResponse) for a package whose repository the result does not
 * list: its gpg setting would be unknown.
 */
export function packagesFromDepsolve(results: Record<string, DepsolveResult>): PipelinePackages {
  const out: PipelinePackages = {};
  for (const [set, result] of Object.entries(results)) {
    const repos = new Map(result.repos.map((r) => [r.id, r]));
    out[set] = result.transactions.map((t) =>
      t.packages.map((p): ManifestPackage => {
        const repo = repos.get(p.repo_id);
        if (!repo) {
          throw new DepsolveError('MalformedResponse', `depsolve result for package set ${set}: package ${p.name} comes from repository ${p.repo_id}, which the result does not list`, {
            packageSet: set,
            package: p.name,
            repo_id: p.repo_id,
          });
        }
        return {
          name: p.name,
          epoch: p.epoch,
          version: p.version,
          release: p.release,
          arch: p.arch,
          checksum: p.checksum,
          remote_location: p.remote_location,
          check_gpg: repo.gpgcheck,
          ...(repo.gpgcheck ? { gpgkeys: [...repo.gpgkeys] } : {}),
        };
      }),
    );
  }
  return out;
}

/**
 * The module streams the os pipeline's depsolve enabled or installed, sorted by name (as the
 * manifest writes them: the same result gives the same manifest). The build root's modules
 * stay out of the image, as in osbuild/images.
 */
export function modulesFromDepsolve(results: Record<string, DepsolveResult>): ImageModule[] {
  const modules = results.os?.modules ?? {};
  return Object.keys(modules)
    .sort()
    .map((name) => modules[name]);
}
