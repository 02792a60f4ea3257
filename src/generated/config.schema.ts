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
    /**
     * How long one XML-RPC call or upload chunk may wait for the hub's reply before it is retried.
     */
    request_timeout_seconds: number;
    /**
     * Tries of one hub call that meets a connection error, a timeout, a 503 or ServerOffline (backoff from 1 s doubling to 30 s).
     */
    retry_attempts: number;
    /**
     * How long a job waits for a hub that cannot be reached (connection errors, timeouts, 5xx, ServerOffline once retry_attempts are used up) before it fails: koji-init before reserving, the osbuild job before uploading its images (uploads resume), koji-finalize before importing or refunding. The built images stay on disk and the reservation BUILDING meanwhile, so an outage costs a delay, not the build. A cancel ends the wait.
     */
    outage_wait_seconds: number;
    /**
     * Bytes per raw upload request. Koji's own client sends 1 MiB. Each request costs the hub a session check and a database commit (about 10 ms for koji 1.35 on a 2-core machine) and the hub takes one chunk of a file at a time, so big chunks mean less time lost; chunks are streamed from the file, so memory does not grow with them. A chunk that fails is sent again whole. At most 1 GiB, Apache's default LimitRequestBody.
     */
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
     * How long osbuild may take to stop (clean up its mounts and loop devices) after SIGINT on cancel, timeout or shutdown before it is killed.
     */
    stop_grace_seconds: number;
    /**
     * osbuild's object store; default <state_dir>/osbuild-store.
     */
    store_dir?: string;
    /**
     * Bound of osbuild's object cache in its store (--cache-max-size): bytes, a size with a unit (kB, KiB, MB, MiB, GB, GiB, TB, TiB) or "unlimited"; 0 caches nothing. Builds keep their build root there (--checkpoint build) for the next build of the same distribution and architecture.
     */
    cache_max_size: string | number;
    /**
     * Run osbuild through this builder agent (`kiln builder`, the jobsite) instead of on this worker host.
     */
    builder_url?: string;
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
    /**
     * Flatpak registries to use instead of an image type's (installer_config.flatpaks registry.url → replacement), for hosts that cannot reach the type's registry (a mirror, or a registry on loopback in tests). The replacement may be oci+http:// (its images are then pulled without TLS). Example: {"oci+https://registry.fedoraproject.org": "oci+https://flatpaks.mirror.example"}.
     */
    flatpak_registries?: {
      [k: string]: string;
    };
  };
  /**
   * Image definitions: Kiln's own (image-types/ in the package) and the host's drop-ins.
   */
  image_types: {
    /**
     * YAML files that add distro releases or image types, or replace blocks of Kiln's definitions; read at start, refused with the file and field named when invalid. A missing directory is no drop-ins. Every host of one Kiln installation needs the same files.
     */
    dropin_dir: string;
  };
  /**
   * Where and how workers upload images to S3 when a compose's image request has upload_options. Credentials come from credentials_file when set, else from the AWS SDK's standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_PROFILE, ~/.aws/credentials, instance roles); they are never logged.
   */
  s3: {
    /**
     * The bucket for image requests whose upload_options name none (osbuild-composer's S3 options carry only a region, the bucket is the service's). Read by the API when a compose is created: without it such a compose is refused (400 naming upload_options.bucket).
     */
    bucket?: string;
    /**
     * An S3-compatible endpoint (e.g. http://minio.example:9000); default AWS S3 of the request's region.
     */
    endpoint?: string;
    /**
     * Address buckets as <endpoint>/<bucket>/<key> instead of <bucket>.<endpoint>/<key>; most S3-compatible servers want true.
     */
    force_path_style: boolean;
    /**
     * Path of an AWS credentials file (INI: aws_access_key_id, aws_secret_access_key, aws_session_token).
     */
    credentials_file?: string;
    /**
     * The profile (section) of credentials_file to use.
     */
    profile: string;
    /**
     * Multipart part size; files up to one part go in a single PutObject. Raised automatically when a file would need more than 10000 parts.
     */
    part_size_mib: number;
    /**
     * Parts in flight at once; memory stays at a few stream buffers per part, whatever the part size.
     */
    concurrency: number;
    /**
     * Re-sends of one request (a part, the create, the complete) after a transient failure (5xx, throttling, connection reset), with exponential backoff.
     */
    retries: number;
  };
}
