import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem';

/** Writes the problem for `error` unless the response has already started. */
export function sendProblem(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  logger: Logger,
): void {
  const problem = toProblem(error, String(request.id));
  if (problem.unexpected) {
    logger.error(
      { err: error, reqId: request.id, route: request.routeOptions?.url },
      'unexpected error',
    );
  } else if (problem.body.status >= 500) {
    logger.warn(
      { reqId: request.id, code: problem.body.code, detail: problem.body.detail },
      'dependency error',
    );
  }
  if (reply.sent || reply.raw.headersSent) {
    // The body is already on its way (a stream failed mid-flight): cut the connection so the
    // client sees a truncated response rather than a silently short one.
    reply.raw.destroy();
    return;
  }
  void reply
    .code(problem.body.status)
    .headers({
      ...problem.headers,
      'content-type': PROBLEM_CONTENT_TYPE,
      'cache-control': 'no-store',
    })
    .send(JSON.stringify(problem.body));
}
