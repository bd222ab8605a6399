import type { Principal } from './principal';

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

/** The operator's maintenance commands (`node dist/main.js token …`). */
export const CLI_ACTOR: Actor = { principal: null, requestId: null, system: 'system:cli' };
