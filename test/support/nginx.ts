import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Agent, request } from 'undici';

export interface Nginx {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  readonly pid: number;
  /** The access log (combined format): what the upstream was asked. */
  readonly accessLog: string;
  stop(): Promise<void>;
}

export interface NginxOptions {
  /** The directory served as the site's root. */
  readonly root: string;
  /** Where nginx keeps its configuration, logs and temporary files. */
  readonly workDir: string;
  /** PEM certificate and key the HTTPS listener presents. */
  readonly certFile: string;
  readonly keyFile: string;
  /** Extra directives of the server block (`limit_rate 2m;`, `auth_basic …;`). */
  readonly serverDirectives?: string;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/**
 * nginx from Debian's package serving a directory over HTTPS on loopback, in the foreground (the
 * upstream Simple Streams server of the mirror tests). Static files get nginx's own ETags,
 * Last-Modified, conditional answers and byte ranges.
 */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const port = await freePort();
  const prefix = join(options.workDir, `nginx-${port}`);
  await mkdir(join(prefix, 'logs'), { recursive: true });
  await mkdir(join(prefix, 'tmp'), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  await writeFile(
    conf,
    // As root, nginx's workers would run as nobody, who cannot read the tests' private directories.
    `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
daemon off;
events { worker_connections 256; }
http {
  access_log ${prefix}/logs/access.log;
  sendfile on;
  types { application/json json; }
  default_type application/octet-stream;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate ${options.certFile};
    ssl_certificate_key ${options.keyFile};
    root ${options.root};
    ${options.serverDirectives ?? ''}
  }
}
`,
  );
  const child: ChildProcess = spawn('nginx', ['-p', prefix, '-c', conf], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const url = `https://127.0.0.1:${port}`;
  const agent = new Agent({ connect: { rejectUnauthorized: false } });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    const res = await request(`${url}/`, { dispatcher: agent }).catch(() => null);
    if (res) {
      await res.body.dump();
      break;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not listen on ${url}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await agent.close();
  return {
    url,
    pid: child.pid as number,
    accessLog: join(prefix, 'logs', 'access.log'),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGQUIT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
