import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DURATION_PATTERN } from '../config/env.schema';
import { parseDuration } from '../config/app-config';

/** Wrong usage of a command: main.ts prints it with the usage text and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs, strict, with its complaints turned into UsageErrors. */
export function parseCommandArgs<O extends Options>(
  argv: readonly string[],
  options: O,
  positionals = 0,
) {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options,
      strict: true,
      allowPositionals: positionals > 0,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (parsed.positionals.length > positionals) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[positionals])}`);
  }
  return parsed;
}

export function durationOption(name: string, value: string): number {
  if (!DURATION_PATTERN.test(value) || parseDuration(value) <= 0) {
    throw new UsageError(`${name} must be a positive duration such as 30m, 12h or 7d`);
  }
  return parseDuration(value);
}
