import type { Logger } from '../logging/logger';

/**
 * Background work run every `everyMs` (0 or less: never), never twice at once in one process: a
 * run still going when the next is due makes that one a no-op. A failed run is logged as a
 * warning (`<name> failed`) and the next one tries again; the timer keeps no process alive.
 * Owners start it in onApplicationBootstrap and stop it in onApplicationShutdown.
 */
export class RepeatingTask<T> {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

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

  stop(): void {
    clearInterval(this.timer);
  }

  async run(): Promise<T> {
    if (this.running) return this.none;
    this.running = true;
    try {
      return await this.work();
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message } }, `${this.name} failed`);
      return this.none;
    } finally {
      this.running = false;
    }
  }
}
