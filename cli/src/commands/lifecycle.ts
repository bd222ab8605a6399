import { call } from '../api';
import { emitJson, say, type CliContext } from '../context';
import { UsageError } from '../errors';

export interface WithdrawOptions {
  readonly reason?: string;
  readonly immediate: boolean;
  readonly moveAliasesTo?: string;
}

/** `imgsrv withdraw IMAGE VERSION --reason R [--move-aliases-to V] [--immediate]` */
export async function withdraw(
  ctx: CliContext,
  image: string,
  version: string,
  options: WithdrawOptions,
): Promise<void> {
  if (!options.reason) throw new UsageError('withdraw needs --reason "why"');
  const v = await call(
    `withdrawing ${image} ${version}`,
    ctx.client.POST('/v1/images/{name}/versions/{version}/withdraw', {
      params: { path: { name: image, version } },
      body: {
        reason: options.reason,
        immediate: options.immediate,
        ...(options.moveAliasesTo !== undefined && { move_aliases_to: options.moveAliasesTo }),
      },
    }),
  );
  if (ctx.json) return emitJson(ctx, v);
  const w = v.withdrawal;
  say(
    ctx,
    `withdrew ${image} ${version}` +
      (w?.immediate
        ? ': downloads stopped now'
        : `: downloads keep working until ${w?.purge_after ?? 'the purge'}`),
  );
}

export interface RetentionOptions {
  readonly keepLatest?: string;
  readonly keepDays?: string;
  readonly keepAliased?: boolean;
}

function count(flag: string, text: string | undefined): number | null {
  if (text === undefined) return null;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--${flag} takes a whole number from 1, not ${JSON.stringify(text)}`);
  return n;
}

/** `imgsrv retention set|show|preview|rm IMAGE` */
export async function retention(
  ctx: CliContext,
  action: string,
  image: string | undefined,
  options: RetentionOptions,
): Promise<void> {
  if (!image) throw new UsageError(`retention ${action} takes IMAGE`);
  const path = { params: { path: { name: image } } };
  if (action === 'set') {
    const keepLatest = count('keep-latest', options.keepLatest);
    const keepDays = count('keep-days', options.keepDays);
    if (keepLatest === null && keepDays === null)
      throw new UsageError('retention set needs --keep-latest N or --keep-days N');
    const set = await call(
      `setting the retention of ${image}`,
      ctx.client.PUT('/v1/images/{name}/retention', {
        ...path,
        body: {
          keep_latest: keepLatest,
          keep_days: keepDays,
          keep_aliased: options.keepAliased ?? true,
        },
      }),
    );
    if (ctx.json) return emitJson(ctx, set.retention);
    return say(ctx, `retention of ${image}: ${set.retention ? describe(set.retention) : 'none'}`);
  }
  if (action === 'show') {
    const got = await call(
      `reading the retention of ${image}`,
      ctx.client.GET('/v1/images/{name}/retention', path),
    );
    if (ctx.json) return emitJson(ctx, got.retention);
    return say(ctx, got.retention ? describe(got.retention) : 'no retention policy');
  }
  if (action === 'preview') {
    const preview = await call(
      `previewing the retention of ${image}`,
      ctx.client.GET('/v1/images/{name}/retention/preview', path),
    );
    if (ctx.json) return emitJson(ctx, preview);
    if (preview.would_withdraw.length === 0) return say(ctx, 'nothing would be withdrawn');
    for (const v of preview.would_withdraw) say(ctx, v);
    return;
  }
  if (action === 'rm') {
    await call(
      `removing the retention of ${image}`,
      ctx.client.DELETE('/v1/images/{name}/retention', path),
    );
    if (ctx.json) return emitJson(ctx, { image, removed: true });
    return say(ctx, `removed the retention policy of ${image}`);
  }
  throw new UsageError(`retention takes set, show, preview or rm, not ${JSON.stringify(action)}`);
}

function describe(p: {
  keep_latest: number | null;
  keep_days: number | null;
  keep_aliased: boolean;
}): string {
  const keeps = [
    p.keep_latest !== null && `the newest ${p.keep_latest}`,
    p.keep_days !== null && `those of the last ${p.keep_days} days`,
    p.keep_aliased && 'aliased ones',
  ].filter(Boolean);
  return `keeps ${keeps.join(', ')} (and always the newest)`;
}

function human(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes;
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u += 1;
  }
  return u === 0 ? `${n} B` : `${n.toFixed(1)} ${units[u]}`;
}

/** `imgsrv du`: the bytes the readable images cite, shared bytes once, and each image's own. */
export async function du(ctx: CliContext): Promise<void> {
  const storage = await call('reading storage', ctx.client.GET('/v1/storage'));
  if (ctx.json) return emitJson(ctx, storage);
  const rows = Object.entries(storage.bytes_unique_by_image).sort((a, b) => b[1] - a[1]);
  for (const [image, bytes] of rows) say(ctx, `${human(bytes).padStart(10)}  ${image} (its own)`);
  say(ctx, `${human(storage.bytes).padStart(10)}  total (shared bytes once)`);
}

/** `imgsrv rm IMAGE`: deletes an image whose versions are all drafts or withdrawn. */
export async function rm(ctx: CliContext, image: string): Promise<void> {
  await call(
    `deleting image ${image}`,
    ctx.client.DELETE('/v1/images/{name}', { params: { path: { name: image } } }),
  );
  if (ctx.json) return emitJson(ctx, { image, removed: true });
  say(ctx, `deleted ${image}`);
}
