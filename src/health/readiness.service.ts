import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { BLOB_STORE, type BlobStore } from '../cas/blob-store/blob-store';
import { DomainError } from '../common/errors/domain-error';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { REDIS_PROBE } from '../queue/queue.module';

const CHECK_TIMEOUT_MS = 2_000;

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export type CheckName = 'database' | 'redis' | 'blob_store';
/** `full`: the blob store answers but has no room for writes (STORAGE_FULL). */
export type CheckState = 'ok' | 'fail' | 'full';

function stateOf(result: PromiseSettledResult<unknown>): CheckState {
  if (result.status === 'fulfilled') return 'ok';
  const reason: unknown = result.reason;
  return reason instanceof DomainError && reason.code === 'STORAGE_FULL' ? 'full' : 'fail';
}

@Injectable()
export class ReadinessService {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(REDIS_PROBE) private readonly redis: Redis,
    @Inject(BLOB_STORE) private readonly blobStore: BlobStore,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Runs every check at once; throws NOT_READY naming each failing dependency (a full blob store
   * as `full`, so that it recovers by itself when space returns, as the others do).
   */
  async check(): Promise<Record<CheckName, 'ok'>> {
    const checks: Record<CheckName, () => Promise<unknown>> = {
      database: () => this.dataSource.query('SELECT 1'),
      redis: () => this.redis.ping(),
      blob_store: () => this.blobStore.check(),
    };
    const names = Object.keys(checks) as CheckName[];
    const results = await Promise.allSettled(
      names.map((n) => withTimeout(checks[n](), CHECK_TIMEOUT_MS)),
    );
    const states = results.map(stateOf);
    const failing = names.filter((_, i) => results[i].status === 'rejected');
    if (failing.length === 0) return { database: 'ok', redis: 'ok', blob_store: 'ok' };

    for (const name of failing) {
      const reason = (results[names.indexOf(name)] as PromiseRejectedResult).reason as Error;
      this.logger.warn(
        { check: name, err: { message: reason?.message } },
        'readiness check failed',
      );
    }
    const named = (state: CheckState) => names.filter((_, i) => states[i] === state).join(', ');
    const why = [
      named('fail') && `${named('fail')} unavailable`,
      named('full') && `${named('full')} out of space`,
    ].filter(Boolean);
    throw new DomainError('NOT_READY', `Not ready: ${why.join('; ')}.`, {
      checks: Object.fromEntries(names.map((n, i) => [n, states[i]])),
    });
  }
}
