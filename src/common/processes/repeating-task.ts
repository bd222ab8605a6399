import type { Logger } from '../logging/logger';

/** How long `stop()` waits for a run under way. */
const STOP_WAIT_MS = 10_000;

/**
 * Background work run every `everyMs` (0 or less: never), never twice at once in one process: a
 * run still going when the next is due makes that one a no-op. A failed run is logged as a
 * warning (`<name> failed`) and the next one tries again; the timer keeps no process alive.
 * Owners start it in onApplicationBootstrap and await `stop()` in beforeApplicationShutdown, while
 * the database a run uses is still open.
 */
export class RepeatingTask<T> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<T> | null = null;

  constructor(
    private readonly name: string,
    private readonly work: () => Promise<T>,
    /** What a skipped or failed run answers. */
    private readonly none: T,
    private readonly logger: Logger,
  ) {}

  start(everyMs: number): void {
    if (everyMs <= 0) return;
    this.timer = setInterval(() => void this.run(), everyMs);
    this.timer.unref();
  }

  /**
   * No more runs; settles when the run under way (if any) has ended, or after `waitMs` at most, so
   * a run stuck on an unreachable database cannot hold a shutdown.
   */
  async stop(waitMs = STOP_WAIT_MS): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    if (!this.running) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.running,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs))),
    ]);
    clearTimeout(timer);
  }

  run(): Promise<T> {
    if (this.running) return Promise.resolve(this.none);
    // `.finally` runs after this assignment even when the work fails at once.
    const running = this.attempt().finally(() => {
      if (this.running === running) this.running = null;
    });
    this.running = running;
    return running;
  }

  private async attempt(): Promise<T> {
    try {
      return await this.work();
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message } }, `${this.name} failed`);
      return this.none;
    }
  }
}
