import { call } from '../api';
import type { Schemas } from '../client/api-client';
import { emitJson, say, type CliContext } from '../context';
import { CliError, EXIT, UsageError } from '../errors';

type Principal = Schemas['PrincipalResponseDto'];
type RoleId = Schemas['GrantResponseDto']['role_id'] &
  ('reader' | 'content-writer' | 'release-manager' | 'auth-manager');

/** The built-in roles (GET /v1/auth/roles); the type keeps the list to the API's enum. */
const ROLES: readonly RoleId[] = ['reader', 'content-writer', 'release-manager', 'auth-manager'];

function roleOf(text: string): RoleId {
  const role = ROLES.find((r) => r === text);
  if (!role) throw new UsageError(`${JSON.stringify(text)} is no role; roles: ${ROLES.join(', ')}`);
  return role;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The principal an argument names: an id as it is, else the one principal with that display
 * name (none, or several, is an error that says so).
 */
export async function resolvePrincipal(ctx: CliContext, nameOrId: string): Promise<Principal> {
  if (UUID.test(nameOrId))
    return call(
      `reading principal ${nameOrId}`,
      ctx.client.GET('/v1/auth/principals/{principal_id}', {
        params: { path: { principal_id: nameOrId } },
      }),
    );
  const page = await call(
    `looking up principal ${nameOrId}`,
    ctx.client.GET('/v1/auth/principals', {
      params: { query: { display_name: nameOrId, limit: 10 } },
    }),
  );
  const [only, ...others] = page.principals;
  if (!only) throw new CliError(`no principal is called ${JSON.stringify(nameOrId)}`, EXIT.client);
  if (others.length > 0)
    throw new CliError(
      `${page.principals.length} principals are called ${JSON.stringify(nameOrId)} ` +
        `(${page.principals.map((p) => p.id).join(', ')}): name one by its id`,
      EXIT.client,
    );
  return only;
}

const grantsText = (p: Principal): string =>
  p.grants.length === 0
    ? 'no roles'
    : p.grants.map((g) => `${g.role_id} on ${g.images.join(',')}`).join('; ');

/** principal create NAME [--kind user|service] | principal ls [--name N] | principal show P */
export async function principal(
  ctx: CliContext,
  action: string,
  args: string[],
  flags: { kind?: string; name?: string },
): Promise<void> {
  if (action === 'create') {
    const name = args[0];
    if (!name) throw new UsageError('principal create takes NAME');
    const kind = flags.kind ?? 'service';
    if (kind !== 'service' && kind !== 'user')
      throw new UsageError(`--kind takes service or user, not ${JSON.stringify(kind)}`);
    const created = await call(
      `creating principal ${name}`,
      ctx.client.POST('/v1/auth/principals', { body: { kind, display_name: name } }),
    );
    if (ctx.json) return emitJson(ctx, created);
    return say(ctx, `created ${created.kind} ${created.display_name} (${created.id})`);
  }
  if (action === 'ls') {
    const all: Principal[] = [];
    let cursor: string | undefined;
    do {
      const page = await call(
        'listing principals',
        ctx.client.GET('/v1/auth/principals', {
          params: { query: { limit: 200, cursor, display_name: flags.name } },
        }),
      );
      all.push(...page.principals);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    if (ctx.json) return emitJson(ctx, { principals: all });
    for (const p of all)
      say(ctx, `${p.id}  ${p.kind.padEnd(7)}  ${p.display_name}  ${grantsText(p)}`);
    return;
  }
  if (action === 'show') {
    if (!args[0]) throw new UsageError('principal show takes a NAME or ID');
    const p = await resolvePrincipal(ctx, args[0]);
    if (ctx.json) return emitJson(ctx, p);
    say(ctx, `${p.display_name} (${p.kind} ${p.id})`);
    for (const g of p.grants) say(ctx, `grant: ${g.role_id} on ${g.images.join(', ')}`);
    if (p.grants.length === 0) say(ctx, 'no roles');
    return;
  }
  throw new UsageError(`principal takes create, ls or show, not ${JSON.stringify(action)}`);
}

function patterns(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const list = text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (list.length === 0)
    throw new UsageError('--images takes glob patterns, like debian-*,alpine-*');
  return list;
}

/**
 * grant ROLE --to P [--images GLOBS] [--replace]: adds the patterns to the principal's grant of
 * the role (granting it if they lack it; `*` when no --images); --replace sets the scope to
 * exactly those patterns.
 */
export async function grant(
  ctx: CliContext,
  role: string,
  flags: { to?: string; images?: string; replace?: boolean },
): Promise<void> {
  if (!flags.to) throw new UsageError('grant takes ROLE --to PRINCIPAL');
  const roleId = roleOf(role);
  const images = patterns(flags.images);
  const p = await resolvePrincipal(ctx, flags.to);
  const path = { principal_id: p.id, role_id: roleId };
  let scope: string[];
  if (flags.replace || !p.grants.some((g) => g.role_id === role)) {
    scope = images ?? ['*'];
    await call(
      `granting ${role} to ${p.display_name}`,
      ctx.client.PUT('/v1/auth/principals/{principal_id}/roles/{role_id}', {
        params: { path },
        body: { images: scope },
      }),
    );
  } else {
    if (!images)
      throw new UsageError(
        `${p.display_name} holds ${role} already: name the --images to add, or --replace`,
      );
    scope = (
      await call(
        `adding to ${p.display_name}'s ${role}`,
        ctx.client.PATCH('/v1/auth/principals/{principal_id}/roles/{role_id}', {
          params: { path },
          body: { add_images: images },
        }),
      )
    ).images;
  }
  if (ctx.json) return emitJson(ctx, { principal_id: p.id, role_id: role, images: scope });
  say(ctx, `${p.display_name} holds ${role} on ${scope.join(', ')}`);
}

/** revoke ROLE --from P [--images GLOBS]: removes those patterns, or the whole role. */
export async function revoke(
  ctx: CliContext,
  role: string,
  flags: { from?: string; images?: string },
): Promise<void> {
  if (!flags.from) throw new UsageError('revoke takes ROLE --from PRINCIPAL');
  const roleId = roleOf(role);
  const images = patterns(flags.images);
  const p = await resolvePrincipal(ctx, flags.from);
  const path = { principal_id: p.id, role_id: roleId };
  if (!images) {
    await call(
      `revoking ${role} from ${p.display_name}`,
      ctx.client.DELETE('/v1/auth/principals/{principal_id}/roles/{role_id}', {
        params: { path },
      }),
    );
    if (ctx.json) return emitJson(ctx, { principal_id: p.id, role_id: role, images: [] });
    return say(ctx, `${p.display_name} no longer holds ${role}`);
  }
  const { images: scope } = await call(
    `removing from ${p.display_name}'s ${role}`,
    ctx.client.PATCH('/v1/auth/principals/{principal_id}/roles/{role_id}', {
      params: { path },
      body: { remove_images: images },
    }),
  );
  if (ctx.json) return emitJson(ctx, { principal_id: p.id, role_id: role, images: scope });
  say(ctx, `${p.display_name} holds ${role} on ${scope.join(', ')}`);
}
