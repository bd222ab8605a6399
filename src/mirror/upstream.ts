import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';

/** Why talking to an upstream failed; `retryable` failures are tried again within a sync. */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status: number | null = null,
  ) {
    super(message);
  }
}

export interface UpstreamOptions {
  readonly url: string;
  readonly caPem: string | null;
  readonly username: string | null;
  readonly password: string | null;
  readonly idleTimeoutMs: number;
}

export interface Validators {
  readonly etag?: string;
  readonly lastModified?: string;
}

export type DocumentRead<T> =
  | { readonly changed: false }
  | { readonly changed: true; readonly body: T; readonly validators: Validators };

export interface FileResponse {
  readonly body: Readable;
  /** Where the body starts in the file: the range start, or 0 when the upstream sent it whole. */
  readonly offset: number;
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
]);

/** What an operator should read for a failure of undici or the TLS layer. */
export function describeFailure(error: unknown, what: string): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const e = error as {
    code?: string;
    message?: string;
    cause?: { code?: string; message?: string };
  };
  const code = e.code ?? e.cause?.code ?? '';
  const detail = e.cause?.message ?? e.message ?? String(error);
  if (TLS_CODES.has(code) || /certificate|self.signed|altname/i.test(detail))
    return new UpstreamError(
      `TLS: the upstream's certificate is not trusted for ${what} (${code || detail}); set the remote's ca_pem to the CA that issued it`,
      false,
    );
  if (code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT')
    return new UpstreamError(
      `the upstream stalled: nothing received for ${what} within the idle limit`,
      true,
    );
  return new UpstreamError(
    `cannot reach the upstream for ${what}: ${code ? `${code}: ` : ''}${detail}`,
    true,
  );
}

/**
 * One upstream Simple Streams server over HTTP(S): the documents, read conditionally, and files,
 * read from an offset with Range where the server honours it. Every wait is bounded by the idle
 * limit (headers and body), so a stalled upstream ends a transfer instead of holding it.
 */
export class Upstream {
  private readonly dispatcher: Dispatcher;
  private readonly authorization: string | undefined;
  private readonly root: string;

  constructor(options: UpstreamOptions) {
    this.root = options.url.replace(/\/+$/, '');
    this.dispatcher = new Agent({
      connect: options.caPem ? { ca: [...rootCertificates, options.caPem] } : {},
      headersTimeout: options.idleTimeoutMs,
      bodyTimeout: options.idleTimeoutMs,
      connectTimeout: options.idleTimeoutMs,
    });
    this.authorization =
      options.username === null
        ? undefined
        : `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`;
  }

  urlOf(path: string): string {
    return `${this.root}/${path.replace(/^\/+/, '')}`;
  }

  private async get(
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    try {
      return await request(this.urlOf(path), {
        dispatcher: this.dispatcher,
        headers: {
          'user-agent': 'imgsrv-mirror',
          ...(this.authorization ? { authorization: this.authorization } : {}),
          ...headers,
        },
        signal,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw describeFailure(error, path);
    }
  }

  private async refuse(res: Dispatcher.ResponseData, path: string): Promise<never> {
    await res.body.dump().catch(() => undefined);
    const status = res.statusCode;
    if (status === 404)
      throw new UpstreamError(
        `the upstream has no ${path} (404), although its index lists it`,
        false,
        404,
      );
    if (status === 401 || status === 403)
      throw new UpstreamError(
        `the upstream refused ${path} (${status}): check the remote's username and password`,
        false,
        status,
      );
    throw new UpstreamError(
      `the upstream answered ${status} for ${path}`,
      status >= 500 || status === 429,
      status,
    );
  }

  /** A JSON document; `{changed: false}` when the validators still hold (304). */
  async document<T>(path: string, known?: Validators): Promise<DocumentRead<T>> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (known?.etag) headers['if-none-match'] = known.etag;
    if (known?.lastModified) headers['if-modified-since'] = known.lastModified;
    const res = await this.get(path, headers);
    if (res.statusCode === 304) {
      await res.body.dump();
      return { changed: false };
    }
    if (res.statusCode !== 200) return this.refuse(res, path);
    let body: T;
    try {
      body = (await res.body.json()) as T;
    } catch (error) {
      throw new UpstreamError(`${path} is not JSON: ${(error as Error).message}`, false);
    }
    const header = (name: string) => {
      const v = res.headers[name];
      return typeof v === 'string' ? v : undefined;
    };
    return {
      changed: true,
      body,
      validators: { etag: header('etag'), lastModified: header('last-modified') },
    };
  }

  /** A file from `offset` on (a Range request when offset > 0). */
  async file(
    path: string,
    offset: number,
    size: number,
    signal?: AbortSignal,
  ): Promise<FileResponse> {
    const res = await this.get(path, offset > 0 ? { range: `bytes=${offset}-` } : {}, signal);
    if (res.statusCode === 206 && offset > 0) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(
        String(res.headers['content-range'] ?? ''),
      );
      if (!range || Number(range[1]) !== offset) {
        res.body.destroy();
        throw new UpstreamError(`the upstream answered a range of ${path} other than asked`, true);
      }
      if (range[3] !== '*' && Number(range[3]) !== size) {
        res.body.destroy();
        throw new UpstreamError(
          `${path} holds ${range[3]} bytes upstream; its index says ${size}`,
          false,
        );
      }
      return { body: res.body, offset };
    }
    if (res.statusCode === 200) {
      const length = res.headers['content-length'];
      if (typeof length === 'string' && Number(length) !== size) {
        res.body.destroy();
        throw new UpstreamError(
          `${path} holds ${length} bytes upstream; its index says ${size}`,
          false,
        );
      }
      return { body: res.body, offset: 0 };
    }
    return this.refuse(res, path);
  }

  async close(): Promise<void> {
    await this.dispatcher.close().catch(() => undefined);
  }
}
