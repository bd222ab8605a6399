import { BadRequestException, HttpException, NotFoundException } from '@nestjs/common';
import { DomainError } from './domain-error';
import { COMMON_ERRORS } from './error-registry';
import { isDatabaseUnavailable, toProblem } from './problem';

describe('toProblem', () => {
  it('maps a domain error through the registry, keeping its extensions', () => {
    const p = toProblem(
      DomainError.validation([{ pointer: '/name', detail: 'too long' }]),
      'req-1',
    );
    expect(p.unexpected).toBe(false);
    expect(p.body).toEqual({
      type: 'urn:imgsrv:problem:validation-failed',
      title: COMMON_ERRORS.VALIDATION_FAILED.title,
      status: 400,
      detail: '/name: too long',
      instance: 'req-1',
      code: 'VALIDATION_FAILED',
      errors: [{ pointer: '/name', detail: 'too long' }],
    });
  });

  it('tells an unknown route from other 404s', () => {
    expect(toProblem(new NotFoundException('Cannot GET /x'), 'r').body.code).toBe(
      'ROUTE_NOT_FOUND',
    );
    expect(toProblem(new NotFoundException('gone'), 'r').body.code).toBe('NOT_FOUND');
  });

  it('unwraps Fastify errors that Nest wrapped, keeping their specific code', () => {
    const fastifyError = Object.assign(new Error('Body is not valid JSON'), {
      code: 'FST_ERR_CTP_INVALID_JSON_BODY',
      statusCode: 400,
    });
    const wrapped = new HttpException(fastifyError.message, 400, { cause: fastifyError });
    const p = toProblem(wrapped, 'r');
    expect(p.body.code).toBe('MALFORMED_JSON');
    expect(p.body.status).toBe(400);
  });

  it('maps a too-large body to 413', () => {
    const e = Object.assign(new Error('Request body is too large'), {
      code: 'FST_ERR_CTP_BODY_TOO_LARGE',
      statusCode: 413,
    });
    expect(toProblem(e, 'r').body).toMatchObject({ status: 413, code: 'BODY_TOO_LARGE' });
  });

  it('hides the message of an unexpected error behind a generic 500', () => {
    const p = toProblem(
      new Error('relation "secret_table" does not exist at /srv/app.js'),
      'req-9',
    );
    expect(p.unexpected).toBe(true);
    expect(p.body.status).toBe(500);
    expect(p.body.code).toBe('INTERNAL_ERROR');
    expect(JSON.stringify(p.body)).not.toMatch(/secret_table|\/srv/);
    expect(p.body.detail).toContain('req-9');
  });

  it('never turns a 5xx HttpException into a client error, nor leaks its message', () => {
    const p = toProblem(new HttpException('db password wrong', 502), 'r');
    expect(p.body.status).toBe(500);
    expect(p.body.detail).not.toContain('password');
    expect(toProblem(new BadRequestException('bad'), 'r').body).toMatchObject({
      status: 400,
      detail: 'bad',
    });
  });
});

describe('isDatabaseUnavailable', () => {
  it('does not take a client that went away mid-body for the database', () => {
    const aborted = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    expect(isDatabaseUnavailable(aborted)).toBe(false);
    expect(
      isDatabaseUnavailable(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })),
    ).toBe(true);
  });
});
