import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiSecurity } from '@nestjs/swagger';
import type { Action } from './actions';

export const REQUIRE_ACTION = 'imgsrv:require-action';
export const PUBLIC_READ = 'imgsrv:public-read';
export const ACCEPTS_BASIC_AUTH = 'imgsrv:accepts-basic-auth';

export interface ImageSource {
  /** The route parameter naming the image the action concerns. */
  readonly imageParam?: string;
  /** The body field naming it (creating an image). */
  readonly imageBodyField?: string;
}

export interface RequiredAction extends ImageSource {
  readonly action: Action;
}

export type PublicReadOptions = ImageSource;

/**
 * The route needs an authenticated principal allowed to perform `action`: 401 without valid
 * credentials, 403 without the permission — for the image named by the route parameter or body
 * field when given, in any scope otherwise (uploads, lists).
 */
export const RequireAction = (action: Action, options: ImageSource = {}) =>
  SetMetadata(REQUIRE_ACTION, { action, ...options } satisfies RequiredAction);

/**
 * A read route open to anonymous callers while IMGSRV_PUBLIC_READ is on (they still see only
 * published content: the service decides). With public reads off it needs content.read.
 */
export const PublicRead = (options: ImageSource = {}) =>
  applyDecorators(
    SetMetadata(PUBLIC_READ, options),
    // OpenAPI: no credentials is one of the accepted ways (an empty requirement).
    ApiSecurity({}),
  );

/** Streams and downloads: the API token may come as the HTTP Basic password. */
export const AcceptsBasicAuth = () =>
  applyDecorators(SetMetadata(ACCEPTS_BASIC_AUTH, true), ApiSecurity('basic'));
