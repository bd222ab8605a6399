import { call } from '../api';
import { emitJson, say, type CliContext } from '../context';
import { CliError, EXIT, UsageError } from '../errors';
import { watchJob } from '../jobs';
import { publishAndWait, setAlias } from './push';

/** ls: images, or the versions of one image. */
export async function ls(ctx: CliContext, image?: string): Promise<void> {
  if (!image) {
    const images = [];
    let cursor: string | undefined;
    do {
      const page = await call(
        'listing images',
        ctx.client.GET('/v1/images', { params: { query: { limit: 500, cursor } } }),
      );
      images.push(...page.images);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    if (ctx.json) return emitJson(ctx, images);
    for (const i of images) say(ctx, `${i.name}${i.description ? `\t${i.description}` : ''}`);
    return;
  }
  const versions = [];
  let cursor: string | undefined;
  do {
    const page = await call(
      `listing versions of ${image}`,
      ctx.client.GET('/v1/images/{name}/versions', {
        params: { path: { name: image }, query: { limit: 500, cursor } },
      }),
    );
    versions.push(...page.versions);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  if (ctx.json) return emitJson(ctx, versions);
  for (const v of versions) say(ctx, `${v.version}\t${v.state}\t${v.published_at ?? ''}`);
}

/** show IMAGE[/VERSION]: the image with its versions and aliases, or a version's manifest. */
export async function show(ctx: CliContext, ref: string): Promise<void> {
  const [image, version] = splitRef(ref);
  if (version) {
    const manifest = await call(
      `reading ${image} ${version}`,
      ctx.client.GET('/v1/images/{name}/refs/{ref}', {
        params: { path: { name: image, ref: version } },
      }),
      [404],
    );
    // A draft is not a ref; the version route shows it to those allowed to see drafts.
    const m =
      manifest ??
      (await call(
        `reading ${image} ${version}`,
        ctx.client.GET('/v1/images/{name}/versions/{version}', {
          params: { path: { name: image, version } },
        }),
      ));
    if (ctx.json) return emitJson(ctx, m);
    say(ctx, `${m.image.name} ${m.version.version} (${m.version.state})`);
    if (m.version.published_at) say(ctx, `published ${m.version.published_at}`);
    for (const { artifact, attachments } of m.artifacts) {
      say(
        ctx,
        `  ${artifact.format} ${artifact.operating_system} ${artifact.architecture} ${artifact.variant}  ${artifact.primary_blob_digest} (${artifact.primary_blob_size_bytes} bytes)`,
      );
      for (const a of attachments)
        say(ctx, `    ${a.name}  ${a.blob_digest} (${a.blob_size_bytes} bytes)`);
    }
    return;
  }
  const path = { params: { path: { name: image } } };
  const img = await call(`reading ${image}`, ctx.client.GET('/v1/images/{name}', path));
  const versions = await call(
    `listing versions of ${image}`,
    ctx.client.GET('/v1/images/{name}/versions', {
      params: { path: { name: image }, query: { limit: 500 } },
    }),
  );
  const aliases = await call(
    `listing aliases of ${image}`,
    ctx.client.GET('/v1/images/{name}/aliases', {
      params: { path: { name: image }, query: { limit: 500 } },
    }),
  );
  if (ctx.json) {
    return emitJson(ctx, { image: img, versions: versions.versions, aliases: aliases.aliases });
  }
  say(ctx, `${img.name}${img.description ? `: ${img.description}` : ''}`);
  say(ctx, 'versions:');
  for (const v of versions.versions) say(ctx, `  ${v.version}\t${v.state}`);
  say(ctx, 'aliases:');
  for (const a of aliases.aliases) say(ctx, `  ${a.alias} → ${a.version}`);
}

export function splitRef(ref: string): [string, string | undefined] {
  const i = ref.indexOf('/');
  if (i === 0) throw new UsageError(`not IMAGE[/VERSION]: ${JSON.stringify(ref)}`);
  return i < 0 ? [ref, undefined] : [ref.slice(0, i), ref.slice(i + 1) || undefined];
}

export async function publish(
  ctx: CliContext,
  ref: string,
  aliases: readonly string[],
  wait: boolean,
): Promise<void> {
  const [image, version] = splitRef(ref);
  if (!version) throw new UsageError('publish takes IMAGE/VERSION');
  if (!wait) {
    const job = await call(
      `publishing ${image} ${version}`,
      ctx.client.POST('/v1/images/{name}/versions/{version}/publish', {
        params: { path: { name: image, version } },
      }),
    );
    if (ctx.json) return emitJson(ctx, job);
    return say(ctx, `publish job ${job.id}: ${job.state}`);
  }
  const job = await publishAndWait(ctx, image, version);
  const moved = [];
  for (const alias of aliases) moved.push(await setAlias(ctx, image, alias, version));
  if (ctx.json) return emitJson(ctx, { publish_job: job, aliases: moved });
  say(ctx, `published ${image} ${version}`);
}

export async function job(ctx: CliContext, action: string, id: string): Promise<void> {
  const path = { params: { path: { job_id: id } } };
  let result;
  if (action === 'watch') result = await watchJob(ctx, id);
  else if (action === 'show')
    result = await call(`reading job ${id}`, ctx.client.GET('/v1/publish-jobs/{job_id}', path));
  else if (action === 'retry') {
    await call(`retrying job ${id}`, ctx.client.POST('/v1/publish-jobs/{job_id}/retry', path));
    result = await watchJob(ctx, id);
  } else if (action === 'cancel')
    result = await call(
      `cancelling job ${id}`,
      ctx.client.POST('/v1/publish-jobs/{job_id}/cancel', path),
    );
  else
    throw new UsageError(`job takes watch, show, retry or cancel, not ${JSON.stringify(action)}`);
  if (ctx.json) emitJson(ctx, result);
  else say(ctx, `publish job ${result.id}: ${result.state}`);
  if ((action === 'watch' || action === 'retry') && result.state === 'failed') {
    throw new CliError(
      `publish job ${result.id} failed: ${result.failure_message ?? ''}`,
      EXIT.server,
    );
  }
}

export async function alias(ctx: CliContext, action: string, args: string[]): Promise<void> {
  if (action === 'set') {
    const [target, name] = args;
    const [image, version] = splitRef(target ?? '');
    if (!version || !name) throw new UsageError('alias set takes IMAGE/VERSION ALIAS');
    const a = await setAlias(ctx, image, name, version);
    if (ctx.json) return emitJson(ctx, a);
    return say(ctx, `${image}/${a.alias} → ${a.version}`);
  }
  if (action === 'rm') {
    const [image, name] = splitRef(args[0] ?? '');
    if (!name) throw new UsageError('alias rm takes IMAGE/ALIAS');
    await call(
      `removing alias ${name}`,
      ctx.client.DELETE('/v1/images/{name}/aliases/{alias}', {
        params: { path: { name: image, alias: name } },
      }),
    );
    if (ctx.json) return emitJson(ctx, { image, alias: name, removed: true });
    return say(ctx, `removed ${image}/${name}`);
  }
  if (action === 'ls') {
    const image = args[0];
    if (!image) throw new UsageError('alias ls takes IMAGE');
    const page = await call(
      `listing aliases of ${image}`,
      ctx.client.GET('/v1/images/{name}/aliases', {
        params: { path: { name: image }, query: { limit: 500 } },
      }),
    );
    if (ctx.json) return emitJson(ctx, page.aliases);
    for (const a of page.aliases) say(ctx, `${a.alias}\t${a.version}`);
    return;
  }
  throw new UsageError(`alias takes set, rm or ls, not ${JSON.stringify(action)}`);
}
