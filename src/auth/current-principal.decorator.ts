import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Principal } from './principal';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth guard: the authenticated principal, or null for an anonymous caller. */
    principal?: Principal | null;
  }
}

/**
 * Who acts, as controllers hand it to services: the principal (null when anonymous) and the
 * request id, both recorded by the audit log. Services never see HTTP.
 */
export interface Actor {
  readonly principal: Principal | null;
  readonly requestId: string | null;
  /**
   * Who acts when no principal does and it is not the server itself: `system:cli` for the
   * operator's maintenance commands (node dist/main.js token …). Recorded as the principal name.
   */
  readonly system?: string;
}

/** The caller (`null` when anonymous), as the auth guard established it. */
export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): Principal | null =>
    ctx.switchToHttp().getRequest<FastifyRequest>().principal ?? null,
);

/** The caller and the request id, for services that record what they do. */
export const CurrentActor = createParamDecorator((_data: unknown, ctx: ExecutionContext): Actor => {
  const request = ctx.switchToHttp().getRequest<FastifyRequest>();
  return { principal: request.principal ?? null, requestId: String(request.id) };
});
