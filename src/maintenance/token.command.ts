import type { INestApplicationContext } from '@nestjs/common';
import { BUILT_IN_ROLES, type RoleId } from '../auth/actions';
import { parseApiToken } from '../auth/api-token';
import { AuthService, isRoleId } from '../auth/auth.service';
import { CLI_ACTOR } from '../auth/actor';
import type { PrincipalEntity } from '../auth/principal.entity';
import { DomainError } from '../common/errors/domain-error';
import { durationOption, parseCommandArgs, UsageError } from './command-args';

/** The audit log's actor for these commands: no principal, no request, named. */

/** The role that manages principals, grants and tokens (and reads the audit log). */
export const DEFAULT_RECOVERY_ROLE: RoleId = 'auth-manager';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface TokenIssueArgs {
  /** A principal id (UUID), or a display name: reused when exactly one principal has it. */
  readonly principal: string;
  readonly role: RoleId;
  /** Image scope for a new grant, or to replace an existing grant's; null keeps / defaults to *. */
  readonly images: string[] | null;
  /** null: IMGSRV_BOOTSTRAP_TOKEN_TTL, like the bootstrap token. */
  readonly ttlMs: number | null;
  readonly name: string;
}

export function parseTokenIssueArgs(argv: readonly string[]): TokenIssueArgs {
  const { values } = parseCommandArgs(argv, {
    principal: { type: 'string' },
    role: { type: 'string', default: DEFAULT_RECOVERY_ROLE },
    images: { type: 'string' },
    ttl: { type: 'string' },
    name: { type: 'string', default: 'issued by token issue' },
  });
  const principal = values.principal?.trim();
  if (!principal) throw new UsageError('token issue needs --principal NAME (or a principal id)');
  if (principal.length > 200) throw new UsageError('--principal is at most 200 characters');
  const role = values.role ?? DEFAULT_RECOVERY_ROLE;
  if (!isRoleId(role)) {
    throw new UsageError(
      `--role must be one of ${Object.keys(BUILT_IN_ROLES).join(', ')} (got ${JSON.stringify(role)})`,
    );
  }
  let images: string[] | null = null;
  if (values.images !== undefined) {
    images = values.images
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    if (images.length === 0 || images.length > 100) {
      throw new UsageError('--images is a comma-separated list of 1 to 100 image name globs');
    }
  }
  const name = values.name ?? '';
  if (name.length < 1 || name.length > 200) throw new UsageError('--name is 1 to 200 characters');
  return {
    principal,
    role,
    images,
    ttlMs: values.ttl === undefined ? null : durationOption('--ttl', values.ttl),
    name,
  };
}

export interface IssuedToken {
  readonly plaintext: string;
  readonly tokenId: string;
  readonly principal: {
    readonly id: string;
    readonly displayName: string;
    readonly created: boolean;
  };
  readonly role: RoleId;
  readonly images: readonly string[];
  readonly granted: boolean;
  readonly expiresAt: Date;
}

async function resolvePrincipal(
  auth: AuthService,
  principal: string,
): Promise<{ entity: PrincipalEntity; created: boolean }> {
  if (UUID.test(principal)) {
    return { entity: (await auth.getPrincipal(principal.toLowerCase())).principal, created: false };
  }
  const found = await auth.findPrincipalsByName(principal);
  if (found.length > 1) {
    throw new UsageError(
      `${found.length} principals are called ${JSON.stringify(principal)} (${found.map((p) => p.id).join(', ')}); pass one id with --principal`,
    );
  }
  if (found.length === 1) return { entity: found[0], created: false };
  const { principal: entity } = await auth.createPrincipal(CLI_ACTOR, {
    kind: 'user',
    displayName: principal,
    attributes: { created_by: CLI_ACTOR.system },
  });
  return { entity, created: true };
}

/**
 * For an operator with database access and no working token: the principal (reused, or created),
 * the role granted (an existing grant of it keeps its image scope unless --images says otherwise),
 * and a new token. Each step goes through AuthService, so each is audited, as `system:cli`.
 */
export async function issueToken(
  context: INestApplicationContext,
  args: TokenIssueArgs,
  defaultTtlMs: number,
): Promise<IssuedToken> {
  const auth = context.get(AuthService);
  const { entity, created } = await resolvePrincipal(auth, args.principal);
  const existing = (await auth.getPrincipal(entity.id)).grants.find((g) => g.roleId === args.role);
  const images = args.images ?? existing?.images ?? ['*'];
  const granted =
    !existing || (args.images !== null && args.images.join('\n') !== existing.images.join('\n'));
  if (granted) await auth.grantRole(CLI_ACTOR, entity.id, args.role, images);
  const expiresAt = new Date(Date.now() + (args.ttlMs ?? defaultTtlMs));
  const { token, plaintext } = await auth.issueToken(CLI_ACTOR, entity.id, {
    name: args.name,
    expiresAt,
  });
  return {
    plaintext,
    tokenId: token.id,
    principal: { id: entity.id, displayName: entity.displayName, created },
    role: args.role,
    images,
    granted,
    expiresAt: token.expiresAt,
  };
}

/** A token id, or a whole token (only its public id is used). */
export function parseTokenRevokeArgs(argv: readonly string[]): { tokenId: string } {
  const { positionals } = parseCommandArgs(argv, {}, 1);
  const given = positionals[0];
  if (!given) throw new UsageError('token revoke needs a token id (or the token itself)');
  const tokenId = parseApiToken(given)?.id ?? given;
  if (!/^[a-z0-9]{16}$/.test(tokenId)) {
    throw new UsageError(`not a token id: ${JSON.stringify(given)} (16 characters of a-z 0-9)`);
  }
  return { tokenId };
}

export async function revokeToken(
  context: INestApplicationContext,
  tokenId: string,
): Promise<void> {
  await context.get(AuthService).revokeToken(CLI_ACTOR, tokenId);
}

/** Domain errors of these commands as one line for stderr. */
export function describeDomainError(error: unknown): string | null {
  if (!(error instanceof DomainError)) return null;
  return `${error.code}: ${error.detail.replace('/expires_at:', '--ttl:')}`;
}
