/**
 * Waiting in tests: bounded polling, never timed assertions. `eventually` waits for a probe to
 * return a value (errors count as "not yet"); `waitUntil` waits for a check on a probe's value
 * (errors fail at once).
 */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value that is not undefined; fails after `attempts`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { attempts = 400, intervalMs = 50 }: { attempts?: number; intervalMs?: number } = {},
): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(`gave up waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** Waits until `check` holds, polling; fails after `limitMs` (a bound, not a timing assertion). */
export async function waitUntil<T>(
  probe: () => Promise<T>,
  check: (value: T) => boolean,
  limitMs = 30_000,
): Promise<T> {
  const until = Date.now() + limitMs;
  for (;;) {
    const value = await probe();
    if (check(value)) return value;
    if (Date.now() > until)
      throw new Error(`condition not met within ${limitMs} ms: ${JSON.stringify(value)}`);
    await sleep(50);
  }
}
