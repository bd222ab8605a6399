import { IsIn, IsOptional, IsString, Matches, ValidateIf } from 'class-validator';

/** host:port, [v6]:port or :port; the empty string (allowed where noted) disables a listener. */
export const LISTEN_PATTERN = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$/;
/** 250ms, 30s, 5m, 24h, 7d */
export const DURATION_PATTERN = /^\d+(?:ms|s|m|h|d)$/;
/** A byte count with its unit: 0B, 512KiB, 64MiB, 1GiB. */
export const SIZE_PATTERN = /^\d{1,7}(B|KiB|MiB|GiB)$/;
const BOOLEAN_VALUES = ['true', 'false', '1', '0', 'yes', 'no'];
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/**
 * Every environment variable imgsrv reads. Values are strings as the environment gives them;
 * app-config.ts applies defaults and turns them into the typed configuration.
 */
export class EnvSchema {
  @IsOptional()
  @Matches(LISTEN_PATTERN, { message: 'must be host:port, or empty to disable' })
  @ValidateIf((_, v) => v !== '')
  IMGSRV_LISTEN?: string;

  @IsOptional()
  @Matches(LISTEN_PATTERN, { message: 'must be host:port, or empty to disable' })
  @ValidateIf((_, v) => v !== '')
  IMGSRV_TLS_LISTEN?: string;

  @IsOptional()
  @IsIn(BOOLEAN_VALUES, { message: 'must be true or false' })
  IMGSRV_SENDFILE?: string;

  @IsOptional()
  @Matches(/^(?:auto|[1-9]\d?)$/, { message: 'must be a whole number from 1 to 99, or auto' })
  IMGSRV_HTTP_PROCESSES?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 30s or 2m' })
  IMGSRV_HTTP_IDLE_TIMEOUT?: string;

  @IsOptional() @IsString() IMGSRV_TLS_CERT_FILE?: string;
  @IsOptional() @IsString() IMGSRV_TLS_KEY_FILE?: string;
  @IsOptional() @IsString() IMGSRV_DATA_DIR?: string;

  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/.+/, { message: 'must be a postgres:// URL' })
  IMGSRV_DATABASE_URL?: string;

  @IsOptional()
  @Matches(/^\d{1,3}$/, { message: 'must be a whole number' })
  IMGSRV_DATABASE_POOL_SIZE?: string;

  @IsOptional()
  @Matches(/^rediss?:\/\/.+/, { message: 'must be a redis:// or rediss:// URL' })
  IMGSRV_REDIS_URL?: string;

  @IsOptional()
  @Matches(/^[A-Za-z0-9._:-]{1,64}$/, { message: 'must be 1-64 characters of A-Z a-z 0-9 . _ : -' })
  IMGSRV_REDIS_PREFIX?: string;

  @IsOptional()
  @Matches(/^(api|worker)(,(api|worker))*$/, {
    message: 'must be a comma-separated list of api and worker',
  })
  IMGSRV_ROLES?: string;

  @IsOptional() @IsIn(['fs', 's3'], { message: 'must be fs or s3' }) IMGSRV_BLOB_STORE?: string;

  @IsOptional()
  @Matches(/^https?:\/\/.+/, { message: 'must be an http(s) URL' })
  @ValidateIf((_, v) => v !== '')
  IMGSRV_S3_ENDPOINT?: string;
  @IsOptional() @IsString() IMGSRV_S3_BUCKET?: string;
  @IsOptional() @IsString() IMGSRV_S3_REGION?: string;
  @IsOptional() @IsString() IMGSRV_S3_ACCESS_KEY_ID?: string;
  @IsOptional() @IsString() IMGSRV_S3_SECRET_ACCESS_KEY?: string;
  @IsOptional()
  @IsIn(BOOLEAN_VALUES, { message: 'must be true or false' })
  IMGSRV_S3_FORCE_PATH_STYLE?: string;

  @IsOptional()
  @Matches(LISTEN_PATTERN, { message: 'must be host:port, or empty to disable' })
  @ValidateIf((_, v) => v !== '')
  IMGSRV_METRICS_LISTEN?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 30s' })
  IMGSRV_METRICS_MAX_AGE?: string;

  @IsOptional()
  @IsIn(BOOLEAN_VALUES, { message: 'must be true or false' })
  IMGSRV_PUBLIC_READ?: string;

  @IsOptional()
  @Matches(/^imgsrv_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/, {
    message: 'must be an API token: imgsrv_ + 16 of [a-z0-9] + _ + 43 of [A-Za-z0-9_-]',
  })
  @ValidateIf((_, v) => v !== '')
  IMGSRV_BOOTSTRAP_TOKEN?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 12h or 7d' })
  IMGSRV_BOOTSTRAP_TOKEN_TTL?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 90d' })
  IMGSRV_TOKEN_MAX_LIFETIME?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 5s' })
  IMGSRV_OIDC_FETCH_TIMEOUT?: string;

  @IsOptional()
  @IsIn(BOOLEAN_VALUES, { message: 'must be true or false' })
  IMGSRV_OIDC_ALLOW_INSECURE_LOOPBACK?: string;

  /** Checked host by host in app-config.ts (the URL parser decides what a host is). */
  @IsOptional() @IsString() IMGSRV_OIDC_ALLOWED_ISSUER_HOSTS?: string;

  @IsOptional()
  @IsIn(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` })
  IMGSRV_LOG_LEVEL?: string;
  @IsOptional()
  @IsIn(['auto', 'json', 'text'], { message: 'must be auto, json or text' })
  IMGSRV_LOG_FORMAT?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 500ms, 30s, 5m' })
  IMGSRV_SHUTDOWN_TIMEOUT?: string;

  @IsOptional()
  @Matches(/^[1-9]\d{0,2}$/, { message: 'must be a whole number from 1 to 999' })
  IMGSRV_WORKER_CONCURRENCY?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 30s' })
  IMGSRV_PUBLISH_LEASE?: string;

  @IsOptional()
  @Matches(/^[1-9]\d?$/, { message: 'must be a whole number from 1 to 99' })
  IMGSRV_PUBLISH_MAX_ATTEMPTS?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 1s' })
  IMGSRV_PUBLISH_BACKOFF_BASE?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 1m' })
  IMGSRV_PUBLISH_BACKOFF_CAP?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 5s' })
  IMGSRV_PUBLISH_SWEEP_INTERVAL?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 24h' })
  IMGSRV_UPLOAD_TTL?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 20s' })
  IMGSRV_UPLOAD_VERIFY_WAIT?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 60s' })
  IMGSRV_UPLOAD_VERIFY_LEASE?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 24h' })
  IMGSRV_CAS_GC_GRACE?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 1h' })
  IMGSRV_CAS_GC_DELETE_DELAY?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 1m (0s disables)' })
  IMGSRV_CAS_SWEEP_INTERVAL?: string;

  @IsOptional()
  @Matches(SIZE_PATTERN, { message: 'must be a size such as 64MiB (0B disables)' })
  IMGSRV_BLOB_PUT_MAX_SIZE?: string;

  /** Checked host by host in app-config.ts (the URL parser decides what a host is). */
  @IsOptional() @IsString() IMGSRV_WEBHOOK_ALLOWED_HOSTS?: string;

  @IsOptional()
  @IsIn(BOOLEAN_VALUES, { message: 'must be true or false' })
  IMGSRV_WEBHOOK_ONLY_ALLOWED_HOSTS?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 10s' })
  IMGSRV_WEBHOOK_TIMEOUT?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 24h' })
  IMGSRV_WEBHOOK_RETRY_FOR?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 5s' })
  IMGSRV_WEBHOOK_BACKOFF_BASE?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 1h' })
  IMGSRV_WEBHOOK_BACKOFF_CAP?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 30s' })
  IMGSRV_WEBHOOK_LEASE?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 5s' })
  IMGSRV_WEBHOOK_SWEEP_INTERVAL?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 24h' })
  IMGSRV_WITHDRAW_GRACE?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 1m' })
  IMGSRV_PURGE_INTERVAL?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 10s' })
  IMGSRV_RETENTION_INTERVAL?: string;

  @IsOptional()
  @IsIn(BOOLEAN_VALUES, { message: 'must be true or false' })
  IMGSRV_UI?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 8h' })
  IMGSRV_UI_SESSION_TTL?: string;

  @IsOptional()
  @Matches(/^[1-9]\d{0,2}$/, { message: 'must be a whole number from 1 to 999' })
  IMGSRV_WEBHOOK_CONCURRENCY?: string;

  @IsOptional()
  @IsIn(BOOLEAN_VALUES, { message: 'must be true or false' })
  IMGSRV_PROVENANCE_RECORDS?: string;

  @IsOptional() @IsString() IMGSRV_PROVENANCE_KEY_FILE?: string;
  @IsOptional() @IsString() IMGSRV_PROVENANCE_RETIRED_KEY_FILES?: string;

  @IsOptional()
  @Matches(/^[^\s+]+$/, {
    message: 'must be a name without spaces or plus signs, such as images.example.com/log',
  })
  IMGSRV_PROVENANCE_LOG_ORIGIN?: string;

  @IsOptional() @IsString() IMGSRV_MIRROR_CREDENTIALS_KEY_FILE?: string;

  @IsOptional()
  @Matches(SIZE_PATTERN, { message: 'must be a size such as 64MiB' })
  IMGSRV_MIRROR_PART_SIZE?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 60s' })
  IMGSRV_MIRROR_IDLE_TIMEOUT?: string;

  @IsOptional()
  @Matches(/^[1-9]\d?$/, { message: 'must be a whole number from 1 to 99' })
  IMGSRV_MIRROR_ATTEMPTS?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 2s' })
  IMGSRV_MIRROR_BACKOFF_BASE?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 60s' })
  IMGSRV_MIRROR_LEASE?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 15s' })
  IMGSRV_MIRROR_SWEEP_INTERVAL?: string;

  @IsOptional()
  @Matches(DURATION_PATTERN, { message: 'must be a duration such as 10m' })
  IMGSRV_MIRROR_PUBLISH_WAIT?: string;
}
