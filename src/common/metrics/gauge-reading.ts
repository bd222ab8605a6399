import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../config/config.module';
import { LOGGER } from '../logging/logging.module';
import type { Logger } from '../logging/logger';

/**
 * How long a scrape waits for a reading. A slower one (PostgreSQL struggling, or a connection
 * that stopped answering) leaves the gauges at their last values for that scrape, and the next
 * scrape does not wait on the same read again: under a supervisor's 3 s limit for its processes'
 * answers.
 */
export const READ_WAIT_MS = 2_000;

/**
 * Figures for gauges read from PostgreSQL, at most once per `maxAgeMs` (0: at every scrape):
 * scrapes in between answer the last reading, and scrapes that come while it is being read share
 * that read. A read that fails, or takes longer than `waitMs`, answers null (the gauges keep the
 * values they last had) and is reported to `onFailure`; nothing of it is kept, so the next scrape
 * reads again. A slow read that lands later still serves the scrapes after it, unless a newer
 * reading landed first.
 */
export class GaugeReading<T> {
  private last: { readonly value: T; readonly readAtMs: number } | undefined;
  private waiting: Promise<T | null> | undefined;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly maxAgeMs: number,
    private readonly onFailure: (error: unknown) => void = () => undefined,
    private readonly waitMs = READ_WAIT_MS,
  ) {}

  current(): Promise<T | null> {
    if (this.last && performance.now() - this.last.readAtMs < this.maxAgeMs)
      return Promise.resolve(this.last.value);
    return (this.waiting ??= this.readNow().finally(() => (this.waiting = undefined)));
  }

  private readNow(): Promise<T | null> {
    // Its age counts from before the read: a change it may have missed is at most that old.
    const readAtMs = performance.now();
    const read = this.read().then(
      (value) => {
        if (!this.last || this.last.readAtMs < readAtMs) this.last = { value, readAtMs };
        return value;
      },
      (error: unknown) => {
        this.onFailure(error);
        return null;
      },
    );
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => {
        this.onFailure(new Error(`no answer within ${this.waitMs} ms`));
        resolve(null);
      }, this.waitMs);
      timer.unref();
    });
    return Promise.race([read, late]).finally(() => clearTimeout(timer));
  }
}

/**
 * Makes the application's gauge readings: each lasts IMGSRV_METRICS_MAX_AGE unless told
 * otherwise, and a failed one is logged with what it was reading.
 */
@Injectable()
export class GaugeReadings {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** A reading of `what` (named in the log when it fails) by `read`. */
  of<T>(
    what: string,
    read: () => Promise<T>,
    maxAgeMs = this.config.metrics.dbMaxAgeMs,
  ): GaugeReading<T> {
    return new GaugeReading(read, maxAgeMs, (error) =>
      this.logger.warn(
        { gauges: what, err: { message: (error as Error).message } },
        'could not read figures for the metrics; the gauges keep their last values',
      ),
    );
  }
}
