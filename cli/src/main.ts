import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createApiClient, makeDispatcher } from './client/api-client';
import { version as packageVersion } from '../package.json';
import { alias, job, ls, publish, show } from './commands/catalog';
import { grant, principal, revoke } from './commands/admin';
import { token, whoami } from './commands/auth';
import { importSimplestreams } from './commands/import';
import { du, retention, rm, withdraw } from './commands/lifecycle';
import { push } from './commands/push';
import { remote } from './commands/remote';
import { verify } from './commands/verify';
import {
  configPath,
  readConfigFile,
  resolveConnection,
  statePath,
  writeConfigFile,
} from './config';
import type { CliContext } from './context';
import { CliError, EXIT, UsageError } from './errors';
import { parseSize } from './part-plan';
import { UploadStateStore } from './upload-state';

/**
 * The operator CLI: a client of the HTTP API through the generated client. It loads no server
 * module (no Nest, no TypeORM), so it starts fast.
 */
export const USAGE = `usage: imgsrv [global flags] <command> [args]

commands:
  login --url URL --token TOKEN [--ca-file F]   save the connection in the config file
  whoami                                        the principal behind the token
  push IMAGE VERSION --metadata incus.tar.xz (--disk disk.qcow2 | --rootfs rootfs.squashfs)
       [--arch A] [--os O] [--variant V] [--description D] [--attach NAME=FILE ...]
       [--publish] [--alias NAME ...] [--part-size 16M] [--parallel 4] [--limit-rate 10M]
                                                upload (resumable), compose the draft,
                                                optionally publish, wait and move aliases
  ls [IMAGE]                                    images, or the versions of one image
  show IMAGE[/VERSION]                          an image, or a version's manifest (VERSION
                                                may be an alias)
  publish IMAGE/VERSION [--alias NAME ...] [--no-wait]
  job watch|show|retry|cancel JOB_ID
  alias set IMAGE/VERSION NAME | alias rm IMAGE/NAME | alias ls IMAGE
  withdraw IMAGE VERSION --reason R [--move-aliases-to V] [--immediate]
                                                take a published version out of the
                                                documents (410 after the grace, or now)
  retention set IMAGE (--keep-latest N | --keep-days N) [--no-keep-aliased]
  retention show|preview|rm IMAGE               an image's retention policy
  du                                            storage: each image's own bytes, the total
  rm IMAGE                                      delete an image whose versions are all
                                                drafts or withdrawn
  principal create NAME [--kind service|user] | principal ls [--name N]
  principal show PRINCIPAL                      PRINCIPAL: a display name or an id
  grant ROLE --to PRINCIPAL [--images GLOBS] [--replace]
                                                add image patterns (comma-separated) to
                                                the grant, granting the role if missing
                                                (default *); --replace sets them exactly
  revoke ROLE --from PRINCIPAL [--images GLOBS] remove those patterns, or the whole role
  token create --principal PRINCIPAL [--name N] [--expires 30d] | token revoke TOKEN_ID
  verify IMAGE VERSION [--file PATH ...] [--incus-fingerprint FP ...] [--key PEM ...]
                                                check the version's signed publication
                                                record, its place in the transparency log,
                                                the log's consistency with what this client
                                                saw before, the manifest served now, and
                                                that the files are what the record names
  import simplestreams SOURCE [--filter os=debian,arch=amd64] [--latest N]
       [--alias-from-source] [--source-ca-file F]
                                                copy a Simple Streams tree (https URL or
                                                directory) in, verifying every sha256;
                                                a second run moves nothing
  remote add NAME URL [--filter os=debian,arch=amd64,type=vm,alias=GLOB]
       [--template '{os}-{release}'] [--schedule CRON] [--keep-latest N]
       [--username U --password-file F] [--source-ca-file F] [--concurrency N]
       [--limit-rate 10M]                       mirror an upstream Simple Streams server
                                                (password also from IMGSRV_REMOTE_PASSWORD)
  remote ls | remote show NAME | remote rm NAME
  remote sync NAME [--wait]                     start a sync (or join the running one);
                                                --wait follows its progress to the end
  remote syncs NAME                             the remote's latest syncs

global flags:
  --url URL        server (env IMGSRV_URL, or the config file)
  --token TOKEN    API token (env IMGSRV_TOKEN, or the config file)
  --ca-file F      also trust the CAs in this PEM file (env IMGSRV_CA_FILE, or the config file)
  --json           one JSON document on stdout, for scripts
  --quiet          no progress
  -h, --help       this text

The config file is $IMGSRV_CONFIG, else $XDG_CONFIG_HOME/imgsrv/config.json
(~/.config/imgsrv/config.json). Progress goes to stderr: a redrawn bar on a terminal,
plain lines otherwise.

exit codes: 0 success, 1 unexpected failure, 2 usage error, 3 auth error (401/403),
            4 other client error (not found, conflict, invalid content), 5 server or
            network error, 6 verify: a check failed, 7 verify: verified but withdrawn
`;

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  'ca-file': { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  metadata: { type: 'string' },
  disk: { type: 'string' },
  rootfs: { type: 'string' },
  arch: { type: 'string' },
  os: { type: 'string' },
  variant: { type: 'string' },
  description: { type: 'string' },
  attach: { type: 'string', multiple: true },
  publish: { type: 'boolean' },
  alias: { type: 'string', multiple: true },
  'part-size': { type: 'string' },
  parallel: { type: 'string' },
  'limit-rate': { type: 'string' },
  'no-wait': { type: 'boolean' },
  name: { type: 'string' },
  expires: { type: 'string' },
  filter: { type: 'string' },
  latest: { type: 'string' },
  'alias-from-source': { type: 'boolean' },
  'source-ca-file': { type: 'string' },
  reason: { type: 'string' },
  immediate: { type: 'boolean' },
  'move-aliases-to': { type: 'string' },
  'keep-latest': { type: 'string' },
  'keep-days': { type: 'string' },
  'no-keep-aliased': { type: 'boolean' },
  kind: { type: 'string' },
  to: { type: 'string' },
  from: { type: 'string' },
  images: { type: 'string' },
  replace: { type: 'boolean' },
  principal: { type: 'string' },
  file: { type: 'string', multiple: true },
  'incus-fingerprint': { type: 'string', multiple: true },
  key: { type: 'string', multiple: true },
  template: { type: 'string' },
  schedule: { type: 'string' },
  username: { type: 'string' },
  'password-file': { type: 'string' },
  concurrency: { type: 'string' },
  wait: { type: 'boolean' },
} satisfies ParseArgsConfig['options'];

type Flags = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function sizeFlag(flags: Flags, name: 'part-size' | 'limit-rate'): number | undefined {
  const text = flags[name];
  if (text === undefined) return undefined;
  try {
    return parseSize(text);
  } catch {
    throw new UsageError(`--${name} takes a size like 16M, not ${JSON.stringify(text)}`);
  }
}

function countFlag(flags: Flags, name: 'parallel' | 'latest', fallback: number): number {
  const text = flags[name];
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < (name === 'parallel' ? 1 : 0)) {
    throw new UsageError(`--${name} takes a whole number, not ${JSON.stringify(text)}`);
  }
  return n;
}

export interface Io {
  readonly stdout: CliContext['stdout'];
  readonly stderr: CliContext['stderr'];
  readonly env: NodeJS.ProcessEnv;
}

export async function run(argv: string[], io: Io): Promise<number> {
  const { values: flags, positionals } = parse(argv);
  const [command, ...args] = positionals;
  if (flags.version) {
    io.stdout.write(`imgsrv ${packageVersion}\n`);
    return EXIT.ok;
  }
  if (flags.help || !command || command === 'help') {
    io.stdout.write(USAGE);
    return command || flags.help ? EXIT.ok : EXIT.usage;
  }
  const file = configPath(io.env);
  if (command === 'login') {
    if (!flags.url || !flags.token) throw new UsageError('login needs --url and --token');
    const connection = resolveConnection(flags, {}, {});
    const ctx = makeContext(connection, flags, io);
    await whoami({ ...ctx, json: true, stdout: { write: () => true } });
    writeConfigFile(file, {
      url: connection.url,
      token: connection.token,
      ...(connection.caFile ? { ca_file: connection.caFile } : {}),
    });
    io.stderr.write(`saved ${connection.url} in ${file}\n`);
    if (flags.json)
      io.stdout.write(`${JSON.stringify({ url: connection.url, config_file: file })}\n`);
    return EXIT.ok;
  }
  const ctx = makeContext(resolveConnection(flags, io.env, readConfigFile(file)), flags, io);
  const upload = {
    partSize: sizeFlag(flags, 'part-size'),
    parallel: countFlag(flags, 'parallel', 4),
    limitRate: sizeFlag(flags, 'limit-rate') ?? 0,
    state: new UploadStateStore(statePath(io.env)),
  };
  const need = (n: number, what: string) => {
    if (args.length < n) throw new UsageError(`${command} takes ${what}`);
  };
  switch (command) {
    case 'whoami':
      await whoami(ctx);
      break;
    case 'push':
      need(2, 'IMAGE VERSION');
      if (!flags.metadata) throw new UsageError('push needs --metadata incus.tar.xz');
      await push(ctx, {
        image: args[0],
        version: args[1],
        metadata: flags.metadata,
        disk: flags.disk,
        rootfs: flags.rootfs,
        arch: flags.arch,
        os: flags.os,
        variant: flags.variant,
        description: flags.description,
        attach: flags.attach ?? [],
        publish: Boolean(flags.publish),
        aliases: flags.alias ?? [],
        upload,
      });
      break;
    case 'ls':
      await ls(ctx, args[0]);
      break;
    case 'show':
      need(1, 'IMAGE[/VERSION]');
      await show(ctx, args[0]);
      break;
    case 'publish':
      need(1, 'IMAGE/VERSION');
      await publish(ctx, args[0], flags.alias ?? [], !flags['no-wait']);
      break;
    case 'job':
      need(2, 'watch|show|retry|cancel JOB_ID');
      await job(ctx, args[0], args[1]);
      break;
    case 'alias':
      need(1, 'set, rm or ls');
      await alias(ctx, args[0], args.slice(1));
      break;
    case 'withdraw':
      need(2, 'IMAGE VERSION');
      await withdraw(ctx, args[0], args[1], {
        reason: flags.reason,
        immediate: Boolean(flags.immediate),
        moveAliasesTo: flags['move-aliases-to'],
      });
      break;
    case 'retention':
      need(1, 'set, show, preview or rm');
      await retention(ctx, args[0], args[1], {
        keepLatest: flags['keep-latest'],
        keepDays: flags['keep-days'],
        keepAliased: !flags['no-keep-aliased'],
      });
      break;
    case 'du':
      await du(ctx);
      break;
    case 'rm':
      need(1, 'IMAGE');
      await rm(ctx, args[0]);
      break;
    case 'token':
      need(1, 'create or revoke');
      await token(ctx, args[0], args.slice(1), {
        name: flags.name,
        expires: flags.expires,
        principal: flags.principal,
      });
      break;
    case 'principal':
      need(1, 'create, ls or show');
      await principal(ctx, args[0], args.slice(1), { kind: flags.kind, name: flags.name });
      break;
    case 'grant':
      need(1, 'ROLE');
      await grant(ctx, args[0], { to: flags.to, images: flags.images, replace: flags.replace });
      break;
    case 'revoke':
      need(1, 'ROLE');
      await revoke(ctx, args[0], { from: flags.from, images: flags.images });
      break;
    case 'verify':
      need(2, 'IMAGE VERSION');
      await verify(ctx, args[0], args[1], {
        files: flags.file ?? [],
        incusFingerprints: flags['incus-fingerprint'] ?? [],
        keyFiles: flags.key ?? [],
      });
      break;
    case 'import':
      if (args[0] !== 'simplestreams' || !args[1]) {
        throw new UsageError('import takes simplestreams SOURCE');
      }
      await importSimplestreams(ctx, {
        source: args[1],
        filter: flags.filter,
        latest: countFlag(flags, 'latest', 0),
        aliasFromSource: Boolean(flags['alias-from-source']),
        sourceCaFile: flags['source-ca-file'],
        upload,
      });
      break;
    case 'remote':
      need(1, 'add, ls, show, rm, sync or syncs');
      await remote(ctx, args[0], args.slice(1), {
        filter: flags.filter,
        template: flags.template,
        schedule: flags.schedule,
        keepLatest: flags['keep-latest'],
        username: flags.username,
        passwordFile: flags['password-file'],
        sourceCaFile: flags['source-ca-file'],
        concurrency: flags.concurrency,
        limitRate: sizeFlag(flags, 'limit-rate'),
        wait: Boolean(flags.wait),
      });
      break;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
  return EXIT.ok;
}

function makeContext(connection: CliContext['connection'], flags: Flags, io: Io): CliContext {
  const dispatcher = makeDispatcher(connection.caFile);
  return {
    client: createApiClient({
      baseUrl: connection.url,
      token: connection.token,
      dispatcher,
      userAgent: `imgsrv-cli/${packageVersion}`,
    }),
    dispatcher,
    connection,
    json: Boolean(flags.json),
    quiet: Boolean(flags.quiet),
    env: io.env,
    stdout: io.stdout,
    stderr: io.stderr,
  };
}

/** Prints the failure (a problem readably, or as JSON with --json) and gives the exit code. */
export function report(error: unknown, io: Io, json: boolean): number {
  if (error instanceof CliError) {
    if (json && error.problem) {
      io.stdout.write(`${JSON.stringify({ error: error.problem }, null, 2)}\n`);
    }
    io.stderr.write(`imgsrv: ${error.message}\n`);
    if (error instanceof UsageError) io.stderr.write("run 'imgsrv --help' for usage\n");
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.stderr.write(`imgsrv: unexpected error: ${message}\n`);
  return EXIT.failure;
}
