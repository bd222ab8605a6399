import type { Problem } from './client/api-client';

/** Exit codes: scripts tell these apart (README, `imgsrv --help`). */
export const EXIT = {
  ok: 0,
  /** Anything unexpected (a bug in the CLI, an unreadable file). */
  failure: 1,
  /** Wrong flags or arguments. */
  usage: 2,
  /** 401 or 403: missing, bad or insufficient credentials. */
  auth: 3,
  /** Another 4xx: not found, conflict, invalid content. */
  client: 4,
  /** 5xx, or the server could not be reached. */
  server: 5,
  /** `verify`: a check failed (signature, log inclusion or consistency, manifest, file). */
  unverified: 6,
  /** `verify`: everything verified, but the version was withdrawn. */
  withdrawn: 7,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports on one line (or as a problem) and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly problem?: Problem & Record<string, unknown>,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
    this.name = 'UsageError';
  }
}

export function exitCodeForStatus(status: number): ExitCode {
  if (status === 401 || status === 403) return EXIT.auth;
  if (status >= 400 && status < 500) return EXIT.client;
  return EXIT.server;
}

/** A problem+json body as a few readable lines: title, detail, each field error, the request id. */
export function formatProblem(problem: Partial<Problem> & Record<string, unknown>): string {
  const head = [problem.status, problem.title].filter((x) => x !== undefined).join(' ');
  const lines = [`${head}${problem.code ? ` (${problem.code})` : ''}`];
  if (problem.detail) lines.push(`  ${problem.detail}`);
  for (const e of (problem.errors as { pointer: string; detail: string }[] | undefined) ?? []) {
    lines.push(`  ${e.pointer || '/'}: ${e.detail}`);
  }
  if (problem.instance) lines.push(`  request id: ${problem.instance}`);
  return lines.join('\n');
}

/** The CliError for a failed API answer: `error` is what openapi-fetch parsed from the body. */
export function apiError(what: string, response: Response, error: unknown): CliError {
  const problem =
    error && typeof error === 'object' && 'status' in error
      ? (error as Problem & Record<string, unknown>)
      : ({
          status: response.status,
          title: response.statusText || 'Error',
          detail: typeof error === 'string' && error ? error.slice(0, 500) : undefined,
        } as Problem & Record<string, unknown>);
  return new CliError(
    `${what}: ${formatProblem(problem)}`,
    exitCodeForStatus(response.status),
    problem,
  );
}

/** Network failures (refused, TLS, DNS) are server-side from the operator's point of view. */
export function networkError(what: string, error: unknown): CliError {
  const cause = (error as { cause?: { message?: string; code?: string } }).cause;
  const message = cause?.message ?? (error instanceof Error ? error.message : String(error));
  return new CliError(`${what}: ${message}`, EXIT.server);
}
