import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Actor } from './actor';
import type { Principal } from './principal';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth guard: the authenticated principal, or null for an anonymous caller. */
    principal?: Principal | null;
  }
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
