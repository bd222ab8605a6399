import { readFile } from 'node:fs/promises';
import type { Schemas } from '../client/api-client';
import { call } from '../api';
import { emitJson, note, say, type CliContext } from '../context';
import { CliError, EXIT, UsageError } from '../errors';
import { formatBytes } from '../progress';
import { parseFilter } from '../../../src/simplestreams/reader';

type Remote = Schemas['RemoteResponseDto'];
type Sync = Schemas['SyncResponseDto'];
type SyncDetail = Schemas['SyncDetailResponseDto'];

export interface RemoteAddOptions {
  readonly filter?: string;
  readonly template?: string;
  readonly schedule?: string;
  readonly keepLatest?: string;
  readonly username?: string;
  readonly passwordFile?: string;
  readonly sourceCaFile?: string;
  readonly concurrency?: string;
  readonly limitRate?: number;
  readonly wait: boolean;
}

function whole(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--${flag} takes a whole number from 1, not ${JSON.stringify(text)}`);
  return n;
}

/** `--filter os=debian,arch=amd64,type=vm,alias=debian/12*` as the API's filters. */
function filtersOf(text: string | undefined): Record<string, string> {
  let parsed: Record<string, string>;
  try {
    parsed = parseFilter(text);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if ('image' in parsed)
    throw new UsageError(
      'a remote filters by os, release, arch, variant, type and alias (not image)',
    );
  const { arch, ...rest } = parsed;
  return { ...rest, ...(arch === undefined ? {} : { architecture: arch }) };
}

/**
 * The password, never from the command line (other users see it in the process list): from
 * --password-file, or IMGSRV_REMOTE_PASSWORD.
 */
async function passwordOf(ctx: CliContext, options: RemoteAddOptions): Promise<string | undefined> {
  if (options.passwordFile)
    return (await readFile(options.passwordFile, 'utf8')).replace(/\r?\n$/, '');
  return ctx.env.IMGSRV_REMOTE_PASSWORD || undefined;
}

function describe(r: Remote): string {
  const filters = Object.entries(r.filters)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return [
    `${r.name}  ${r.url}`,
    `  filters: ${filters || '(everything)'}   images: ${r.image_name_template}`,
    `  schedule: ${r.schedule ?? '(by hand)'}${r.next_sync_at ? `, next ${r.next_sync_at}` : ''}` +
      `   keep latest: ${r.keep_latest ?? 'all'}   concurrency: ${r.concurrency}` +
      (r.bandwidth_limit_bytes_per_second
        ? `   limit: ${formatBytes(r.bandwidth_limit_bytes_per_second)}/s`
        : ''),
    `  credentials: ${r.username ? `${r.username}${r.has_password ? ' (password stored)' : ''}` : 'none'}` +
      `   last success: ${r.last_success_at ?? 'never'}`,
  ].join('\n');
}

function syncLine(s: Sync): string {
  return (
    `${s.id}  ${s.state.padEnd(9)}  ${s.trigger.padEnd(8)}  ${s.created_at}  ` +
    `${s.items_done}/${s.items_total} items, ${s.items_failed} failed, ` +
    `${formatBytes(s.bytes_fetched)} fetched, ${s.versions_published} published` +
    (s.error ? `  (${s.error})` : '')
  );
}

/** `imgsrv remote add|ls|show|rm|sync|syncs …` */
export async function remote(
  ctx: CliContext,
  action: string,
  args: string[],
  options: RemoteAddOptions,
): Promise<void> {
  const name = args[0];
  const needName = () => {
    if (!name) throw new UsageError(`remote ${action} takes NAME`);
    return { params: { path: { name } } };
  };
  switch (action) {
    case 'add': {
      const url = args[1];
      if (!name || !url) throw new UsageError('remote add takes NAME URL');
      const password = await passwordOf(ctx, options);
      if (password !== undefined && !options.username)
        throw new UsageError('a password needs --username');
      const body: Schemas['RemoteCreateDto'] = {
        name,
        url,
        filters: filtersOf(options.filter) as Schemas['RemoteCreateDto']['filters'],
        image_name_template: options.template ?? '{os}-{release}',
        concurrency: whole('concurrency', options.concurrency) ?? 2,
      };
      if (options.schedule !== undefined) body.schedule = options.schedule;
      if (options.keepLatest !== undefined)
        body.keep_latest = whole('keep-latest', options.keepLatest);
      if (options.limitRate) body.bandwidth_limit_bytes_per_second = options.limitRate;
      if (options.username !== undefined) body.username = options.username;
      if (password !== undefined) body.password = password;
      if (options.sourceCaFile !== undefined)
        body.ca_pem = await readFile(options.sourceCaFile, 'utf8');
      const created = await call(`adding remote ${name}`, ctx.client.POST('/v1/remotes', { body }));
      if (ctx.json) return emitJson(ctx, created);
      say(ctx, `added remote ${created.name}\n${describe(created)}`);
      return;
    }
    case 'ls': {
      const remotes: Remote[] = [];
      let cursor: string | undefined;
      do {
        const page = await call(
          'listing remotes',
          ctx.client.GET('/v1/remotes', { params: { query: { limit: 100, cursor } } }),
        );
        remotes.push(...page.remotes);
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      if (ctx.json) return emitJson(ctx, remotes);
      if (remotes.length === 0) say(ctx, 'no remotes');
      for (const r of remotes)
        say(ctx, `${r.name}  ${r.url}  last success: ${r.last_success_at ?? 'never'}`);
      return;
    }
    case 'show': {
      const r = await call(
        `reading remote ${name}`,
        ctx.client.GET('/v1/remotes/{name}', needName()),
      );
      if (ctx.json) return emitJson(ctx, r);
      say(ctx, describe(r));
      return;
    }
    case 'rm': {
      await call(`deleting remote ${name}`, ctx.client.DELETE('/v1/remotes/{name}', needName()));
      if (ctx.json) return emitJson(ctx, { deleted: name });
      say(ctx, `deleted remote ${name} (the images it mirrored stay)`);
      return;
    }
    case 'syncs': {
      const page = await call(
        `listing the syncs of ${name}`,
        ctx.client.GET('/v1/remotes/{name}/syncs', {
          params: { path: { name: needName().params.path.name }, query: { limit: 20 } },
        }),
      );
      if (ctx.json) return emitJson(ctx, page.syncs);
      if (page.syncs.length === 0) say(ctx, `remote ${name} has not synced yet`);
      for (const s of page.syncs) say(ctx, syncLine(s));
      return;
    }
    case 'sync':
      return sync(ctx, needName().params.path.name, options.wait);
    default:
      throw new UsageError('remote takes add, ls, show, rm, sync or syncs');
  }
}

/** Starts a sync (or joins the running one); with --wait, follows it to its end. */
async function sync(ctx: CliContext, name: string, wait: boolean): Promise<void> {
  const started = await call(
    `starting a sync of ${name}`,
    ctx.client.POST('/v1/remotes/{name}/sync', { params: { path: { name } } }),
  );
  if (!wait) {
    if (ctx.json) return emitJson(ctx, started);
    say(
      ctx,
      `sync ${started.id} of ${name} is ${started.state}; follow it with: imgsrv remote syncs ${name}`,
    );
    return;
  }
  let last = '';
  let current: SyncDetail;
  for (;;) {
    current = await call(
      `reading sync ${started.id}`,
      ctx.client.GET('/v1/remotes/{name}/syncs/{sync_id}', {
        params: { path: { name, sync_id: started.id } },
      }),
    );
    const line =
      `sync ${name}: ${current.state}, ${current.items_done}/${current.items_total} items, ` +
      `${formatBytes(current.bytes_fetched)} fetched`;
    if (line !== last) note(ctx, line);
    last = line;
    if (current.state !== 'queued' && current.state !== 'running') break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  if (ctx.json) emitJson(ctx, current);
  else {
    for (const item of current.items.filter((i) => i.outcome === 'failed'))
      say(ctx, `failed: ${item.key}: ${item.error}`);
    say(
      ctx,
      `sync ${current.state}: ${current.versions_published} version(s) published, ` +
        `${current.aliases_moved} alias(es) moved, ${formatBytes(current.bytes_fetched)} fetched` +
        (current.error ? ` (${current.error})` : ''),
    );
  }
  if (current.state === 'failed')
    throw new CliError(`sync of ${name} failed: ${current.error}`, EXIT.server);
  if (current.state === 'cancelled')
    throw new CliError(`sync of ${name} was cancelled`, EXIT.client);
}
