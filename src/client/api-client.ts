import { readFileSync } from 'node:fs';
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import { Agent, Request as UndiciRequest, fetch as undiciFetch } from 'undici';
import type { components, paths } from './generated/openapi';

export type ApiClient = Client<paths>;
export type Schemas = components['schemas'];
export type Problem = Schemas['ProblemDto'];

export interface ApiClientOptions {
  /** Server root, e.g. `https://images.example.org` (no `/v1`). */
  readonly baseUrl: string;
  /** `imgsrv_<id>_<secret>` API token or an OIDC JWT; anonymous when absent. */
  readonly token?: string;
  /** A PEM file of certificate authorities to trust (a self-signed server's certificate). */
  readonly caFile?: string;
  readonly userAgent?: string;
}

/** undici's fetch, trusting `caFile` when given; also used for raw part bodies and downloads. */
export function makeFetch(caFile?: string): typeof globalThis.fetch {
  const dispatcher = new Agent({
    connect: caFile ? { ca: readFileSync(caFile) } : {},
    // Parts are large streamed bodies; a slow link must not trip the default body timeout.
    bodyTimeout: 0,
    headersTimeout: 0,
  });
  return ((input: string | URL | Request, init?: RequestInit) =>
    undiciFetch(input as never, { ...(init as object), dispatcher } as never)) as never;
}

/** A typed client over the generated OpenAPI types; nothing here is written by hand per route. */
export function createApiClient(options: ApiClientOptions): ApiClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    fetch: makeFetch(options.caFile),
    // undici's fetch takes its own Request objects (the global one belongs to Node's copy).
    Request: UndiciRequest as unknown as typeof Request,
  });
  const headers: Middleware = {
    onRequest({ request }) {
      if (options.token) request.headers.set('authorization', `Bearer ${options.token}`);
      request.headers.set('user-agent', options.userAgent ?? 'imgsrv-cli');
      return request;
    },
  };
  client.use(headers);
  return client;
}
