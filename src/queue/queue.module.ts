import { BullModule } from '@nestjs/bullmq';
import { Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import IORedis, { type Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { redisOptionsFromUrl } from './redis-connection';

/** A Redis client for quick checks (readiness): fails fast while Redis is down, reconnects after. */
export const REDIS_PROBE = Symbol('REDIS_PROBE');

@Injectable()
class RedisProbeCloser implements OnApplicationShutdown {
  constructor(@Inject(REDIS_PROBE) private readonly redis: Redis) {}

  onApplicationShutdown(): void {
    this.redis.disconnect();
  }
}

/**
 * BullMQ's shared connection settings. Redis only wakes workers; every job's truth lives in
 * PostgreSQL, so losing Redis loses no work.
 */
@Global()
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        connection: { url: config.redis.url, maxRetriesPerRequest: null },
        prefix: config.redis.prefix,
      }),
    }),
  ],
  providers: [
    {
      provide: REDIS_PROBE,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        new IORedis({
          ...redisOptionsFromUrl(config.redis.url),
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          connectTimeout: 2_000,
          retryStrategy: (attempt) => Math.min(attempt * 250, 2_000),
          lazyConnect: false,
        }).on('error', () => undefined),
    },
    RedisProbeCloser,
  ],
  exports: [BullModule, REDIS_PROBE],
})
export class QueueModule {}
