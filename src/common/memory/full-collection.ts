import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

/**
 * Runs a full, blocking collection of the process's heap (V8's `gc()`, which a process gets
 * without `--expose-gc` by setting the flag and taking the function from a new context, as jest
 * does to find leaks). For the rare moments that leave much garbage behind in a process that
 * otherwise allocates little: V8 keeps garbage until its heap or external-memory limits trip, tens
 * of MiB later. Answers how long it took, in seconds.
 */
export function fullCollection(): number {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  const started = performance.now();
  gc();
  return (performance.now() - started) / 1000;
}
