import { setFlagsFromString } from 'node:v8';

/** What the server sets: V8's own flag. */
export const NO_PRETENURING = '--no-allocation-site-pretenuring';

const GIVEN = /--(no-)?allocation[-_]site[-_]pretenuring\b/;

/**
 * Turns off V8's allocation-site pretenuring in the server unless the operator chose either way
 * in node's arguments or NODE_OPTIONS. True when it was turned off here.
 *
 * V8 watches where objects are allocated; when most of one allocation site's objects survive
 * young-generation collections, it allocates that site's next objects straight into the old
 * generation. A server's long requests (uploads lasting seconds, publishes, renders) teach it
 * that Node's own request, response and header objects live long, and every short request after
 * that allocates them in the old generation: under a load of 304s it filled in half a second and
 * was marked and compacted twice a second, with young collections taking a seventh of the main
 * thread besides. Measured after the streams benchmark's set-up (400 versions published): 39,000
 * 304s a second with pretenuring, 60,000 without; Node's HTTP server alone gave 64,000.
 * V8 reads the flag as it collects and compiles, so setting it at start-up takes effect at once.
 */
export function noPretenuring(execArgv: readonly string[], nodeOptions: string): boolean {
  if (execArgv.some((a) => GIVEN.test(a)) || GIVEN.test(nodeOptions)) return false;
  setFlagsFromString(NO_PRETENURING);
  return true;
}
