/**
 * The configuration reference: every environment variable (src/config/env.schema.ts), its default
 * as the documentation states it, and what it means. The README's configuration table is generated
 * from this list (`npm run config:docs`; CI fails when the committed table differs), and
 * reference.spec.ts checks that it names every variable of the schema once and that each stated
 * default is the value loadConfig uses when the variable is unset.
 */
export interface ConfigReferenceEntry {
  /** The variables this row documents (two when they only make sense together). */
  readonly names: readonly string[];
  /** The default as the table shows it (Markdown). */
  readonly default: string;
  /** What it does (Markdown). */
  readonly meaning: string;
}

export const CONFIG_REFERENCE: readonly ConfigReferenceEntry[] = [
  {
    names: ['IMGSRV_LISTEN'],
    default: '`127.0.0.1:8080`',
    meaning: 'plain HTTP listener, `host:port`; empty disables',
  },
  {
    names: ['IMGSRV_TLS_LISTEN'],
    default: '`127.0.0.1:8443`',
    meaning: 'HTTPS listener; empty disables',
  },
  {
    names: ['IMGSRV_TLS_CERT_FILE', 'IMGSRV_TLS_KEY_FILE'],
    default: 'empty',
    meaning:
      'PEM certificate and key; when empty a self-signed certificate (localhost, 127.0.0.1, ::1) is generated once in `IMGSRV_DATA_DIR/tls/`',
  },
  {
    names: ['IMGSRV_SENDFILE'],
    default: '`true`',
    meaning:
      "send fs-store downloads on plain HTTP with the kernel's sendfile(2) (native/sendfile); `false` copies them through Node, as on TLS",
  },
  {
    names: ['IMGSRV_HTTP_IDLE_TIMEOUT'],
    default: '`2m`',
    meaning:
      'a connection whose request moves no byte either way for this long is closed: an upload the client stopped sending, a download it stopped reading (sendfile too); at least `1s`. Counted in `imgsrv_http_idle_timeouts_total`. Between requests the keep-alive timeout (65 s) applies',
  },
  {
    names: ['IMGSRV_DATA_DIR'],
    default: '`./var`',
    meaning: 'local state: filesystem blobs, generated certificate',
  },
  {
    names: ['IMGSRV_DATABASE_URL'],
    default: '`postgres://localhost:5432/imgsrv`',
    meaning:
      'PostgreSQL; without a user name, the OS user (as libpq does); created if missing, migrated at start',
  },
  {
    names: ['IMGSRV_DATABASE_POOL_SIZE'],
    default: '`10`',
    meaning: 'connections per process',
  },
  {
    names: ['IMGSRV_REDIS_URL'],
    default: '`redis://127.0.0.1:6379`',
    meaning: 'Redis for BullMQ (`rediss://` for TLS)',
  },
  {
    names: ['IMGSRV_REDIS_PREFIX'],
    default: '`imgsrv`',
    meaning: 'key prefix, so several instances share one Redis',
  },
  {
    names: ['IMGSRV_ROLES'],
    default: '`api,worker`',
    meaning: 'which parts this process runs: `api`, `worker` or both',
  },
  {
    names: ['IMGSRV_HTTP_PROCESSES'],
    default: '`1`',
    meaning:
      'API processes on this host sharing the listeners (1–99, or `auto`: one per CPU); more than one makes `serve` their supervisor',
  },
  {
    names: ['IMGSRV_BLOB_STORE'],
    default: '`fs`',
    meaning: '`fs` (under `IMGSRV_DATA_DIR/blobs`) or `s3`',
  },
  {
    names: ['IMGSRV_S3_ENDPOINT'],
    default: 'empty',
    meaning: 'S3 endpoint URL (empty: AWS)',
  },
  {
    names: ['IMGSRV_S3_BUCKET'],
    default: 'empty',
    meaning: 'bucket, required with `s3`',
  },
  {
    names: ['IMGSRV_S3_REGION'],
    default: '`us-east-1`',
    meaning: 'region',
  },
  {
    names: ['IMGSRV_S3_ACCESS_KEY_ID', 'IMGSRV_S3_SECRET_ACCESS_KEY'],
    default: 'empty',
    meaning: "credentials (empty: the SDK's default chain)",
  },
  {
    names: ['IMGSRV_S3_FORCE_PATH_STYLE'],
    default: '`true`',
    meaning: 'path-style addressing (MinIO, Ceph RGW, Garage)',
  },
  {
    names: ['IMGSRV_METRICS_LISTEN'],
    default: '`127.0.0.1:9464`',
    meaning: 'Prometheus listener; empty disables',
  },
  {
    names: ['IMGSRV_METRICS_MAX_AGE'],
    default: '`30s`',
    meaning:
      'how long one reading of the gauges counted over whole tables (storage, publish jobs and steps, blobs, upload sessions, webhook deliveries) answers scrapes; `0s` reads at every scrape',
  },
  {
    names: ['IMGSRV_PUBLIC_READ'],
    default: '`true`',
    meaning: 'anonymous reads of published content',
  },
  {
    names: ['IMGSRV_BOOTSTRAP_TOKEN'],
    default: 'empty',
    meaning: 'known value for the first auth-manager token (automation)',
  },
  {
    names: ['IMGSRV_BOOTSTRAP_TOKEN_TTL'],
    default: '`24h`',
    meaning: 'how long the bootstrap token, and a `token issue` token without `--ttl`, is valid',
  },
  {
    names: ['IMGSRV_TOKEN_MAX_LIFETIME'],
    default: '`365d`',
    meaning: 'the longest an API token may be valid; a later `expires_at` is refused',
  },
  {
    names: ['IMGSRV_OIDC_FETCH_TIMEOUT'],
    default: '`5s`',
    meaning: 'how long one OIDC discovery or JWKS fetch may take',
  },
  {
    names: ['IMGSRV_OIDC_ALLOW_INSECURE_LOOPBACK'],
    default: '`false`',
    meaning:
      'accept `http://` issuers on loopback (tests only; the host must also be in `IMGSRV_OIDC_ALLOWED_ISSUER_HOSTS`)',
  },
  {
    names: ['IMGSRV_OIDC_ALLOWED_ISSUER_HOSTS'],
    default: 'empty',
    meaning:
      'hosts an OIDC issuer or its `jwks_uri` may name although internal (loopback, private, link-local, unique-local, `localhost`), comma-separated, e.g. `127.0.0.1,[::1]`; checked when a rule is saved and on every address a name resolves to at discovery',
  },
  {
    names: ['IMGSRV_LOG_LEVEL'],
    default: '`info`',
    meaning: '`trace` `debug` `info` `warn` `error` `fatal` `silent`',
  },
  {
    names: ['IMGSRV_LOG_FORMAT'],
    default: '`auto`',
    meaning:
      '`auto` (text when stdout is a terminal, JSON lines otherwise), `json` (one object per line) or `text`',
  },
  {
    names: ['IMGSRV_SHUTDOWN_TIMEOUT'],
    default: '`25s`',
    meaning: 'how long SIGTERM waits for in-flight requests before cutting them',
  },
  {
    names: ['IMGSRV_WORKER_CONCURRENCY'],
    default: '`2`',
    meaning: 'publish steps one worker process runs at once',
  },
  {
    names: ['IMGSRV_PUBLISH_LEASE'],
    default: '`30s`',
    meaning:
      "a publish step's lease (renewed while it runs); after a worker dies another takes the step once it lapses",
  },
  {
    names: ['IMGSRV_PUBLISH_MAX_ATTEMPTS'],
    default: '`5`',
    meaning: 'automatic attempts of a failing publish step before its job fails',
  },
  {
    names: ['IMGSRV_PUBLISH_BACKOFF_BASE'],
    default: '`1s`',
    meaning: "wait after a publish step's first failed attempt, doubling after each",
  },
  {
    names: ['IMGSRV_PUBLISH_BACKOFF_CAP'],
    default: '`1m`',
    meaning: 'the longest wait between attempts of a publish step',
  },
  {
    names: ['IMGSRV_PUBLISH_SWEEP_INTERVAL'],
    default: '`5s`',
    meaning:
      'how often workers look in PostgreSQL for publish steps that lost their wake-up or their worker',
  },
  {
    names: ['IMGSRV_UPLOAD_TTL'],
    default: '`24h`',
    meaning:
      'how long an upload session accepts parts; then it expires and its staged bytes are freed',
  },
  {
    names: ['IMGSRV_UPLOAD_VERIFY_WAIT'],
    default: '`20s`',
    meaning:
      'how long complete verifies within the request before answering `verifying` and handing over to a worker',
  },
  {
    names: ['IMGSRV_UPLOAD_VERIFY_LEASE'],
    default: '`60s`',
    meaning:
      "a verifier's lease (renewed while it works); after a crash another takes over once it lapses",
  },
  {
    names: ['IMGSRV_CAS_GC_GRACE'],
    default: '`24h`',
    meaning: 'how long a trusted blob must be unreferenced before the GC deletes it',
  },
  {
    names: ['IMGSRV_CAS_GC_DELETE_DELAY'],
    default: '`1h`',
    meaning: "between deleting a blob's row and deleting its bytes",
  },
  {
    names: ['IMGSRV_CAS_SWEEP_INTERVAL'],
    default: '`1m`',
    meaning:
      'how often workers run the upload/blob sweepers (expiry, staging cleanup, GC); `0s` disables',
  },
  {
    names: ['IMGSRV_BLOB_PUT_MAX_SIZE'],
    default: '`64MiB`',
    meaning:
      'the largest blob `PUT /v1/blobs/{digest}` takes in one request (units B, KiB, MiB, GiB); larger ones use an upload session; `0B` turns the route off',
  },
  {
    names: ['IMGSRV_WITHDRAW_GRACE'],
    default: '`24h`',
    meaning:
      'how long downloads of a withdrawn version keep working (hosts that read the documents just before); then the version is purged. Not for `immediate` withdrawals',
  },
  {
    names: ['IMGSRV_PURGE_INTERVAL'],
    default: '`1m`',
    meaning: 'how often workers purge withdrawn versions whose grace has passed; `0s` disables',
  },
  {
    names: ['IMGSRV_RETENTION_INTERVAL'],
    default: '`10s`',
    meaning:
      'how often workers apply retention policies to images where a publish, a changed policy or time may let versions go; `0s` disables',
  },
  {
    names: ['IMGSRV_UI'],
    default: '`true`',
    meaning: 'serve the web catalog under `/ui` ([docs/web-ui.md](docs/web-ui.md))',
  },
  {
    names: ['IMGSRV_UI_SESSION_TTL'],
    default: '`8h`',
    meaning: "how long a web catalog session lasts at most (never past its API token's expiry)",
  },
  {
    names: ['IMGSRV_PROVENANCE_RECORDS'],
    default: '`true`',
    meaning:
      'sign a record of every publish and withdrawal and append it to the transparency log ([docs/provenance.md](docs/provenance.md)); `false` publishes without records (such versions cannot be verified), for measuring their cost or deployments that want no log',
  },
  {
    names: ['IMGSRV_PROVENANCE_KEY_FILE'],
    default: 'empty',
    meaning:
      'PEM (PKCS #8) Ed25519 private key that signs publication records and log checkpoints; every process of a deployment must name the same key. When empty one is generated once in `IMGSRV_DATA_DIR/provenance/` (development)',
  },
  {
    names: ['IMGSRV_PROVENANCE_RETIRED_KEY_FILES'],
    default: 'empty',
    meaning:
      'PEM Ed25519 keys (public or private), comma-separated, that signed before a rotation: published as retired so older records still verify; they sign nothing more',
  },
  {
    names: ['IMGSRV_PROVENANCE_LOG_ORIGIN'],
    default: '`imgsrv.local/log`',
    meaning:
      "the transparency log's origin, the first line of its checkpoints and the name of its signing key; set it to a name of the deployment (`images.example.com/log`) before the first publish and keep it",
  },
  {
    names: ['IMGSRV_MIRROR_CREDENTIALS_KEY_FILE'],
    default: 'empty',
    meaning:
      "file holding the 32-byte key (base64 or hex) that seals remotes' passwords at rest ([docs/mirroring.md](docs/mirroring.md)); every process of a deployment must name the same key. When empty one is generated once in `IMGSRV_DATA_DIR/mirror/` (development)",
  },
  {
    names: ['IMGSRV_MIRROR_PART_SIZE'],
    default: '`64MiB`',
    meaning:
      'how much of an upstream file goes into one upload part (5MiB to 5GiB): an interrupted file resumes from the first part not received',
  },
  {
    names: ['IMGSRV_MIRROR_IDLE_TIMEOUT'],
    default: '`60s`',
    meaning:
      'how long an upstream server may send nothing (no response head, no body bytes) before the file fails as stalled',
  },
  {
    names: ['IMGSRV_MIRROR_ATTEMPTS'],
    default: '`3`',
    meaning:
      'attempts at one upstream file within a sync, after network errors, 5xx answers and stalls (each attempt continues where the last stopped)',
  },
  {
    names: ['IMGSRV_MIRROR_BACKOFF_BASE'],
    default: '`2s`',
    meaning: 'the first wait between attempts at an upstream file; it doubles',
  },
  {
    names: ['IMGSRV_MIRROR_LEASE'],
    default: '`60s`',
    meaning:
      "a running sync's lease; its worker renews it every third of it, and another worker takes over a sync whose lease ran out",
  },
  {
    names: ['IMGSRV_MIRROR_SWEEP_INTERVAL'],
    default: '`15s`',
    meaning:
      'how often workers start scheduled syncs and wake syncs whose wake-up was lost or whose worker died',
  },
  {
    names: ['IMGSRV_MIRROR_PUBLISH_WAIT'],
    default: '`10m`',
    meaning: 'how long a sync waits for one version it composed to finish publishing',
  },
  {
    names: ['IMGSRV_WEBHOOK_ALLOWED_HOSTS'],
    default: 'empty',
    meaning:
      'hosts a webhook URL may name although internal (loopback, private, link-local, unique-local, `localhost`), comma-separated, e.g. `127.0.0.1,[::1]`; checked in the URL and on every address a name resolves to at delivery',
  },
  {
    names: ['IMGSRV_WEBHOOK_ONLY_ALLOWED_HOSTS'],
    default: '`false`',
    meaning:
      '`true`: webhooks go to the hosts in `IMGSRV_WEBHOOK_ALLOWED_HOSTS` only (no other name is resolved, no public address tried); the test harness sets it',
  },
  {
    names: ['IMGSRV_WEBHOOK_TIMEOUT'],
    default: '`10s`',
    meaning: 'one webhook delivery attempt, connection to response head',
  },
  {
    names: ['IMGSRV_WEBHOOK_RETRY_FOR'],
    default: '`24h`',
    meaning:
      'how long after an event its delivery is retried before it fails for good (and its subscription, if nothing succeeded meanwhile, is disabled)',
  },
  {
    names: ['IMGSRV_WEBHOOK_BACKOFF_BASE'],
    default: '`5s`',
    meaning: 'wait after the first failed webhook attempt, doubling after each',
  },
  {
    names: ['IMGSRV_WEBHOOK_BACKOFF_CAP'],
    default: '`1h`',
    meaning: 'the longest wait between webhook attempts',
  },
  {
    names: ['IMGSRV_WEBHOOK_LEASE'],
    default: '`30s`',
    meaning:
      "a delivery's lease (renewed while it is sent); after a worker dies another sends it again once it lapses",
  },
  {
    names: ['IMGSRV_WEBHOOK_SWEEP_INTERVAL'],
    default: '`5s`',
    meaning:
      'how often workers look in PostgreSQL for deliveries that lost their wake-up or their worker',
  },
  {
    names: ['IMGSRV_WEBHOOK_CONCURRENCY'],
    default: '`10`',
    meaning: 'webhook deliveries in flight per worker process',
  },
];

/** The default of an entry when it is one literal value (`8h`), else null (empty, prose). */
export function literalDefault(entry: ConfigReferenceEntry): string | null {
  const match = /^`([^`]*)`$/.exec(entry.default);
  return match ? (match[1] as string) : null;
}
