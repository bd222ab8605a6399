import type { Dispatcher } from 'undici';
import type { ApiClient } from './client/api-client';
import type { Connection } from './config';
import type { ProgressSink } from './progress';

/** What every command gets: the client, the connection it was made from, and the outputs. */
export interface CliContext {
  readonly client: ApiClient;
  readonly dispatcher: Dispatcher;
  readonly connection: Connection;
  readonly json: boolean;
  readonly quiet: boolean;
  readonly env: NodeJS.ProcessEnv;
  /** Results (and the --json document). */
  readonly stdout: ProgressSink;
  /** Progress and messages. */
  readonly stderr: ProgressSink;
}

/** Human output goes to stdout unless --json asked for one JSON document there. */
export function say(ctx: CliContext, text: string): void {
  if (ctx.json) ctx.stderr.write(`${text}\n`);
  else ctx.stdout.write(`${text}\n`);
}

export function note(ctx: CliContext, text: string): void {
  if (!ctx.quiet) ctx.stderr.write(`${text}\n`);
}

export function emitJson(ctx: CliContext, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
