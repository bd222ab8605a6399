import { availableParallelism } from 'node:os';
import { ConfigError, loadConfig, parseDuration, parseListen } from './app-config';

describe('loadConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    const config = loadConfig({}, '/srv');
    expect(config.http.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(config.http.tlsListen).toEqual({ host: '127.0.0.1', port: 8443 });
    expect(config.metrics.listen).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(config.dataDir).toBe('/srv/var');
    expect(config.blobStore).toEqual({ driver: 'fs', root: '/srv/var/blobs' });
    expect(config.redis).toEqual({ url: 'redis://127.0.0.1:6379', prefix: 'imgsrv' });
    expect(config.roles).toEqual({ api: true, worker: true });
    expect(config.auth.publicRead).toBe(true);
    expect(config.http.sendfile).toBe(true);
    expect(new URL(config.database.url).pathname).toBe('/imgsrv');
    expect(new URL(config.database.url).username).not.toBe('');
  });

  it('lists every problem at once', () => {
    let error: unknown;
    try {
      loadConfig({ IMGSRV_LISTEN: 'nonsense', IMGSRV_BLOB_STORE: 's4', IMGSRV_LOG_LEVEL: 'loud' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/IMGSRV_LISTEN: must be host:port/);
    expect(problems.join('\n')).toMatch(/IMGSRV_BLOB_STORE: must be fs or s3/);
    expect(problems.join('\n')).toMatch(/IMGSRV_LOG_LEVEL/);
  });

  it('disables a listener given the empty string', () => {
    const config = loadConfig({ IMGSRV_TLS_LISTEN: '', IMGSRV_METRICS_LISTEN: '' });
    expect(config.http.tlsListen).toBeNull();
    expect(config.metrics.listen).toBeNull();
  });

  it('refuses an api role without any listener', () => {
    expect(() => loadConfig({ IMGSRV_LISTEN: '', IMGSRV_TLS_LISTEN: '' })).toThrow(
      /at least one listener/,
    );
    expect(
      loadConfig({ IMGSRV_LISTEN: '', IMGSRV_TLS_LISTEN: '', IMGSRV_ROLES: 'worker' }).roles,
    ).toEqual({
      api: false,
      worker: true,
    });
  });

  it('requires a bucket for the s3 store and reads its settings', () => {
    expect(() => loadConfig({ IMGSRV_BLOB_STORE: 's3' })).toThrow(/IMGSRV_S3_BUCKET/);
    const config = loadConfig({
      IMGSRV_BLOB_STORE: 's3',
      IMGSRV_S3_BUCKET: 'b',
      IMGSRV_S3_ENDPOINT: 'http://127.0.0.1:9000',
      IMGSRV_S3_FORCE_PATH_STYLE: 'false',
    });
    expect(config.blobStore).toMatchObject({
      driver: 's3',
      bucket: 'b',
      region: 'us-east-1',
      forcePathStyle: false,
    });
  });

  it('reads the auth settings and refuses a malformed bootstrap token', () => {
    const config = loadConfig({ IMGSRV_TOKEN_MAX_LIFETIME: '90d', IMGSRV_PUBLIC_READ: 'false' });
    expect(config.auth).toMatchObject({
      publicRead: false,
      tokenMaxLifetimeMs: 90 * 86_400_000,
      bootstrapTokenTtlMs: 86_400_000,
      oidcAllowInsecureLoopback: false,
    });
    expect(() => loadConfig({ IMGSRV_BOOTSTRAP_TOKEN: 'letmein' })).toThrow(
      /IMGSRV_BOOTSTRAP_TOKEN: must be an API token/,
    );
  });

  it('reads the OIDC hosts allowed although internal, in URL-hostname form', () => {
    expect(loadConfig({}).auth.oidcAllowedIssuerHosts).toEqual([]);
    expect(
      loadConfig({ IMGSRV_OIDC_ALLOWED_ISSUER_HOSTS: '127.0.0.1, ::1,LOCALHOST.,0x7f.2,' }).auth
        .oidcAllowedIssuerHosts,
    ).toEqual(['127.0.0.1', '[::1]', 'localhost', '127.0.0.2']);
    expect(() =>
      loadConfig({ IMGSRV_OIDC_ALLOWED_ISSUER_HOSTS: 'a.example,127.0.0.1:8443' }),
    ).toThrow(
      /IMGSRV_OIDC_ALLOWED_ISSUER_HOSTS: not a host name or address \(got "127.0.0.1:8443"\)/,
    );
  });

  it('logs at info, as text on a terminal and JSON otherwise, unless told; refuses other values', () => {
    expect(loadConfig({}).log).toEqual({ level: 'info', format: 'auto' });
    expect(loadConfig({ IMGSRV_LOG_FORMAT: 'text', IMGSRV_LOG_LEVEL: 'debug' }).log).toEqual({
      level: 'debug',
      format: 'text',
    });
    expect(() => loadConfig({ IMGSRV_LOG_FORMAT: 'yaml' })).toThrow(
      /IMGSRV_LOG_FORMAT: must be auto, json or text/,
    );
  });

  it('runs one API process unless asked for more, auto meaning one per CPU', () => {
    expect(loadConfig({}).http.processes).toBe(1);
    expect(loadConfig({ IMGSRV_HTTP_PROCESSES: '4' }).http.processes).toBe(4);
    expect(loadConfig({ IMGSRV_HTTP_PROCESSES: 'auto' }).http.processes).toBe(
      availableParallelism(),
    );
    for (const bad of ['0', '-1', '2.5', '100', 'many'])
      expect(() => loadConfig({ IMGSRV_HTTP_PROCESSES: bad })).toThrow(
        /IMGSRV_HTTP_PROCESSES: must be a whole number from 1 to 99, or auto/,
      );
    expect(() => loadConfig({ IMGSRV_HTTP_PROCESSES: '2', IMGSRV_ROLES: 'worker' })).toThrow(
      /IMGSRV_HTTP_PROCESSES: more than one process needs the api role/,
    );
    expect(loadConfig({ IMGSRV_HTTP_PROCESSES: '1', IMGSRV_ROLES: 'worker' }).http.processes).toBe(
      1,
    );
  });

  it('turns sendfile off, and refuses what is not a boolean', () => {
    expect(loadConfig({ IMGSRV_SENDFILE: 'false' }).http.sendfile).toBe(false);
    expect(() => loadConfig({ IMGSRV_SENDFILE: 'maybe' })).toThrow(
      /IMGSRV_SENDFILE: must be true or false/,
    );
  });

  it('closes idle connections after 2 minutes unless told otherwise, never under a second', () => {
    expect(loadConfig({}).http.idleTimeoutMs).toBe(120_000);
    expect(loadConfig({ IMGSRV_HTTP_IDLE_TIMEOUT: '45s' }).http.idleTimeoutMs).toBe(45_000);
    expect(() => loadConfig({ IMGSRV_HTTP_IDLE_TIMEOUT: '500ms' })).toThrow(
      /IMGSRV_HTTP_IDLE_TIMEOUT: must be at least 1s \(got "500ms"\)/,
    );
    expect(() => loadConfig({ IMGSRV_HTTP_IDLE_TIMEOUT: 'forever' })).toThrow(
      /IMGSRV_HTTP_IDLE_TIMEOUT: must be a duration such as 30s or 2m/,
    );
  });

  it('requires a TLS certificate and key together', () => {
    expect(() => loadConfig({ IMGSRV_TLS_CERT_FILE: '/c.pem' })).toThrow(/set both or neither/);
  });

  it('rejects ports out of range and unknown roles', () => {
    expect(() => loadConfig({ IMGSRV_LISTEN: '127.0.0.1:70000' })).toThrow(/port must be 0-65535/);
    expect(() => loadConfig({ IMGSRV_ROLES: 'api,cron' })).toThrow(/IMGSRV_ROLES/);
  });

  it('keeps a user name given in the database URL, and returns a frozen object', () => {
    const config = loadConfig({ IMGSRV_DATABASE_URL: 'postgres://app:pw@db:5432/x' });
    expect(config.database.url).toBe('postgres://app:pw@db:5432/x');
    expect(Object.isFrozen(config.http)).toBe(true);
  });
});

describe('the cas settings', () => {
  it('default to a day for uploads and GC grace, and read overrides', () => {
    expect(loadConfig({}).cas).toEqual({
      uploadTtlMs: 86_400_000,
      verifyWaitMs: 20_000,
      verifyLeaseMs: 60_000,
      gcGraceMs: 86_400_000,
      gcDeleteDelayMs: 3_600_000,
      sweepIntervalMs: 60_000,
      putMaxBytes: 64 * 1024 * 1024,
    });
    const config = loadConfig({
      IMGSRV_BLOB_PUT_MAX_SIZE: '512KiB',
      IMGSRV_UPLOAD_TTL: '2h',
      IMGSRV_UPLOAD_VERIFY_WAIT: '0s',
      IMGSRV_CAS_GC_GRACE: '7d',
      IMGSRV_CAS_SWEEP_INTERVAL: '0s',
    });
    expect(config.cas).toMatchObject({
      uploadTtlMs: 7_200_000,
      verifyWaitMs: 0,
      gcGraceMs: 604_800_000,
      sweepIntervalMs: 0,
      putMaxBytes: 512 * 1024,
    });
    expect(loadConfig({ IMGSRV_BLOB_PUT_MAX_SIZE: '0B' }).cas.putMaxBytes).toBe(0);
    expect(loadConfig({ IMGSRV_BLOB_PUT_MAX_SIZE: '1GiB' }).cas.putMaxBytes).toBe(1024 ** 3);
  });

  it('refuses sizes it cannot read', () => {
    for (const bad of ['64', '64MB', '-1MiB', '1.5GiB', ''])
      expect(() => loadConfig({ IMGSRV_BLOB_PUT_MAX_SIZE: bad })).toThrow(
        /IMGSRV_BLOB_PUT_MAX_SIZE/,
      );
  });

  it('refuses durations it cannot read', () => {
    expect(() => loadConfig({ IMGSRV_UPLOAD_TTL: '1 day', IMGSRV_CAS_GC_GRACE: '-1h' })).toThrow(
      /IMGSRV_UPLOAD_TTL[\s\S]*IMGSRV_CAS_GC_GRACE|IMGSRV_CAS_GC_GRACE[\s\S]*IMGSRV_UPLOAD_TTL/,
    );
  });
});

describe('parseListen and parseDuration', () => {
  it('parses hosts, IPv6 and wildcard listeners', () => {
    expect(parseListen('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(parseListen(':80')).toEqual({ host: '0.0.0.0', port: 80 });
  });

  it('parses durations in every unit', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(() => parseDuration('7w')).toThrow();
  });
});

describe('webhook settings', () => {
  it('defaults to a 10 s timeout, a day of retries and no internal host allowed', () => {
    expect(loadConfig({}).webhooks).toEqual({
      allowedHosts: [],
      onlyAllowedHosts: false,
      timeoutMs: 10_000,
      retryForMs: 86_400_000,
      backoffBaseMs: 5_000,
      backoffCapMs: 3_600_000,
      leaseMs: 30_000,
      sweepIntervalMs: 5_000,
      concurrency: 10,
    });
  });

  it('reads allowed hosts in the URL parser’s form and refuses what is not a host', () => {
    const config = loadConfig({
      IMGSRV_WEBHOOK_ALLOWED_HOSTS: ' 127.0.0.1, ::1,[::2], Hooks.Example.,2130706433 ',
    });
    expect(config.webhooks.allowedHosts).toEqual([
      '127.0.0.1',
      '[::1]',
      '[::2]',
      'hooks.example',
      '127.0.0.1',
    ]);
    expect(() => loadConfig({ IMGSRV_WEBHOOK_ALLOWED_HOSTS: 'a b,x:80,u@h' })).toThrow(
      /IMGSRV_WEBHOOK_ALLOWED_HOSTS: not a host[\s\S]*"x:80"[\s\S]*"u@h"/,
    );
  });

  it('refuses zero timeouts, leases and sweep intervals', () => {
    expect(() =>
      loadConfig({ IMGSRV_WEBHOOK_TIMEOUT: '0s', IMGSRV_WEBHOOK_SWEEP_INTERVAL: '0ms' }),
    ).toThrow(/IMGSRV_WEBHOOK_TIMEOUT: must be more than 0[\s\S]*IMGSRV_WEBHOOK_SWEEP_INTERVAL/);
  });
});
