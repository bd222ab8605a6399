import type { JobsOptions, Queue } from 'bullmq';
import type { Logger } from '../common/logging/logger';

/**
 * How long a wake-up may wait for Redis. BullMQ's connection retries commands until Redis is back
 * (maxRetriesPerRequest: null), so an unbounded wait would hold the request that committed the
 * work for as long as Redis is down; the command itself stays queued and is still sent when Redis
 * returns, and the sweepers cover it if it is not.
 */
export const WAKE_TIMEOUT_MS = 2_000;

/**
 * Adds a wake-up job to `queue`, waiting at most WAKE_TIMEOUT_MS. Redis is transport only: the
 * work is in PostgreSQL and a sweeper wakes it again, so a failure is logged (`could not enqueue
 * <what>`, with `context`), never thrown. Wake-ups are removed when done and run once.
 */
export async function wake<T>(
  queue: Queue<T>,
  job: {
    name: string;
    data: T;
    options: Omit<JobsOptions, 'removeOnComplete' | 'removeOnFail' | 'attempts'>;
  },
  logger: Logger,
  what: string,
  context: Record<string, unknown>,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Redis did not answer within ${WAKE_TIMEOUT_MS} ms`)),
      WAKE_TIMEOUT_MS,
    );
  });
  const added = (queue as Queue).add(job.name, job.data, {
    ...job.options,
    removeOnComplete: true,
    removeOnFail: true,
    attempts: 1,
  });
  added.catch(() => undefined);
  try {
    await Promise.race([added, timeout]);
  } catch (error) {
    logger.warn(
      { ...context, err: { message: (error as Error).message } },
      `could not enqueue ${what}`,
    );
  } finally {
    clearTimeout(timer);
  }
}
