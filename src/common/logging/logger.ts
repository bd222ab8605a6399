import type { LoggerService } from '@nestjs/common';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { AppConfig } from '../../config/app-config';
import { redactSecrets } from './redact';

export type { Logger } from 'pino';

/** Object paths never worth logging at all, whatever their content. */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  'headers.authorization',
  '*.password',
  '*.secret',
  '*.token',
  '*.plaintext',
  '*.secretAccessKey',
  '*.secret_access_key',
];

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

function textLine(json: string): string {
  try {
    const {
      level,
      time,
      msg,
      pid: _pid,
      hostname: _host,
      ...rest
    } = JSON.parse(json) as Record<string, unknown>;
    const fields = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    const when = new Date(Number(time)).toISOString();
    return `${when} ${LEVEL_NAMES[Number(level)] ?? level} ${String(msg ?? '')}${fields ? ` ${fields}` : ''}\n`;
  } catch {
    return json;
  }
}

/** A destination that scrubs secrets from each line and, for `text`, reformats it. */
function scrubbingDestination(format: 'json' | 'text', out: DestinationStream): DestinationStream {
  return {
    write(line: string) {
      const clean = redactSecrets(line);
      out.write(format === 'text' ? textLine(clean) : clean);
    },
  };
}

/** `auto` is text for a person at a terminal, JSON lines for anything that collects stdout. */
export function resolveLogFormat(
  format: AppConfig['log']['format'],
  stdoutIsTerminal = process.stdout.isTTY === true,
): 'json' | 'text' {
  if (format !== 'auto') return format;
  return stdoutIsTerminal ? 'text' : 'json';
}

export function createLogger(
  config: AppConfig['log'],
  out: DestinationStream = pino.destination({ dest: 1, sync: false }),
): Logger {
  return pino(
    {
      level: config.level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      timestamp: pino.stdTimeFunctions.epochTime,
      serializers: { err: pino.stdSerializers.err },
    },
    scrubbingDestination(resolveLogFormat(config.format), out),
  );
}

/**
 * Routes Nest's own log calls into the same pino logger. Nest's `log` level is its start-up
 * narrative (every module initialized, every route mapped: about a hundred lines): debug, so a
 * default start shows what an operator needs and no more.
 */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  error(message: unknown, stack?: string, context?: string): void {
    this.logger.error({ context, stack }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
  fatal(message: unknown, context?: string): void {
    this.logger.fatal({ context }, String(message));
  }
}
