import { call } from '../api';
import { emitJson, say, type CliContext } from '../context';
import { UsageError } from '../errors';
import { resolvePrincipal } from './admin';

export async function whoami(ctx: CliContext): Promise<void> {
  const me = await call('whoami', ctx.client.GET('/v1/auth/whoami'));
  if (ctx.json) return emitJson(ctx, me);
  const p = me.principal;
  say(ctx, `${p.display_name} (${p.kind} ${p.id})`);
  say(
    ctx,
    `credential: ${me.credential.type} ${me.credential.id}${me.credential.expires_at ? `, expires ${me.credential.expires_at}` : ''}`,
  );
  for (const g of p.grants) say(ctx, `grant: ${g.role_id} on ${g.images.join(', ')}`);
}

/**
 * token create (--principal NAME_OR_ID | PRINCIPAL_ID) [--name N] [--expires 30d] |
 * token revoke TOKEN_ID
 */
export async function token(
  ctx: CliContext,
  action: string,
  args: string[],
  flags: { name?: string; expires?: string; principal?: string },
): Promise<void> {
  if (action === 'create') {
    const named = flags.principal ?? args[0];
    if (!named) throw new UsageError('token create takes --principal NAME_OR_ID');
    const principal = (await resolvePrincipal(ctx, named)).id;
    const expiresAt = new Date(Date.now() + parseDays(flags.expires ?? '30d') * 86_400_000);
    const created = await call(
      'creating a token',
      ctx.client.POST('/v1/auth/principals/{principal_id}/api-tokens', {
        params: { path: { principal_id: principal } },
        body: { expires_at: expiresAt.toISOString(), ...(flags.name ? { name: flags.name } : {}) },
      }),
    );
    if (ctx.json) return emitJson(ctx, created);
    // The plaintext alone on stdout, so `TOKEN=$(imgsrv token create …)` works.
    ctx.stderr.write(`token ${created.id}, expires ${created.expires_at}; shown once:\n`);
    ctx.stdout.write(`${created.plaintext}\n`);
    return;
  }
  if (action === 'revoke') {
    const id = args[0];
    if (!id) throw new UsageError('token revoke takes TOKEN_ID');
    await call(
      `revoking token ${id}`,
      ctx.client.DELETE('/v1/auth/api-tokens/{token_id}', { params: { path: { token_id: id } } }),
    );
    if (ctx.json) return emitJson(ctx, { id, revoked: true });
    return say(ctx, `revoked ${id}`);
  }
  throw new UsageError(`token takes create or revoke, not ${JSON.stringify(action)}`);
}

function parseDays(text: string): number {
  const m = /^(\d+)d$/.exec(text);
  if (!m || Number(m[1]) < 1) throw new UsageError(`--expires takes days, like 30d, not ${text}`);
  return Number(m[1]);
}
