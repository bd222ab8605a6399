// The processes a benchmark measures or compares against: imgsrv itself (as `node dist/main.js
// serve`, exactly as operators run it), nginx from Debian's package, and s3rver.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, sleep } from './util.mjs';

const require = createRequire(import.meta.url);
export const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const MAIN = join(ROOT, 'dist', 'main.js');
const { generateApiToken } = require(join(ROOT, 'dist', 'auth', 'api-token.js'));

export const newBootstrapToken = () => generateApiToken().plaintext;

/** Resident set size of a process in bytes (VmRSS), or NaN once it is gone. */
async function ownRssOf(pid) {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function childrenOf(pid) {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text.split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Resident set size in bytes of a process and all its descendants (a supervisor and its API
 * processes with IMGSRV_HTTP_PROCESSES > 1), or NaN once the process is gone.
 */
export async function rssOf(pid) {
  const own = await ownRssOf(pid);
  if (Number.isNaN(own)) return NaN;
  let sum = own;
  for (const child of await childrenOf(pid)) {
    const rss = await rssOf(child);
    if (!Number.isNaN(rss)) sum += rss;
  }
  return sum;
}

/**
 * Samples a process tree's resident memory every `intervalMs` until stopped; answers the baseline
 * (first sample) and the peak seen.
 */
export function sampleRss(pid, intervalMs = 50) {
  let peak = 0;
  let baseline = NaN;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const rss = await rssOf(pid);
      if (Number.isNaN(baseline)) baseline = rss;
      if (rss > peak) peak = rss;
      await sleep(intervalMs);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      const last = await rssOf(pid);
      if (last > peak) peak = last;
      return { baseline, peak, growth: peak - baseline };
    },
  };
}

async function waitFor(url, child, what, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${what} did not become ready at ${url}`);
}

/** Until something accepts TCP connections on the loopback port (a TLS listener, say). */
async function waitForPort(port, child, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const open = await new Promise((resolveOpen) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolveOpen(true);
      });
      socket.once('error', () => resolveOpen(false));
    });
    if (open) return;
    await sleep(100);
  }
  throw new Error(`${what} did not listen on port ${port}`);
}

function stopChild(child, signal = 'SIGTERM', graceMs = 15_000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveStop();
    });
    child.kill(signal);
  });
}

/**
 * One imgsrv process. `shared` holds what a group of processes shares (database, Redis prefix,
 * data directory, blob store, bootstrap token); `roles` picks API, worker or both.
 */
export async function startImgsrv({
  name,
  shared,
  roles = 'api,worker',
  env = {},
  logDir,
  nodeArgs = [],
}) {
  const port = await freePort();
  const metricsPort = await freePort();
  await mkdir(logDir, { recursive: true });
  const logFile = join(logDir, `${name}.log`);
  const out = createWriteStream(logFile);
  const child = spawn(process.execPath, [...nodeArgs, MAIN, 'serve'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      IMGSRV_DATABASE_URL: shared.databaseUrl,
      IMGSRV_REDIS_PREFIX: shared.redisPrefix,
      IMGSRV_DATA_DIR: shared.dataDir,
      IMGSRV_BOOTSTRAP_TOKEN: shared.bootstrapToken,
      IMGSRV_LISTEN: `127.0.0.1:${port}`,
      IMGSRV_TLS_LISTEN: '',
      IMGSRV_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
      IMGSRV_ROLES: roles,
      IMGSRV_LOG_LEVEL: 'warn',
      ...shared.env,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const url = `http://127.0.0.1:${port}`;
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  await waitFor(roles.includes('api') ? `${url}/readyz` : metricsUrl, child, `imgsrv ${name}`);
  return {
    name,
    pid: child.pid,
    url,
    metricsUrl,
    logFile,
    async metrics() {
      const res = await fetch(metricsUrl);
      return parseMetrics(await res.text());
    },
    stop: () => stopChild(child),
    kill: () => stopChild(child, 'SIGKILL'),
  };
}

/** Prometheus text → [{name, labels, value}]. */
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const pair of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[pair[1]] = pair[2];
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return samples;
}

export const sumMetric = (samples, name, filter = () => true) =>
  samples.filter((s) => s.name === name && filter(s.labels)).reduce((a, s) => a + s.value, 0);

/** nginx from Debian's package serving `root` on a loopback port, in the foreground. */
export async function startNginx({ root, workDir, name = 'nginx', tls = null }) {
  const port = await freePort();
  const prefix = join(workDir, name);
  await mkdir(join(prefix, 'logs'), { recursive: true });
  await mkdir(join(prefix, 'tmp'), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  // One worker per core (imgsrv: one process by default, IMGSRV_HTTP_PROCESSES for more);
  // sendfile on, access log off: nginx at its usual best for static files.
  await writeFile(
    conf,
    `worker_processes auto;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  types { application/json json; }
  default_type application/octet-stream;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  server {
    listen 127.0.0.1:${port}${tls ? ' ssl' : ''};
    ${tls ? `ssl_protocols TLSv1.2 TLSv1.3; ssl_certificate ${tls.certFile}; ssl_certificate_key ${tls.keyFile};` : ''}
    root ${root};
  }
}
`,
  );
  const child = spawn('nginx', ['-p', prefix, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  try {
    if (tls) await waitForPort(port, child, 'nginx', 10_000);
    else
      await waitFor(`${url}/`, child, 'nginx', 10_000).catch(async (error) => {
        // 403/404 on "/" still means it listens
        const res = await fetch(`${url}/`).catch(() => null);
        if (!res) throw new Error(`${error.message}: ${stderr}`);
        await res.arrayBuffer();
      });
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { url, pid: child.pid, stop: () => stopChild(child, 'SIGQUIT') };
}

/**
 * Node's own HTTP server with nothing on top, in its own process: a conditional GET with
 * `If-None-Match: etag` answers 304 with the headers imgsrv sends for a streams document (a
 * fresh request id included), anything else 200 `{}`. What Node's HTTP stack alone costs, the
 * ceiling for any server built on it on this machine.
 */
export async function startBareNode({ etag }) {
  const port = await freePort();
  const script = `
    const { createServer } = require('node:http');
    const { randomUUID } = require('node:crypto');
    const etag = process.argv[2];
    createServer((req, res) => {
      const headers = {
        'x-request-id': randomUUID(),
        etag,
        'cache-control': 'public, max-age=60',
        vary: 'Accept-Encoding, Authorization',
      };
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, headers);
        res.end();
      } else {
        res.writeHead(200, { ...headers, 'content-type': 'application/json', 'content-length': 2 });
        res.end('{}');
      }
    }).listen(Number(process.argv[1]), '127.0.0.1');
  `;
  const child = spawn(process.execPath, ['-e', script, String(port), etag], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${url}/`, child, 'bare node:http', 10_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { url, pid: child.pid, stop: () => stopChild(child) };
}

/** s3rver in its own process, so its CPU is not the load generator's. */
export async function startS3rver({ workDir, buckets }) {
  const bucket = buckets[0];
  const port = await freePort();
  const directory = join(workDir, 's3rver');
  await mkdir(directory, { recursive: true });
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bench', 'lib', 's3rver-child.mjs'), String(port), directory, buckets.join(',')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${endpoint}/${bucket}?list-type=2`, child, 's3rver', 20_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${error.message}: ${stderr}`, { cause: error });
  }
  return {
    endpoint,
    bucket,
    pid: child.pid,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    stop: () => stopChild(child),
  };
}
