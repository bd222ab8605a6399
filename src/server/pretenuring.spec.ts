import { spawnSync } from 'node:child_process';
import { NO_PRETENURING, noPretenuring } from './pretenuring';

/**
 * Where a batch of short-lived objects from one allocation site lands after the site's earlier
 * objects all survived young-generation collections (V8's cue to pretenure it): the median growth
 * of the old generation per batch of 10,000 objects, in KiB, with pretenuring turned off at run
 * time (as the server does) or not.
 */
function oldGrowthPerBatchKiB(off: boolean): number {
  const script = `
    const v8 = require('node:v8');
    if (process.argv[1]) v8.setFlagsFromString(process.argv[1]);
    const old = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_used_size;
    function make(i) { return { a: i, b: i + 1, c: null, d: 'x' }; }
    let keep = [];
    for (let k = 0; k < 4; k++) { keep = []; for (let i = 0; i < 1e6; i++) keep.push(make(i)); }
    keep.length = 0;
    const growth = [];
    let last;
    for (let r = 0; r < 101; r++) {
      const before = old();
      for (let i = 0; i < 1e4; i++) last = make(i);
      growth.push(old() - before);
    }
    growth.sort((a, b) => a - b);
    process.stdout.write(String(growth[50] / 1024 + last.c));
  `;
  const run = spawnSync(process.execPath, ['-e', script, off ? NO_PRETENURING : ''], {
    encoding: 'utf8',
  });
  expect(run.status).toBe(0);
  return Number(run.stdout);
}

describe('noPretenuring', () => {
  it("leaves the operator's own choice alone", () => {
    expect(noPretenuring(['--allocation-site-pretenuring'], '')).toBe(false);
    expect(noPretenuring([], '--max-old-space-size=512 --no-allocation_site_pretenuring')).toBe(
      false,
    );
    expect(noPretenuring(['--enable-source-maps'], '--max-old-space-size=512')).toBe(true);
  });

  it('keeps short-lived objects young after their site looked long-lived, set while the process runs', () => {
    // V8 does not pretenure this site in every run: try until it does, to show the workload can
    // tell (it did in 7 of 8 runs on Node 20 and 26 alike, 500-550 KiB a batch: the whole batch).
    let pretenured = 0;
    for (let attempt = 0; attempt < 4 && pretenured < 256; attempt++)
      pretenured = oldGrowthPerBatchKiB(false);
    expect(pretenured).toBeGreaterThan(256);
    for (let run = 0; run < 3; run++) expect(oldGrowthPerBatchKiB(true)).toBeLessThan(64);
  });
});
