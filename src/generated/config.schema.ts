/* Generated from schemas/config.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Kiln's configuration: /etc/kiln/kiln.toml (or --config / KILN_CONFIG), every key also settable as KILN_<SECTION>_<KEY>.
 */
export interface KilnConfig {
  /**
   * Where Kiln keeps its state: embedded Postgres data, outputs, caches.
   */
  state_dir: string;
  database: {
    /**
     * When set, Kiln uses this server and starts no embedded Postgres.
     */
    url?: string;
    pool_size: number;
    embedded_port: number;
    /**
     * Turn off behind PgBouncer in transaction mode.
     */
    prepared_statements: boolean;
  };
  listen: {
    address: string;
    port: number;
  };
  /**
   * Who may call the API. With nothing set, the API is open, which `kiln serve` allows only on a loopback listen address.
   */
  api: {
    /**
     * Server certificate (PEM path); with tls_key, `kiln serve` listens with HTTPS.
     */
    tls_cert?: string;
    /**
     * Private key of tls_cert (PEM path).
     */
    tls_key?: string;
    /**
     * CA bundle (PEM path) that client certificates must chain to; when set, clients are asked for a certificate.
     */
    tls_ca?: string;
    /**
     * Client certificate names (CN or SAN DNS) allowed to call the API; `*.example.com` matches one label.
     */
    allowed_client_names: string[];
    /**
     * Path of a file of `name token` lines: bearer tokens accepted on `Authorization: Bearer`. The tokens are never logged.
     */
    tokens_file?: string;
  };
  log: {
    level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  };
  queue: {
    heartbeat_timeout_seconds: number;
    heartbeat_interval_seconds: number;
    max_retries: number;
    /**
     * Backstop poll for a missed NOTIFY.
     */
    poll_interval_seconds: number;
    finished_retention_days: number;
  };
  workers: {
    /**
     * Run in-process workers in `kiln serve`.
     */
    local: boolean;
    /**
     * Architectures this host builds for; defaults to the host's.
     */
    arches?: string[];
    channels: string[];
    /**
     * Concurrent jobs per job type, e.g. { osbuild = 1, depsolve = 2 }.
     */
    concurrency: {
      [k: string]: number;
    };
    shutdown_grace_seconds: number;
  };
  koji: {
    /**
     * The content generator name the hubs grant Kiln's user (grantCGAccess).
     */
    content_generator: string;
    upload_chunk_bytes: number;
    /**
     * Koji hubs Kiln builds for, with the credentials for each. In the environment: KILN_KOJI_HUBS as a JSON array.
     */
    hubs: {
      /**
       * The hub's XML-RPC URL, as compose requests name it.
       */
      url: string;
      auth: 'kerberos' | 'certificate' | 'password';
      /**
       * kerberos: the client principal (default: the keytab's first).
       */
      principal?: string;
      /**
       * kerberos: path of the client keytab.
       */
      keytab?: string;
      /**
       * kerberos: krb5.conf to use instead of the system's.
       */
      krb5_conf?: string;
      /**
       * certificate: path of the client certificate (PEM).
       */
      cert?: string;
      /**
       * certificate: path of its private key (PEM).
       */
      key?: string;
      /**
       * path of a CA bundle for the hub's TLS certificate.
       */
      ca?: string;
      /**
       * password: the user name.
       */
      user?: string;
      /**
       * password: path of a file holding the password.
       */
      password_file?: string;
    }[];
  };
  osbuild: {
    binary: string;
    /**
     * Wall-clock limit of one build.
     */
    timeout_seconds: number;
    /**
     * osbuild's object store; default <state_dir>/osbuild-store.
     */
    store_dir?: string;
  };
  depsolve: {
    /**
     * The solver command (osbuild-depsolve-dnf protocol); default osbuild's when installed, else Kiln's own.
     */
    solver?: string;
    /**
     * Repository metadata cache; default <state_dir>/rpmmd.
     */
    cache_dir?: string;
    timeout_seconds: number;
  };
}
