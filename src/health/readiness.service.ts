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

@Injectable()
export class ReadinessService {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(REDIS_PROBE) private readonly redis: Redis,
    @Inject(BLOB_STORE) private readonly blobStore: BlobStore,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Runs every check at once; throws NOT_READY naming each failing dependency. */
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
    const failing = names.filter((_, i) => results[i].status === 'rejected');
    if (failing.length === 0) return { database: 'ok', redis: 'ok', blob_store: 'ok' };

    for (const name of failing) {
      const reason = (results[names.indexOf(name)] as PromiseRejectedResult).reason as Error;
      this.logger.warn(
        { check: name, err: { message: reason?.message } },
        'readiness check failed',
      );
    }
    throw new DomainError('NOT_READY', `Not ready: ${failing.join(', ')} unavailable.`, {
      checks: Object.fromEntries(names.map((n) => [n, failing.includes(n) ? 'fail' : 'ok'])),
    });
  }
}
