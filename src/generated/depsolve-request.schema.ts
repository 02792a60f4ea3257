/* Generated from schemas/depsolve-request.schema.json by `npm run gen:types`. Do not edit. */

/**
 * What to resolve: package sets (transactions, each on top of the previous one) against repositories, for one architecture. Turned into an osbuild-depsolve-dnf request by src/depsolve.
 */
export interface DepsolveRequest {
  /**
   * Target architecture, e.g. x86_64 or aarch64; may differ from the host's.
   */
  arch: string;
  /**
   * Value of $releasever in repository URLs; without it no substitution happens.
   */
  releasever?: string;
  /**
   * e.g. platform:f43
   */
  module_platform_id?: string;
  proxy?: string;
  /**
   * @minItems 1
   */
  repos: [DepsolveRepoConfig, ...DepsolveRepoConfig[]];
  /**
   * Chained: each transaction is resolved on top of the result of the previous one (e.g. build root, then OS).
   *
   * @minItems 1
   */
  transactions: [DepsolveTransactionRequest, ...DepsolveTransactionRequest[]];
}
/**
 * One of baseurl, metalink or mirrorlist is required (checked in src/depsolve: an anyOf here would spoil the generated type).
 */
export interface DepsolveRepoConfig {
  id: string;
  name?: string;
  /**
   * @minItems 1
   */
  baseurl?: [string, ...string[]];
  metalink?: string;
  mirrorlist?: string;
  gpgcheck?: boolean;
  repo_gpgcheck?: boolean;
  /**
   * ASCII-armored keys or key URLs.
   */
  gpgkeys?: string[];
  sslverify?: boolean;
  sslcacert?: string;
  sslclientkey?: string;
  sslclientcert?: string;
  metadata_expire?: string;
  module_hotfixes?: boolean;
}
export interface DepsolveTransactionRequest {
  /**
   * Label carried into the result, e.g. build or os.
   */
  name?: string;
  /**
   * @minItems 1
   */
  package_specs: [string, ...string[]];
  exclude_specs?: string[];
  /**
   * Resolve this transaction from these repositories only (osbuild's solver excludes every other repository's packages from the transaction).
   *
   * @minItems 1
   */
  repo_ids?: [string, ...string[]];
  /**
   * Module streams (name:stream) to enable before the transaction is resolved.
   */
  module_enable_specs?: string[];
  install_weak_deps?: boolean;
}
