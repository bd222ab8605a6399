export interface DiscoveryCacheOptions {
  /** How long a successful load is used. */
  readonly ttlMs: number;
  /** After the n-th consecutive failure, no new load for base·2^(n-1), at most cap. */
  readonly backoffBaseMs: number;
  readonly backoffCapMs: number;
  /** Loads under way at once, over all keys; one more is refused rather than queued. */
  readonly maxInFlight: number;
  readonly now?: () => number;
}

/** Every load slot is taken; the caller should answer "try again" rather than wait. */
export class DiscoveryBusyError extends Error {}

/** The last load failed and the next is not due yet; `failure` is what it threw. */
export class DiscoveryBackoffError extends Error {
  constructor(
    readonly failure: unknown,
    readonly retryInMs: number,
  ) {
    super(`${(failure as Error).message} (failed recently; next attempt in ${retryInMs} ms)`);
  }
}

interface Entry<T> {
  value?: T;
  loadedAt: number;
  failures: number;
  retryAt: number;
  lastError?: unknown;
  pending?: Promise<T>;
}

/** Keep at most this many idle entries (issuers come from rules, so the set is small anyway). */
const MAX_ENTRIES = 1000;

/**
 * Per-key results of an expensive remote load (an issuer's discovery document and keys):
 * success kept for a TTL, failure remembered with exponential backoff, one load per key in
 * flight (concurrent callers share it), and a bound on loads in flight over all keys.
 */
export class DiscoveryCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private inFlight = 0;
  private readonly now: () => number;

  constructor(private readonly options: DiscoveryCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * The cached value if it was loaded less than `maxAgeMs` ago (default: the TTL), otherwise
   * the result of a load: the one already under way, or a new one unless backing off or busy.
   */
  async get(key: string, load: () => Promise<T>, maxAgeMs = this.options.ttlMs): Promise<T> {
    const now = this.now();
    let entry = this.entries.get(key);
    const age = Math.min(maxAgeMs, this.options.ttlMs);
    if (entry?.value !== undefined && now < entry.loadedAt + age) return entry.value;
    if (entry?.pending) return entry.pending;
    if (entry && now < entry.retryAt)
      throw new DiscoveryBackoffError(entry.lastError, entry.retryAt - now);
    if (this.inFlight >= this.options.maxInFlight)
      throw new DiscoveryBusyError(`${this.inFlight} discoveries are already under way`);

    if (!entry) {
      this.prune(now);
      entry = { loadedAt: 0, failures: 0, retryAt: 0 };
      this.entries.set(key, entry);
    }
    const current = entry;
    this.inFlight++;
    current.pending = (async () => {
      try {
        const value = await load();
        Object.assign(current, { value, loadedAt: this.now(), failures: 0, retryAt: 0 });
        current.lastError = undefined;
        return value;
      } catch (error) {
        current.failures++;
        const delay = Math.min(
          this.options.backoffBaseMs * 2 ** (current.failures - 1),
          this.options.backoffCapMs,
        );
        current.retryAt = this.now() + delay;
        current.lastError = error;
        throw error;
      } finally {
        this.inFlight--;
        current.pending = undefined;
      }
    })();
    return current.pending;
  }

  private prune(now: number): void {
    if (this.entries.size < MAX_ENTRIES) return;
    for (const [key, e] of this.entries) {
      if (!e.pending && now >= e.retryAt && now >= e.loadedAt + this.options.ttlMs)
        this.entries.delete(key);
    }
  }
}
