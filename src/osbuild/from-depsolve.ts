/**
 * The glue between an image request and the two jobs that build it: the depsolve job turns the
 * image type's package sets and the request's repositories into one DepsolveRequest per
 * package set (`depsolveRequestsFor`), and the osbuild job turns the stored results back into
 * the package lists and keys that `generateManifest` takes (`packageSetsFromDepsolve`).
 */
import { InvalidInputError, KilnError } from '../errors.js';
import { cumulativePackages, DepsolveError } from '../depsolve/index.js';
import type { DepsolveRepoConfig, DepsolveRequest, DepsolveResult, DepsolveTransactionRequest } from '../depsolve/index.js';
import type { Customizations } from '../generated/customizations.schema.js';
import { packageSetRequests, type ResolvedImageType } from './image-types.js';
import type { DepsolvedPackage, DepsolvedPackageSets } from './manifest.js';

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
  /** Use this repository only for these package sets (e.g. `["os"]`); without it, for all. */
  package_sets?: string[];
}

/** What `generateManifest` takes from the depsolve results. */
export interface ManifestPackages {
  /** Package set → its full (cumulative) list, each package with `check_gpg` from its repository. */
  packages: DepsolvedPackageSets;
  /** ASCII-armored keys of the repositories with gpgcheck that contributed packages. */
  gpgkeys: string[];
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
 * One DepsolveRequest per package set of the image (`build`, `os`): the image's arch,
 * releasever and module_platform_id, the set's chain of transactions (named `<set>`, then
 * `<set>.1`, … for the chained ones such as customization packages), and the repositories
 * meant for that set. A repository with `package_sets` is used only for the sets it names
 * (names this image type does not have are ignored, as composer does); one without is used
 * for all. Repository ids are `repo-<position in repositories>`, so one repository has one
 * id in every request and in the results.
 *
 * Throws InvalidInputError (field `repositories…`) for a repository Kiln cannot use or a
 * package set left without repositories.
 */
export function depsolveRequestsFor(
  image: ResolvedImageType,
  repositories: RepoInput[],
  customizations?: Customizations,
): Record<string, DepsolveRequest> {
  if (repositories.length === 0) throw new InvalidInputError('repositories', 'at least one repository is required');
  const configs = repositories.map((r, i) => ({ config: repoConfig(r, i), sets: r.package_sets }));
  const chains = packageSetRequests(image, customizations);
  const out: Record<string, DepsolveRequest> = {};
  for (const [set, chain] of Object.entries(chains)) {
    const repos = configs.filter(({ sets }) => !sets || sets.includes(set)).map(({ config }) => config);
    if (repos.length === 0) {
      throw new InvalidInputError('repositories', `no repository is meant for package set ${JSON.stringify(set)} of image type ${image.name}`, {
        details: { packageSet: set },
      });
    }
    const transactions = chain.map((t, i): DepsolveTransactionRequest => {
      if (t.include.length === 0) {
        // packageSetRequests never chains an empty transaction; an image type with an empty set is a definition bug.
        throw new KilnError('KILN_INTERNAL', `package set ${set} of ${image.name} has an empty transaction`, { details: { packageSet: set } });
      }
      return {
        name: i === 0 ? set : `${set}.${i}`,
        package_specs: [...t.include] as [string, ...string[]],
        exclude_specs: [...t.exclude],
        install_weak_deps: t.install_weak_deps,
      };
    });
    out[set] = {
      arch: image.arch,
      releasever: image.distro.releasever,
      module_platform_id: image.distro.modulePlatformId,
      repos: repos as [DepsolveRepoConfig, ...DepsolveRepoConfig[]],
      transactions: transactions as [DepsolveTransactionRequest, ...DepsolveTransactionRequest[]],
    };
  }
  return out;
}

/**
 * The depsolve results per package set (as the depsolve job stores them) in the shape
 * `generateManifest` takes: each set's full list (the union of its disjoint transactions, in
 * transaction order), every package marked `check_gpg` when its repository has gpgcheck, and
 * the keys of those repositories (deduplicated, in set then repository order).
 *
 * Throws DepsolveError (MalformedResponse) for a package whose repository the result does not
 * list: its gpg setting would be unknown.
 */
export function packageSetsFromDepsolve(results: Record<string, DepsolveResult>): ManifestPackages {
  const packages: DepsolvedPackageSets = {};
  const gpgkeys: string[] = [];
  for (const [set, result] of Object.entries(results)) {
    const repos = new Map(result.repos.map((r) => [r.id, r]));
    const used = new Set<string>();
    packages[set] = cumulativePackages(result).map((p): DepsolvedPackage => {
      const repo = repos.get(p.repo_id);
      if (!repo) {
        throw new DepsolveError('MalformedResponse', `depsolve result for package set ${set}: package ${p.name} comes from repository ${p.repo_id}, which the result does not list`, {
          packageSet: set,
          package: p.name,
          repo_id: p.repo_id,
        });
      }
      used.add(repo.id);
      return {
        name: p.name,
        epoch: p.epoch,
        version: p.version,
        release: p.release,
        arch: p.arch,
        repo_id: p.repo_id,
        remote_location: p.remote_location,
        checksum: p.checksum,
        check_gpg: repo.gpgcheck,
      };
    });
    for (const repo of result.repos) {
      if (!repo.gpgcheck || !used.has(repo.id)) continue;
      for (const key of repo.gpgkeys) if (!gpgkeys.includes(key)) gpgkeys.push(key);
    }
  }
  return { packages, gpgkeys };
}
