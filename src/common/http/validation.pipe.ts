import { ValidationPipe, type ArgumentMetadata, type ValidationError } from '@nestjs/common';
import { DomainError, type FieldError } from '../errors/domain-error';

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

/**
 * Strict decoding of bodies, queries and params: unknown fields rejected, types transformed,
 * every failure reported with a JSON Pointer.
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
    if (needsObject && (value === null || typeof value !== 'object' || Array.isArray(value))) {
      throw DomainError.validation([{ pointer: '', detail: 'the body must be a JSON object' }]);
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
