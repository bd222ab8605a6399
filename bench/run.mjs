// `npm run bench [-- --quick] [-- --only bulk,streams]`: every benchmark of the CAS, catalog,
// publish and streams issues, side by side with its reference, on this machine, in this run.
// Writes bench/REPORT.md, bench/report.json and the plots under bench/plots/.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BenchContext } from './lib/context.mjs';
import { machineInfo } from './lib/machine.mjs';
import { ROOT } from './lib/procs.mjs';
import { writeReport } from './lib/report.mjs';
import { GIB, log, MIB } from './lib/util.mjs';
import { bulkSuite } from './suites/bulk.mjs';
import { catalogSuite } from './suites/catalog.mjs';
import { lifecycleSuite } from './suites/lifecycle.mjs';
import { mirrorSuite } from './suites/mirror.mjs';
import { provenanceSuite } from './suites/provenance.mjs';
import { publishSuite } from './suites/publish.mjs';
import { streamsSuite } from './suites/streams.mjs';
import { scaleOutSuite } from './suites/scaleout.mjs';
import { scaleSuite } from './suites/scale.mjs';

const SUITES = {
  bulk: bulkSuite,
  catalog: catalogSuite,
  publish: publishSuite,
  streams: streamsSuite,
  scaleout: scaleOutSuite,
  lifecycle: lifecycleSuite,
  scale: scaleSuite,
  provenance: provenanceSuite,
  mirror: mirrorSuite,
};

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    // A tiny pass that only proves the harness end to end (sizes far below every target's).
    smoke: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'bench') },
    keep: { type: 'boolean', default: false },
  },
});

const quick = values.quick || values.smoke;
const settings = values.smoke
  ? {
      bigSize: 16 * MIB,
      runs: 1,
      loadSeconds: 1,
      loadRuns: 1,
      sequentialPublishes: 3,
      concurrentPublishes: 5,
      streamsVersions: 20,
      streamsAliases: 6,
      renderRuns: 1,
      scaleOutSeconds: 3,
      scaleSizes: [10, 30],
      scalePublishes: 2,
      provenanceRecords: 50,
    }
  : quick
    ? {
        bigSize: 256 * MIB,
        runs: 3,
        loadSeconds: 4,
        loadRuns: 2,
        sequentialPublishes: 20,
        concurrentPublishes: 100,
        streamsVersions: 400,
        streamsAliases: 120,
        renderRuns: 3,
        scaleOutSeconds: 20,
        scaleSizes: [200, 2000],
        scalePublishes: 5,
        provenanceRecords: 2000,
      }
    : {
        bigSize: 1 * GIB,
        runs: 5,
        loadSeconds: 8,
        loadRuns: 3,
        sequentialPublishes: 50,
        concurrentPublishes: 100,
        streamsVersions: 1000,
        streamsAliases: 300,
        renderRuns: 5,
        scaleOutSeconds: 45,
        scaleSizes: [1000, 10000],
        scalePublishes: 11,
        provenanceRecords: 10000,
      };

const selected = values.only ? values.only.split(',') : Object.keys(SUITES);
for (const name of selected) if (!SUITES[name]) throw new Error(`unknown suite ${name}`);

const started = new Date();
const workDir = join(ROOT, 'bench', '.work', started.toISOString().replace(/[:.]/g, '-'));
await mkdir(workDir, { recursive: true });
const ctx = new BenchContext({ quick, workDir, settings });
const timings = {};
let failure;
try {
  for (const name of selected) {
    log(`suite ${name}`);
    const t0 = Date.now();
    await SUITES[name](ctx);
    timings[name] = (Date.now() - t0) / 1000;
  }
} catch (error) {
  failure = error;
  log(`FAILED: ${error.stack ?? error}`);
} finally {
  await ctx.cleanup();
  if (!values.keep) await rm(workDir, { recursive: true, force: true });
}

const finished = new Date();
const machine = await machineInfo();
await writeReport({
  outDir: values.out,
  ctx,
  machine,
  run: {
    mode: values.smoke ? 'smoke' : quick ? 'quick' : 'full',
    suites: selected,
    started: started.toISOString(),
    finished: finished.toISOString(),
    duration_s: (finished - started) / 1000,
    suite_durations_s: timings,
    settings,
    failure: failure ? String(failure.message ?? failure) : null,
  },
});
log(`report written to ${values.out} in ${((finished - started) / 1000).toFixed(0)} s`);
process.exit(failure ? 1 : 0);
