import { EXIT, exitCodeForStatus, formatProblem } from './errors';

describe('exit codes', () => {
  it.each([
    [401, EXIT.auth],
    [403, EXIT.auth],
    [404, EXIT.client],
    [409, EXIT.client],
    [422, EXIT.client],
    [500, EXIT.server],
    [503, EXIT.server],
  ])('status %i exits %i', (status, code) => expect(exitCodeForStatus(status)).toBe(code));
});

describe('formatProblem', () => {
  it('prints title, code, detail, each field error and the request id', () => {
    expect(
      formatProblem({
        status: 400,
        title: 'Bad Request',
        code: 'VALIDATION_FAILED',
        detail: 'The body is invalid.',
        instance: 'req-1',
        errors: [{ pointer: '/version', detail: 'must match …' }],
      }),
    ).toBe(
      '400 Bad Request (VALIDATION_FAILED)\n  The body is invalid.\n  /version: must match …\n  request id: req-1',
    );
  });
});
