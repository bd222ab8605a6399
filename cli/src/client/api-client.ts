import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import { Agent, Request as UndiciRequest, fetch as undiciFetch, type Dispatcher } from 'undici';
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
  /** Shares one connection pool with raw requests (upload parts); made from caFile when absent. */
  readonly dispatcher?: Dispatcher;
}

/**
 * A connection pool; with `caFile`, it trusts the CAs in that file as well as Node's default
 * roots (a server behind a public CA keeps working with a private CA file configured).
 */
export function makeDispatcher(caFile?: string): Dispatcher {
  return new Agent({
    connect: caFile ? { ca: [...rootCertificates, readFileSync(caFile, 'utf8')] } : {},
    // Parts are large streamed bodies; a slow link must not trip the default timeouts.
    bodyTimeout: 0,
    headersTimeout: 0,
  });
}

/** A typed client over the generated OpenAPI types; nothing here is written by hand per route. */
export function createApiClient(options: ApiClientOptions): ApiClient {
  const dispatcher = options.dispatcher ?? makeDispatcher(options.caFile);
  const client = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    fetch: (request: Request) => undiciFetch(request as never, { dispatcher }) as never,
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
