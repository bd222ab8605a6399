import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's `gc()` once obtained; null when this Node would not give it. */
let gc: (() => void) | null | undefined;

function exposedGc(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    const fn: unknown = runInNewContext('gc');
    return typeof fn === 'function' ? (fn as () => void) : null;
  } catch {
    return null;
  }
}

/**
 * Runs a full, blocking collection of the process's heap (V8's `gc()`, which a process gets
 * without `--expose-gc` by setting the flag and taking the function from a new context, as jest
 * does to find leaks). For the rare moments that leave much garbage behind in a process that
 * otherwise allocates little: V8 keeps garbage until its heap or external-memory limits trip, tens
 * of MiB later. Answers how long it took, in seconds, or undefined when this Node gives no `gc()`
 * (nothing is collected then).
 */
export function fullCollection(): number | undefined {
  gc ??= exposedGc();
  if (!gc) return undefined;
  const started = performance.now();
  gc();
  return (performance.now() - started) / 1000;
}
