import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { TestApp } from './test-app';

export const CLI = resolve(__dirname, '../../bin/imgsrv.js');
const run = promisify(execFile);

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of a CLI run: its own config directory, the app's HTTP listener. */
export function cliEnv(home: string, app: TestApp, token?: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    IMGSRV_CONFIG: join(home, 'config.json'),
    IMGSRV_URL: app.url,
    ...(token ? { IMGSRV_TOKEN: token } : {}),
  };
}

/** Spawns `bin/imgsrv.js` (the built CLI) as a real process. */
export function startCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): ChildProcess & {
  done: Promise<CliResult>;
  output: { stdout: string; stderr: string };
} {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output.stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output.stderr += d));
  const done = new Promise<CliResult>((res) =>
    child.on('close', (code) => res({ code, ...output })),
  );
  return Object.assign(child, { done, output });
}

export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return startCli(args, env).done;
}

/** The real `incus` client with a throwaway config, trusting `certFile`. */
export async function incus(conf: string, certFile: string, args: string[]): Promise<string> {
  const { stdout } = await run('incus', args, {
    env: {
      PATH: process.env.PATH,
      HOME: conf,
      INCUS_CONF: join(conf, 'config'),
      INCUS_CACHE: join(conf, 'cache'),
      SSL_CERT_FILE: certFile,
    },
    timeout: 60_000,
  });
  return stdout;
}

/** `imgsrv_upload_bytes_received_total` from the app's metrics listener. */
export async function bytesReceived(app: TestApp): Promise<number> {
  const text = await (await fetch(app.server.urls.metrics as string)).text();
  const m = /^imgsrv_upload_bytes_received_total (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
  if (!m) throw new Error('imgsrv_upload_bytes_received_total is not on /metrics');
  return Number(m[1]);
}
