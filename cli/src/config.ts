import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from './errors';

/** What a command needs to reach the server. */
export interface Connection {
  readonly url: string;
  readonly token?: string;
  readonly caFile?: string;
}

export interface ConfigFile {
  url?: string;
  token?: string;
  ca_file?: string;
}

/** `$IMGSRV_CONFIG`, else `$XDG_CONFIG_HOME/imgsrv/config.json`, else `~/.config/imgsrv/config.json`. */
export function configPath(env: NodeJS.ProcessEnv): string {
  if (env.IMGSRV_CONFIG) return resolve(env.IMGSRV_CONFIG);
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'imgsrv', 'config.json');
}

/** Where interrupted uploads are remembered (beside the config file). */
export function statePath(env: NodeJS.ProcessEnv): string {
  return join(dirname(configPath(env)), 'uploads.json');
}

/** What `imgsrv verify` trusts and has seen, per server (beside the config file). */
export function trustPath(env: NodeJS.ProcessEnv): string {
  return join(dirname(configPath(env)), 'provenance.json');
}

export function readConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  try {
    return JSON.parse(text) as ConfigFile;
  } catch {
    throw new UsageError(`${path} is not valid JSON`);
  }
}

/** Written with mode 0600: it holds a token. */
export function writeConfigFile(path: string, config: ConfigFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}

/** Flags win over the environment, which wins over the config file. */
export function resolveConnection(
  flags: { url?: string; token?: string; 'ca-file'?: string },
  env: NodeJS.ProcessEnv,
  file: ConfigFile,
): Connection {
  const url = flags.url || env.IMGSRV_URL || file.url;
  if (!url) {
    throw new UsageError(
      'no server: pass --url, set IMGSRV_URL, or run `imgsrv login --url URL --token TOKEN`',
    );
  }
  checkServerUrl(url);
  const token = flags.token || env.IMGSRV_TOKEN || file.token || undefined;
  const caFile = flags['ca-file'] || env.IMGSRV_CA_FILE || file.ca_file || undefined;
  if (caFile) checkCaFile(caFile);
  return { url: url.replace(/\/+$/, ''), token, caFile };
}

/** A server URL as the CLI needs it, or a UsageError that says what is wrong with it. */
export function checkServerUrl(url: string): void {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && /^[\w.-]+(:\d+)?(\/\S*)?$/.test(url))
    throw new UsageError(
      `the server URL ${JSON.stringify(url)} has no scheme: write https://${url}`,
    );
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(
      `the server URL ${JSON.stringify(url)} is not a URL (like https://images.example.org)`,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new UsageError(
      `the server URL must start with https:// or http://, not ${parsed.protocol}//`,
    );
  if (parsed.username || parsed.password)
    throw new UsageError('the server URL carries credentials: pass the token with --token instead');
  if (parsed.search || parsed.hash)
    throw new UsageError(`the server URL ${JSON.stringify(url)} must not have a query or fragment`);
  if (/\/v1(\/|$)/.test(parsed.pathname))
    throw new UsageError(
      `the server URL is the server's root: ${parsed.origin}${parsed.pathname.replace(/\/v1(\/.*)?$/, '')}, without /v1`,
    );
}

/**
 * The --ca-file, checked at once: a readable PEM file holding at least one certificate (added
 * to the default trust roots, not replacing them). Anything else is a UsageError naming it.
 */
export function checkCaFile(path: string): void {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--ca-file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`,
    );
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0)
    throw new UsageError(
      `--ca-file ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)${pem.trim() ? '' : ': it is empty'}`,
    );
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      throw new UsageError(`--ca-file ${path} holds a certificate that does not parse`);
    }
  }
}
