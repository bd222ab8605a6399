import { SetMetadata } from '@nestjs/common';
import type { Action } from './actions';

export const REQUIRE_ACTION = 'imgsrv:require-action';

export interface RequiredAction {
  readonly action: Action;
  /** The route parameter naming the image the action concerns; absent: any scope will do. */
  readonly imageParam?: string;
}

/**
 * The route needs an authenticated principal allowed to perform `action` (401 without valid
 * credentials, 403 without the permission, for the image named by `imageParam` when given).
 */
export const RequireAction = (action: Action, options: { imageParam?: string } = {}) =>
  SetMetadata(REQUIRE_ACTION, { action, imageParam: options.imageParam } satisfies RequiredAction);

export const PUBLIC_READ = 'imgsrv:public-read';

/**
 * A read route open to anonymous callers while IMGSRV_PUBLIC_READ is on (they still see only
 * published content; the service decides). With public reads off, it needs content.read.
 */
export const PublicRead = () => SetMetadata(PUBLIC_READ, true);
