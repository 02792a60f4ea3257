/* Generated from schemas/depsolve-result.schema.json by `npm run gen:types`. Do not edit. */

/**
 * A resolved package set, normalized from an osbuild-depsolve-dnf v1 or v2 response. Stored with the depsolve job.
 */
export interface DepsolveResult {
  /**
   * As reported by the solver: dnf or dnf5.
   */
  solver: string;
  /**
   * Protocol version of the solver's response.
   */
  api_version: 1 | 2;
  /**
   * One entry per requested transaction, in order. Disjoint: each lists only the packages that transaction added to the ones before it; the full set of transaction i is the union of entries 0..i.
   */
  transactions: DepsolvedTransaction[];
  /**
   * The repositories that contributed packages, sorted by id.
   */
  repos: DepsolvedRepo[];
  /**
   * Module name → the files dnf keeps for the module stream in an installed system (osbuild-depsolve-dnf's `modules`), for each stream the request enabled or installed that has a package in the final set. Profiles sorted.
   */
  modules?: {
    [k: string]: DepsolvedModule;
  };
}
export interface DepsolvedTransaction {
  name?: string;
  packages: DepsolvedPackage[];
}
export interface DepsolvedPackage {
  name: string;
  epoch: number;
  version: string;
  release: string;
  arch: string;
  repo_id: string;
  /**
   * Path relative to the repository, e.g. Packages/b/bash-5.2.37-1.fc43.x86_64.rpm
   */
  location: string;
  /**
   * Full URL to download the package from.
   */
  remote_location: string;
  /**
   * <algorithm>:<hex>, normally sha256.
   */
  checksum: string;
}
export interface DepsolvedRepo {
  id: string;
  name?: string;
  baseurl?: string[];
  metalink?: string;
  mirrorlist?: string;
  gpgcheck: boolean;
  repo_gpgcheck: boolean;
  /**
   * ASCII-armored keys.
   */
  gpgkeys: string[];
  sslverify: boolean;
  sslcacert?: string;
  sslclientkey?: string;
  sslclientcert?: string;
}
export interface DepsolvedModule {
  /**
   * dnf's module state (written by the org.osbuild.dnf.module-config stage; osbuild's solver names it /etc/dnf/modules.d/<name>.conf, the stage writes <name>.module).
   */
  'module-file': {
    path: string;
    data: DnfModuleConfig;
  };
  /**
   * The stream's modulemd document, kept in /var/lib/dnf/modulefailsafe/ so dnf knows the stream without its repository.
   */
  'failsafe-file': {
    path: string;
    data: string;
  };
}
export interface DnfModuleConfig {
  name: string;
  stream: string;
  profiles: string[];
  state: string;
}
