/**
 * Figures for gauges that are costly to read (queries over whole tables), read at most once per
 * `maxAgeMs`: scrapes in between answer the last reading, and scrapes that come while it is being
 * read share that read. A failed read answers null and is not kept, so the next scrape tries
 * again; the gauges then keep the values they last had. `maxAgeMs` 0 reads at every scrape.
 */
export class GaugeReading<T> {
  private last: { readonly value: T; readonly readAtMs: number } | undefined;
  private reading: Promise<T | null> | undefined;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly maxAgeMs: number,
  ) {}

  current(): Promise<T | null> {
    if (this.last && performance.now() - this.last.readAtMs < this.maxAgeMs)
      return Promise.resolve(this.last.value);
    return (this.reading ??= this.readNow().finally(() => (this.reading = undefined)));
  }

  private async readNow(): Promise<T | null> {
    // Its age counts from before the read: a change it may have missed is at most that old.
    const readAtMs = performance.now();
    try {
      const value = await this.read();
      this.last = { value, readAtMs };
      return value;
    } catch {
      return null;
    }
  }
}
