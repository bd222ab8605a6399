import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { DomainError } from '../common/errors/domain-error';
import type { Action } from './actions';
import { AuthenticationService } from './authentication.service';
import type { Principal } from './principal';
import {
  ACCEPTS_BASIC_AUTH,
  PUBLIC_READ,
  REQUIRE_ACTION,
  type PublicReadOptions,
  type RequiredAction,
} from './require-action.decorator';

/**
 * The one guard of every route: authenticates the caller, then enforces what the route declares
 * with @RequireAction or @PublicRead. Routes declaring neither are open (health, docs).
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authentication: AuthenticationService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const targets = [context.getHandler(), context.getClass()];
    const basicAllowed =
      this.reflector.getAllAndOverride<boolean>(ACCEPTS_BASIC_AUTH, targets) ?? false;
    const header = request.headers.authorization;
    const principal = await this.authentication.authenticate(
      typeof header === 'string' ? header : undefined,
      {
        basicAllowed,
        requestId: String(request.id),
      },
    );
    request.principal = principal;

    const required = this.reflector.getAllAndOverride<RequiredAction>(REQUIRE_ACTION, targets);
    if (required) {
      this.enforce(principal, required.action, imageOf(request, required), basicAllowed);
      return true;
    }
    const publicRead = this.reflector.getAllAndOverride<PublicReadOptions>(PUBLIC_READ, targets);
    if (publicRead && !this.config.auth.publicRead) {
      this.enforce(principal, 'content.read', imageOf(request, publicRead), basicAllowed);
    }
    return true;
  }

  private enforce(
    principal: Principal | null,
    action: Action,
    image: string | undefined,
    basic: boolean,
  ): void {
    if (!principal) {
      throw new DomainError(
        'UNAUTHENTICATED',
        'This request needs credentials.',
        {},
        {
          'www-authenticate': basic
            ? 'Bearer realm="imgsrv", Basic realm="imgsrv"'
            : 'Bearer realm="imgsrv"',
        },
      );
    }
    if (!principal.can(action, image)) {
      // A reader outside an image's scope learns nothing of it: the same 404 as no such image.
      if (action === 'content.read' && image !== undefined && principal.can(action))
        throw new DomainError('IMAGE_NOT_FOUND', `No image is called ${image}.`);
      throw new DomainError(
        'FORBIDDEN',
        image === undefined
          ? `This needs the ${action} permission.`
          : `This needs the ${action} permission on image ${image}.`,
        { required_action: action, ...(image === undefined ? {} : { image }) },
      );
    }
  }
}

function imageOf(
  request: FastifyRequest,
  from: { imageParam?: string; imageBodyField?: string },
): string | undefined {
  if (from.imageParam) {
    const value = (request.params as Record<string, unknown> | undefined)?.[from.imageParam];
    return typeof value === 'string' ? value : undefined;
  }
  if (from.imageBodyField) {
    const body = request.body as Record<string, unknown> | undefined;
    const value = body && typeof body === 'object' ? body[from.imageBodyField] : undefined;
    // A missing or malformed name falls through to validation (400) after any-scope authorization.
    return typeof value === 'string' ? value : undefined;
  }
  return undefined;
}
