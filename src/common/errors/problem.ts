import { STATUS_CODES, type ServerResponse } from 'node:http';
import { HttpException } from '@nestjs/common';
import { DomainError } from './domain-error';
import { codeForStatus, errorSpec, problemType, type ErrorCode } from './error-registry';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  code: ErrorCode;
  [extension: string]: unknown;
}

export interface Problem {
  readonly body: ProblemBody;
  readonly headers: Readonly<Record<string, string>>;
  /** True when the error was not expected: the caller logs it with its stack. */
  readonly unexpected: boolean;
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
};

const FASTIFY_DETAILS: Partial<Record<ErrorCode, string>> = {
  MALFORMED_JSON: 'The request body could not be parsed as JSON.',
  BODY_TOO_LARGE: 'The request body exceeds the limit for this route.',
  UNSUPPORTED_MEDIA_TYPE: 'The Content-Type of the request is not accepted by this route.',
};

function problemOf(
  code: ErrorCode,
  detail: string,
  requestId: string,
  extensions: Readonly<Record<string, unknown>> = {},
): ProblemBody {
  const spec = errorSpec(code);
  return {
    type: problemType(code),
    title: spec.title,
    status: spec.status,
    detail,
    instance: requestId,
    code,
    ...extensions,
  };
}

function isFastifyClientError(e: unknown): e is Error & { code?: string; statusCode: number } {
  // Not `instanceof Error`: Node's own errors (a request `aborted` mid-body) may come from
  // another realm than this module's Error (under jest's VM they do).
  if (typeof e !== 'object' || e === null || typeof (e as Error).message !== 'string') return false;
  const status = (e as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' && status >= 400 && status < 500;
}

/**
 * Turns anything thrown while serving a request into an RFC 9457 problem. Known errors keep
 * their code and detail; anything else becomes a 500 with a generic detail (never the message,
 * which may carry SQL, paths or secrets).
 */
export function toProblem(error: unknown, requestId: string): Problem {
  if (error instanceof DomainError) {
    return {
      body: problemOf(error.code, error.detail, requestId, error.extensions),
      headers: error.headers,
      unexpected: false,
    };
  }
  if (error instanceof HttpException && isFastifyClientError(error.cause)) {
    // Nest wraps Fastify's own errors (body parsing, limits); their code says more than the status.
    return toProblem(error.cause, requestId);
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const code =
      status === 404 && /^Cannot [A-Z]+ /.test(error.message)
        ? 'ROUTE_NOT_FOUND'
        : codeForStatus(status);
    if (status >= 500) return internal(requestId);
    const detail =
      code === 'ROUTE_NOT_FOUND' ? 'No route matches this method and path.' : clientDetail(error);
    return { body: problemOf(code, detail, requestId), headers: {}, unexpected: false };
  }
  if (isFastifyClientError(error)) {
    const code =
      (error.code ? FASTIFY_CODES[error.code] : undefined) ?? codeForStatus(error.statusCode);
    const detail =
      FASTIFY_DETAILS[code] ??
      (error.code?.startsWith('FST_') ? error.message : 'The request is malformed.');
    return { body: problemOf(code, detail, requestId), headers: {}, unexpected: false };
  }
  if (isDatabaseUnavailable(error)) {
    return {
      body: problemOf(
        'DEPENDENCY_UNAVAILABLE',
        'The database does not answer; try again shortly.',
        requestId,
      ),
      headers: { 'retry-after': '5' },
      unexpected: false,
    };
  }
  return internal(requestId);
}

/** Socket errors that mean "cannot reach it", not "it refused this request". */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * PostgreSQL cannot be reached or is going away: node-postgres's socket errors and "Connection
 * terminated…", SQLSTATE class 08 (connection exception), 57P01-57P03 (shutdown, cannot connect
 * now) and 53300 (too many connections), also when TypeORM wraps them (driverError).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    // Node's own "the client went away mid-body" (ECONNRESET too), not the database.
    if (message === 'aborted' && code === 'ECONNRESET') return false;
    if (typeof code === 'string') {
      if (UNREACHABLE.has(code) || code.startsWith('08') || code === '53300') return true;
      if (code === '57P01' || code === '57P02' || code === '57P03') return true;
    }
    if (
      typeof message === 'string' &&
      /^Connection terminated|^timeout exceeded when trying to connect/.test(message)
    )
      return true;
    e =
      (e as { driverError?: unknown; cause?: unknown }).driverError ??
      (e as { cause?: unknown }).cause;
  }
  return false;
}

function clientDetail(error: HttpException): string {
  const response = error.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (typeof message === 'string') return message;
  if (Array.isArray(message)) return message.join('; ');
  return error.message;
}

function internal(requestId: string): Problem {
  return {
    body: problemOf(
      'INTERNAL_ERROR',
      `An unexpected error occurred; quote request id ${requestId} when reporting it.`,
      requestId,
    ),
    headers: {},
    unexpected: true,
  };
}

/**
 * A problem answered before the web framework (no route, no request id): its status, and the
 * head fields and body a bare answer carries. The connection closes after it.
 */
export function bareProblem(
  code: ErrorCode,
  detail: string,
): { status: number; headers: Record<string, string>; body: string } {
  const spec = errorSpec(code);
  const body = JSON.stringify({
    type: problemType(code),
    title: spec.title,
    status: spec.status,
    detail,
    code,
  });
  return {
    status: spec.status,
    headers: {
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    },
    body,
  };
}

/** A bare problem on Node's response, for a request Node parsed but the server refuses. */
export function writeBareProblem(res: ServerResponse, code: ErrorCode, detail: string): void {
  const { status, headers, body } = bareProblem(code, detail);
  res.writeHead(status, headers);
  res.end(body);
}

/** The same bare problem as bytes, for a raw socket: a request Node could not parse. */
export function rawProblemResponse(code: ErrorCode, detail: string): string {
  const { status, headers, body } = bareProblem(code, detail);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
  return `${head}\r\n${body}`;
}

/** The answer to a request Node's HTTP parser refused (a server's 'clientError'). */
export function clientErrorResponse(error: Error & { code?: string }): string {
  if (error.code === 'HPE_HEADER_OVERFLOW')
    return rawProblemResponse('HEADERS_TOO_LARGE', 'The request headers exceed 16 KiB.');
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return rawProblemResponse('REQUEST_TIMEOUT', 'The request head did not arrive in time.');
  return rawProblemResponse(
    'BAD_REQUEST',
    'The request is not valid HTTP/1.1 (request line, headers or body framing).',
  );
}
