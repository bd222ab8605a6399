import { ValidationPipe, type ArgumentMetadata, type ValidationError } from '@nestjs/common';
import { DomainError, type FieldError } from '../errors/domain-error';
import { unstorableText } from '../text';

function pointers(errors: ValidationError[], prefix: string): FieldError[] {
  return errors.flatMap((e) => {
    const pointer = `${prefix}/${e.property}`;
    const own = Object.entries(e.constraints ?? {}).map(([rule, message]) => ({
      pointer,
      detail: rule === 'whitelistValidation' ? 'unknown field' : message,
    }));
    return [...own, ...pointers(e.children ?? [], pointer)];
  });
}

/** Deeper JSON than this is refused: no request body of the API nests past a few levels. */
export const MAX_NESTING = 32;

const escapePointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * A record of decoded input: what JSON.parse makes, or a query or params object (Fastify's have a
 * prototype that itself has none). Not a stream, a Buffer or any other class instance.
 */
function isPlainObject(v: unknown): v is object {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v) as object | null;
  return proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null;
}

/**
 * The first problem in decoded input that no validator rule states but every route shares:
 * nesting deeper than MAX_NESTING, or a text (value or field name) that cannot be stored. Walks
 * without recursion, so no depth of input can exhaust the stack here.
 */
export function inputProblem(value: unknown, pointer: string): FieldError | null {
  const stack: [unknown, string, number][] = [[value, pointer, 0]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [v, at, depth] = next;
    if (typeof v === 'string') {
      const problem = unstorableText(v);
      if (problem) return { pointer: at, detail: problem };
    } else if (Array.isArray(v) || isPlainObject(v)) {
      if (depth >= MAX_NESTING)
        return { pointer: at, detail: `nested more than ${MAX_NESTING} levels deep` };
      for (const [key, child] of Object.entries(v)) {
        const inner = `${at}/${escapePointer(key)}`;
        const problem = unstorableText(key);
        if (problem) return { pointer: inner, detail: `field name ${problem}` };
        stack.push([child, inner, depth + 1]);
      }
    }
  }
  return null;
}

/**
 * Strict decoding of bodies, queries and params: unknown fields rejected, types transformed,
 * every failure reported with a JSON Pointer. A JSON route's body must be a JSON object: any other
 * Content-Type reaches it as the raw request stream (the catch-all parser, for upload parts) and
 * is refused with 415 before anything walks it.
 */
export class StrictValidationPipe extends ValidationPipe {
  constructor() {
    super({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      forbidUnknownValues: true,
      stopAtFirstError: false,
      validationError: { target: false, value: false },
      exceptionFactory: (errors) => DomainError.validation(pointers(errors, '')),
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const needsObject = metadata.type === 'body' && metadata.metatype && this.toValidate(metadata);
    if (needsObject && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      if (!isPlainObject(value))
        throw new DomainError(
          'UNSUPPORTED_MEDIA_TYPE',
          'This route takes a JSON object: send it as Content-Type: application/json.',
        );
    } else if (needsObject) {
      throw DomainError.validation([{ pointer: '', detail: 'the body must be a JSON object' }]);
    }
    if (metadata.type !== 'custom') {
      const base =
        metadata.type === 'body'
          ? ''
          : `/${metadata.type}${metadata.data ? `/${escapePointer(metadata.data)}` : ''}`;
      const problem = inputProblem(value, base);
      if (problem) throw DomainError.validation([problem]);
    }
    try {
      return await super.transform(value, metadata);
    } catch (error) {
      if (error instanceof DomainError && metadata.type !== 'body') {
        const errors = (error.extensions.errors as FieldError[]).map((e) => ({
          ...e,
          pointer: `/${metadata.type}${e.pointer}`,
        }));
        throw DomainError.validation(errors);
      }
      throw error;
    }
  }
}
