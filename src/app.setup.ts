import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import { ProblemFilter } from './common/errors/problem.filter';
import { buildOpenApiDocument } from './common/http/openapi';
import { StrictValidationPipe } from './common/http/validation.pipe';
import type { Logger } from './common/logging/logger';
import { MetricsService } from './common/metrics/metrics.service';

const QUIET_ROUTES = new Set(['/healthz', '/readyz']);

/**
 * Everything that makes the HTTP surface behave as documented: strict decoding, problem+json
 * errors, request ids, request metrics and logs, Swagger UI. main.ts and the e2e app factory both
 * call it, so tests run what ships.
 */
export function configureApp(app: NestFastifyApplication, logger: Logger): void {
  const fastify = app.getHttpAdapter().getInstance();
  const metrics = app.get(MetricsService);

  app.useGlobalPipes(new StrictValidationPipe());

  // Upload parts (and any other non-JSON body) reach their handler as the untouched request
  // stream: never buffered, no body limit here (the CAS service enforces 5 GiB per part). JSON
  // routes refuse such a body with 415 (StrictValidationPipe). Only JSON is parsed: a form or
  // text body is not an API request, and a part sent as text/plain keeps its bytes.
  for (const type of ['application/x-www-form-urlencoded', 'text/plain'])
    if (fastify.hasContentTypeParser(type)) fastify.removeContentTypeParser(type);
  fastify.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  app.useGlobalFilters(new ProblemFilter(logger));

  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done();
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions?.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.observeRequest(request.method, route, reply.statusCode, seconds);
    const entry = {
      reqId: request.id,
      method: request.method,
      route,
      url: request.url,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (QUIET_ROUTES.has(route)) logger.debug(entry, 'request');
    else logger.info(entry, 'request');
    done();
  });

  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
  });
}
