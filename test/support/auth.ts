import type { RoleId } from '../../src/auth/actions';
import type { TestApp } from './test-app';

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export interface IssuedIdentity {
  readonly principalId: string;
  readonly tokenId: string;
  readonly token: string;
  readonly headers: { authorization: string };
}

async function call(app: TestApp, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await app.fetch(path, {
    method,
    headers: {
      ...bearer(app.bootstrapToken),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/**
 * A new principal holding `roles` (each with the image scope given), and an API token for it,
 * made through the real auth API with the app's bootstrap token.
 */
export async function issueIdentity(
  app: TestApp,
  roles: RoleId | RoleId[] | [],
  images: string[] = ['*'],
  name = 'test principal',
): Promise<IssuedIdentity> {
  const principal = (await call(app, 'POST', '/v1/auth/principals', {
    kind: 'service',
    display_name: name,
  })) as {
    id: string;
  };
  for (const role of Array.isArray(roles) ? roles : [roles]) {
    await call(app, 'PUT', `/v1/auth/principals/${principal.id}/roles/${role}`, { images });
  }
  const token = (await call(app, 'POST', `/v1/auth/principals/${principal.id}/api-tokens`, {
    name: 'test',
    expires_at: new Date(Date.now() + 3_600_000).toISOString(),
  })) as { id: string; plaintext: string };
  return {
    principalId: principal.id,
    tokenId: token.id,
    token: token.plaintext,
    headers: bearer(token.plaintext),
  };
}

export { call as authCall };
