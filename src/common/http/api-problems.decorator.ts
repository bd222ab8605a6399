import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { ProblemDto } from './problem.dto';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Malformed input (problem lists each field in `errors`)',
  401: 'Missing, malformed, expired or revoked credentials',
  403: 'Authenticated but not allowed',
  404: 'Not found (also for what an anonymous caller may not see)',
  409: 'Conflict with the current state',
  411: 'Content-Length is required',
  412: 'If-Match did not match',
  413: 'Body too large',
  415: 'Unsupported Content-Type',
  416: 'Range not satisfiable',
  422: 'Content does not match its declared digest or size',
  503: 'A dependency is unavailable',
  507: 'The blob store is out of space: send again once space returns',
};

/**
 * Documents the problem+json answers a route may give. Every route may also answer 503 (the
 * database, Redis or the blob store unavailable) and 500, so those are always documented.
 */
export const ApiProblems = (...statuses: number[]) =>
  applyDecorators(
    ApiExtraModels(ProblemDto),
    ...[...new Set([...statuses, 503])].map((status) =>
      ApiResponse({
        status,
        description: DESCRIPTIONS[status] ?? 'Problem',
        content: {
          'application/problem+json': { schema: { $ref: '#/components/schemas/ProblemDto' } },
        },
      }),
    ),
    // The filter answers every error, a 500 included, as problem+json.
    ApiResponse({
      status: 500,
      description: 'Unexpected error',
      content: { 'application/problem+json': { schema: { $ref: getSchemaPath(ProblemDto) } } },
    }),
  );
