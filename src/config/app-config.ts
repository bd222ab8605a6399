import { readFileSync, existsSync } from 'node:fs';
import { availableParallelism, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { parse as parseDotenv } from 'dotenv';
import { canonicalHost } from '../common/net/canonical-host';
import { DURATION_PATTERN, EnvSchema, SIZE_PATTERN } from './env.schema';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export type LogFormat = 'auto' | 'json' | 'text';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export type BlobStoreConfig =
  | { readonly driver: 'fs'; readonly root: string }
  | {
      readonly driver: 's3';
      readonly endpoint: string | null;
      readonly bucket: string;
      readonly region: string;
      readonly accessKeyId: string | null;
      readonly secretAccessKey: string | null;
      readonly forcePathStyle: boolean;
    };

export interface AppConfig {
  readonly http: {
    readonly listen: ListenAddress | null;
    readonly tlsListen: ListenAddress | null;
    readonly tlsCertFile: string | null;
    readonly tlsKeyFile: string | null;
    /** Send fs-store download bodies with sendfile(2) on plain HTTP (native/sendfile). */
    readonly sendfile: boolean;
    /**
     * API processes on this host sharing the listeners (node:cluster); more than one makes this
     * process their supervisor.
     */
    readonly processes: number;
    /**
     * A connection with a request under way that moves no byte either way for this long is
     * closed: a client that stalls an upload or stops reading a download (sendfile included).
     */
    readonly idleTimeoutMs: number;
  };
  readonly dataDir: string;
  readonly database: { readonly url: string; readonly poolSize: number };
  readonly redis: { readonly url: string; readonly prefix: string };
  readonly roles: { readonly api: boolean; readonly worker: boolean };
  readonly blobStore: BlobStoreConfig;
  readonly metrics: {
    readonly listen: ListenAddress | null;
    /**
     * How long one reading of the gauges counted over whole tables (storage, publish jobs and
     * steps, blobs, upload sessions, webhook deliveries) answers scrapes (0: read at every scrape).
     */
    readonly dbMaxAgeMs: number;
  };
  readonly auth: {
    readonly publicRead: boolean;
    readonly bootstrapToken: string | null;
    readonly bootstrapTokenTtlMs: number;
    readonly tokenMaxLifetimeMs: number;
    readonly oidcFetchTimeoutMs: number;
    /** Accept http:// OIDC issuers on loopback addresses (tests only). */
    readonly oidcAllowInsecureLoopback: boolean;
    /**
     * Hosts an OIDC issuer or JWKS URL may name although internal (loopback, private,
     * link-local), in URL-hostname form: `127.0.0.1`, `[::1]`, `issuer.corp.example`.
     */
    readonly oidcAllowedIssuerHosts: readonly string[];
  };
  /** `auto`: human-readable text when stdout is a terminal, JSON lines otherwise. */
  readonly log: { readonly level: LogLevel; readonly format: LogFormat };
  readonly shutdownTimeoutMs: number;
  readonly publish: {
    /** Parallel BullMQ jobs per worker process. */
    readonly concurrency: number;
    /** How long a step lease lasts without a heartbeat (renewed every third of it). */
    readonly leaseMs: number;
    /** Automatic attempts of a step before its job fails (transient errors only). */
    readonly maxAttempts: number;
    readonly backoffBaseMs: number;
    readonly backoffCapMs: number;
    /** How often workers look in PostgreSQL for steps that lost their wake-up or their worker. */
    readonly sweepIntervalMs: number;
  };
  readonly cas: {
    /** How long an upload session accepts parts. */
    readonly uploadTtlMs: number;
    /** How long complete verifies within the request before handing over to a worker job. */
    readonly verifyWaitMs: number;
    /** A verifier's lease; it renews it while it works, another takes over once it lapses. */
    readonly verifyLeaseMs: number;
    /** How long a trusted blob must have been unreferenced before the GC removes it. */
    readonly gcGraceMs: number;
    /** Between deleting a blob's row and deleting its bytes. */
    readonly gcDeleteDelayMs: number;
    /** How often workers run the sweepers (expiry, staging cleanup, GC); 0 disables. */
    readonly sweepIntervalMs: number;
    /** The largest body PUT /v1/blobs/{digest} takes in one request; 0 turns that route off. */
    readonly putMaxBytes: number;
  };
  readonly lifecycle: {
    /**
     * How long downloads of a withdrawn version keep working (hosts that read the documents just
     * before the withdrawal); after it the version is purged. Not for an immediate withdrawal.
     */
    readonly withdrawGraceMs: number;
    /** How often workers purge withdrawn versions whose grace has passed; 0 disables. */
    readonly purgeIntervalMs: number;
    /** How often workers apply retention policies where a publish or time may let versions go. */
    readonly retentionIntervalMs: number;
  };
  readonly ui: {
    /** Whether the listeners serve the web catalog under /ui. */
    readonly enabled: boolean;
    /** How long a web catalog session lasts at most (never past its API token's expiry). */
    readonly sessionTtlMs: number;
  };
  readonly provenance: {
    /** Whether publishes and withdrawals sign and log a record. */
    readonly records: boolean;
    /** The Ed25519 signing key (PEM, PKCS #8); null: a development key in the data directory. */
    readonly keyFile: string | null;
    /** Keys that signed before a rotation (PEM, public or private): they verify, never sign. */
    readonly retiredKeyFiles: readonly string[];
    /** The transparency log's checkpoint origin and signing key name. */
    readonly logOrigin: string;
  };
  readonly mirror: {
    /**
     * The file holding the 32-byte key that seals remotes' passwords (base64 or hex); null: a key
     * generated once in the data directory (development).
     */
    readonly credentialsKeyFile: string | null;
    /** How many bytes of an upstream file go into one upload part (the unit a resume restarts at). */
    readonly partSizeBytes: number;
    /** How long an upstream response may send nothing (headers or body) before the fetch ends. */
    readonly idleTimeoutMs: number;
    /** Attempts at one file within a sync (network errors, 5xx, stalls). */
    readonly attempts: number;
    /** First wait between attempts; it doubles. */
    readonly backoffBaseMs: number;
    /** A running sync's lease, renewed by its worker's heartbeat (a third of it). */
    readonly leaseMs: number;
    /** How often workers look for scheduled, lost or abandoned syncs. */
    readonly sweepIntervalMs: number;
    /** How long a sync waits for one version it composed to finish publishing. */
    readonly publishWaitMs: number;
  };
  readonly webhooks: {
    /**
     * Hosts a webhook URL may name although internal (loopback, private, link-local), in
     * URL-hostname form: `127.0.0.1`, `[::1]`, `hooks.corp.example`.
     */
    readonly allowedHosts: readonly string[];
    /** Deliver to the allowed hosts only (no name resolved, no public address tried). */
    readonly onlyAllowedHosts: boolean;
    /** One delivery attempt, connection to the end of the response head. */
    readonly timeoutMs: number;
    /** How long after an event its delivery is retried before it fails for good. */
    readonly retryForMs: number;
    readonly backoffBaseMs: number;
    readonly backoffCapMs: number;
    /** A delivery attempt's lease without a heartbeat (renewed every third of it). */
    readonly leaseMs: number;
    /** How often workers look in PostgreSQL for deliveries that lost their wake-up or worker. */
    readonly sweepIntervalMs: number;
    /** Parallel deliveries per worker process. */
    readonly concurrency: number;
  };
}

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The process environment, with a `.env` file in the working directory filling the gaps. */
export function readProcessEnv(cwd = process.cwd()): Env {
  const file = resolve(cwd, '.env');
  const fromFile = existsSync(file) ? parseDotenv(readFileSync(file)) : {};
  return { ...fromFile, ...process.env };
}

export function parseListen(value: string): ListenAddress {
  const i = value.lastIndexOf(':');
  let host = value.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host === '' ? '0.0.0.0' : host, port: Number(value.slice(i + 1)) };
}

export function parseDuration(value: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(value);
  if (!m) throw new Error(`not a duration: ${value}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms'];
  return Number(m[1]) * unit;
}

export function parseSize(value: string): number {
  const m = /^(\d+)(B|KiB|MiB|GiB)$/.exec(value);
  if (!m) throw new Error(`not a size: ${value}`);
  const unit = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[m[2] as 'B'];
  return Number(m[1]) * unit;
}

function parseBoolean(value: string): boolean {
  return ['true', '1', 'yes'].includes(value);
}

function flatten(errors: ValidationError[]): string[] {
  return errors.flatMap((e) =>
    Object.values(e.constraints ?? {}).map(
      (msg) => `${e.property}: ${msg} (got ${JSON.stringify(e.value)})`,
    ),
  );
}

/**
 * Validates the environment and returns the typed, frozen configuration. Every problem is
 * collected, so an operator fixes them in one go.
 */
export function loadConfig(env: Env, cwd = process.cwd()): AppConfig {
  const known = Object.fromEntries(
    Object.entries(env).filter(([k, v]) => k.startsWith('IMGSRV_') && v !== undefined),
  );
  const schema = plainToInstance(EnvSchema, known);
  const problems = flatten(validateSync(schema, { forbidUnknownValues: false }));

  const get = (key: keyof EnvSchema, fallback: string): string => {
    const v = schema[key];
    return v === undefined ? fallback : v;
  };
  const nonEmpty = (key: keyof EnvSchema, fallback: string): string => {
    const v = schema[key];
    return v === undefined || v === '' ? fallback : v;
  };
  const optional = (key: keyof EnvSchema): string | null => {
    const v = schema[key];
    return v === undefined || v === '' ? null : v;
  };
  const listen = (key: keyof EnvSchema, fallback: string): ListenAddress | null => {
    const v = get(key, fallback);
    if (v === '') return null;
    if (!problems.some((p) => p.startsWith(`${key}:`))) {
      const addr = parseListen(v);
      if (addr.port > 65535)
        problems.push(`${key}: port must be 0-65535 (got ${JSON.stringify(v)})`);
      return addr;
    }
    return null;
  };

  const httpListen = listen('IMGSRV_LISTEN', '127.0.0.1:8080');
  const tlsListen = listen('IMGSRV_TLS_LISTEN', '127.0.0.1:8443');
  const metricsListen = listen('IMGSRV_METRICS_LISTEN', '127.0.0.1:9464');
  const tlsCertFile = optional('IMGSRV_TLS_CERT_FILE');
  const tlsKeyFile = optional('IMGSRV_TLS_KEY_FILE');
  if ((tlsCertFile === null) !== (tlsKeyFile === null)) {
    problems.push('IMGSRV_TLS_CERT_FILE and IMGSRV_TLS_KEY_FILE: set both or neither');
  }

  const roleList = nonEmpty('IMGSRV_ROLES', 'api,worker').split(',');
  const driver = nonEmpty('IMGSRV_BLOB_STORE', 'fs');
  const dataDir = resolve(cwd, nonEmpty('IMGSRV_DATA_DIR', './var'));
  let blobStore: BlobStoreConfig = { driver: 'fs', root: resolve(dataDir, 'blobs') };
  if (driver === 's3') {
    const bucket = optional('IMGSRV_S3_BUCKET');
    if (bucket === null) problems.push('IMGSRV_S3_BUCKET: required when IMGSRV_BLOB_STORE=s3');
    blobStore = {
      driver: 's3',
      endpoint: optional('IMGSRV_S3_ENDPOINT'),
      bucket: bucket ?? '',
      region: nonEmpty('IMGSRV_S3_REGION', 'us-east-1'),
      accessKeyId: optional('IMGSRV_S3_ACCESS_KEY_ID'),
      secretAccessKey: optional('IMGSRV_S3_SECRET_ACCESS_KEY'),
      forcePathStyle: parseBoolean(nonEmpty('IMGSRV_S3_FORCE_PATH_STYLE', 'true')),
    };
  }
  const roles = { api: roleList.includes('api'), worker: roleList.includes('worker') };
  if (
    roles.api &&
    httpListen === null &&
    tlsListen === null &&
    !problems.some((p) => p.includes('LISTEN'))
  ) {
    problems.push('IMGSRV_LISTEN and IMGSRV_TLS_LISTEN: the api role needs at least one listener');
  }

  const processesValue = nonEmpty('IMGSRV_HTTP_PROCESSES', '1');
  const processes = processesValue === 'auto' ? availableParallelism() : Number(processesValue);
  if (processes > 1 && !roles.api && !problems.some((p) => p.startsWith('IMGSRV_HTTP_PROCESSES:')))
    problems.push('IMGSRV_HTTP_PROCESSES: more than one process needs the api role');

  /** A comma-separated list of hosts, each in the URL parser's form. */
  const hostList = (name: keyof EnvSchema): string[] => {
    const hosts: string[] = [];
    for (const entry of get(name, '').split(',')) {
      if (entry.trim() === '') continue;
      const host = canonicalHost(entry.trim());
      if (host === null)
        problems.push(`${name}: not a host name or address (got ${JSON.stringify(entry)})`);
      else hosts.push(host);
    }
    return hosts;
  };
  const webhookAllowedHosts = hostList('IMGSRV_WEBHOOK_ALLOWED_HOSTS');
  for (const key of [
    'IMGSRV_WEBHOOK_TIMEOUT',
    'IMGSRV_WEBHOOK_LEASE',
    'IMGSRV_WEBHOOK_SWEEP_INTERVAL',
    'IMGSRV_WEBHOOK_BACKOFF_BASE',
    'IMGSRV_MIRROR_IDLE_TIMEOUT',
    'IMGSRV_MIRROR_LEASE',
    'IMGSRV_MIRROR_SWEEP_INTERVAL',
    'IMGSRV_MIRROR_PUBLISH_WAIT',
  ] as const) {
    const v = schema[key];
    if (v && DURATION_PATTERN.test(v) && parseDuration(v) === 0)
      problems.push(`${key}: must be more than 0 (got "${v}")`);
  }

  const idleTimeout = nonEmpty('IMGSRV_HTTP_IDLE_TIMEOUT', '2m');
  let idleTimeoutMs = 0;
  if (!problems.some((p) => p.startsWith('IMGSRV_HTTP_IDLE_TIMEOUT:'))) {
    idleTimeoutMs = parseDuration(idleTimeout);
    if (idleTimeoutMs < 1000)
      problems.push(`IMGSRV_HTTP_IDLE_TIMEOUT: must be at least 1s (got "${idleTimeout}")`);
  }

  const mirrorPart = schema.IMGSRV_MIRROR_PART_SIZE;
  if (mirrorPart && SIZE_PATTERN.test(mirrorPart)) {
    const bytes = parseSize(mirrorPart);
    if (bytes < 5 * 1024 * 1024 || bytes > 5 * 1024 * 1024 * 1024)
      problems.push(`IMGSRV_MIRROR_PART_SIZE: must be from 5MiB to 5GiB (got "${mirrorPart}")`);
  }

  const oidcAllowedIssuerHosts = hostList('IMGSRV_OIDC_ALLOWED_ISSUER_HOSTS');

  if (problems.length > 0) throw new ConfigError(problems);

  const config: AppConfig = {
    http: {
      listen: httpListen,
      tlsListen,
      tlsCertFile,
      tlsKeyFile,
      sendfile: parseBoolean(nonEmpty('IMGSRV_SENDFILE', 'true')),
      processes,
      idleTimeoutMs,
    },
    dataDir,
    database: {
      url: withDefaultUser(nonEmpty('IMGSRV_DATABASE_URL', 'postgres://localhost:5432/imgsrv')),
      poolSize: Number(nonEmpty('IMGSRV_DATABASE_POOL_SIZE', '10')),
    },
    redis: {
      url: nonEmpty('IMGSRV_REDIS_URL', 'redis://127.0.0.1:6379'),
      prefix: nonEmpty('IMGSRV_REDIS_PREFIX', 'imgsrv'),
    },
    roles,
    blobStore,
    metrics: {
      listen: metricsListen,
      dbMaxAgeMs: parseDuration(nonEmpty('IMGSRV_METRICS_MAX_AGE', '30s')),
    },
    auth: {
      publicRead: parseBoolean(nonEmpty('IMGSRV_PUBLIC_READ', 'true')),
      bootstrapToken: optional('IMGSRV_BOOTSTRAP_TOKEN'),
      bootstrapTokenTtlMs: parseDuration(nonEmpty('IMGSRV_BOOTSTRAP_TOKEN_TTL', '24h')),
      tokenMaxLifetimeMs: parseDuration(nonEmpty('IMGSRV_TOKEN_MAX_LIFETIME', '365d')),
      oidcFetchTimeoutMs: parseDuration(nonEmpty('IMGSRV_OIDC_FETCH_TIMEOUT', '5s')),
      oidcAllowInsecureLoopback: parseBoolean(
        nonEmpty('IMGSRV_OIDC_ALLOW_INSECURE_LOOPBACK', 'false'),
      ),
      oidcAllowedIssuerHosts,
    },
    log: {
      level: nonEmpty('IMGSRV_LOG_LEVEL', 'info') as LogLevel,
      format: nonEmpty('IMGSRV_LOG_FORMAT', 'auto') as LogFormat,
    },
    shutdownTimeoutMs: parseDuration(nonEmpty('IMGSRV_SHUTDOWN_TIMEOUT', '25s')),
    publish: {
      concurrency: Number(nonEmpty('IMGSRV_WORKER_CONCURRENCY', '2')),
      leaseMs: parseDuration(nonEmpty('IMGSRV_PUBLISH_LEASE', '30s')),
      maxAttempts: Number(nonEmpty('IMGSRV_PUBLISH_MAX_ATTEMPTS', '5')),
      backoffBaseMs: parseDuration(nonEmpty('IMGSRV_PUBLISH_BACKOFF_BASE', '1s')),
      backoffCapMs: parseDuration(nonEmpty('IMGSRV_PUBLISH_BACKOFF_CAP', '1m')),
      sweepIntervalMs: parseDuration(nonEmpty('IMGSRV_PUBLISH_SWEEP_INTERVAL', '5s')),
    },
    cas: {
      uploadTtlMs: parseDuration(nonEmpty('IMGSRV_UPLOAD_TTL', '24h')),
      verifyWaitMs: parseDuration(nonEmpty('IMGSRV_UPLOAD_VERIFY_WAIT', '20s')),
      verifyLeaseMs: parseDuration(nonEmpty('IMGSRV_UPLOAD_VERIFY_LEASE', '60s')),
      gcGraceMs: parseDuration(nonEmpty('IMGSRV_CAS_GC_GRACE', '24h')),
      gcDeleteDelayMs: parseDuration(nonEmpty('IMGSRV_CAS_GC_DELETE_DELAY', '1h')),
      sweepIntervalMs: parseDuration(nonEmpty('IMGSRV_CAS_SWEEP_INTERVAL', '1m')),
      putMaxBytes: parseSize(nonEmpty('IMGSRV_BLOB_PUT_MAX_SIZE', '64MiB')),
    },
    lifecycle: {
      withdrawGraceMs: parseDuration(nonEmpty('IMGSRV_WITHDRAW_GRACE', '24h')),
      purgeIntervalMs: parseDuration(nonEmpty('IMGSRV_PURGE_INTERVAL', '1m')),
      retentionIntervalMs: parseDuration(nonEmpty('IMGSRV_RETENTION_INTERVAL', '10s')),
    },
    ui: {
      enabled: parseBoolean(nonEmpty('IMGSRV_UI', 'true')),
      sessionTtlMs: parseDuration(nonEmpty('IMGSRV_UI_SESSION_TTL', '8h')),
    },
    provenance: {
      records: parseBoolean(nonEmpty('IMGSRV_PROVENANCE_RECORDS', 'true')),
      keyFile: optional('IMGSRV_PROVENANCE_KEY_FILE'),
      retiredKeyFiles: get('IMGSRV_PROVENANCE_RETIRED_KEY_FILES', '')
        .split(',')
        .map((f) => f.trim())
        .filter((f) => f !== ''),
      logOrigin: nonEmpty('IMGSRV_PROVENANCE_LOG_ORIGIN', 'imgsrv.local/log'),
    },
    mirror: {
      credentialsKeyFile: optional('IMGSRV_MIRROR_CREDENTIALS_KEY_FILE'),
      partSizeBytes: parseSize(nonEmpty('IMGSRV_MIRROR_PART_SIZE', '64MiB')),
      idleTimeoutMs: parseDuration(nonEmpty('IMGSRV_MIRROR_IDLE_TIMEOUT', '60s')),
      attempts: Number(nonEmpty('IMGSRV_MIRROR_ATTEMPTS', '3')),
      backoffBaseMs: parseDuration(nonEmpty('IMGSRV_MIRROR_BACKOFF_BASE', '2s')),
      leaseMs: parseDuration(nonEmpty('IMGSRV_MIRROR_LEASE', '60s')),
      sweepIntervalMs: parseDuration(nonEmpty('IMGSRV_MIRROR_SWEEP_INTERVAL', '15s')),
      publishWaitMs: parseDuration(nonEmpty('IMGSRV_MIRROR_PUBLISH_WAIT', '10m')),
    },
    webhooks: {
      allowedHosts: webhookAllowedHosts,
      onlyAllowedHosts: parseBoolean(nonEmpty('IMGSRV_WEBHOOK_ONLY_ALLOWED_HOSTS', 'false')),
      timeoutMs: parseDuration(nonEmpty('IMGSRV_WEBHOOK_TIMEOUT', '10s')),
      retryForMs: parseDuration(nonEmpty('IMGSRV_WEBHOOK_RETRY_FOR', '24h')),
      backoffBaseMs: parseDuration(nonEmpty('IMGSRV_WEBHOOK_BACKOFF_BASE', '5s')),
      backoffCapMs: parseDuration(nonEmpty('IMGSRV_WEBHOOK_BACKOFF_CAP', '1h')),
      leaseMs: parseDuration(nonEmpty('IMGSRV_WEBHOOK_LEASE', '30s')),
      sweepIntervalMs: parseDuration(nonEmpty('IMGSRV_WEBHOOK_SWEEP_INTERVAL', '5s')),
      concurrency: Number(nonEmpty('IMGSRV_WEBHOOK_CONCURRENCY', '10')),
    },
  };
  return deepFreeze(config);
}

/** Like libpq, a URL without a user name connects as the operating-system user. */
function withDefaultUser(url: string): string {
  const u = new URL(url);
  if (u.username) return url;
  u.username = encodeURIComponent(userInfo().username);
  return u.toString();
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
