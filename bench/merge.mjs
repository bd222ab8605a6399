// `node bench/merge.mjs DIR`: folds the figures of a partial run (`npm run bench -- --only S --out
// DIR`) into bench/report.json and bench/REPORT.md, replacing figures with the same id and keeping
// the rest of the full run. The report then names each partial run it took figures from.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT } from './lib/procs.mjs';
import { writeReport } from './lib/report.mjs';

const from = process.argv[2];
if (!from) throw new Error('usage: node bench/merge.mjs DIR (a partial run’s --out directory)');
const outDir = join(ROOT, 'bench');
const base = JSON.parse(await readFile(join(outDir, 'report.json'), 'utf8'));
const part = JSON.parse(await readFile(join(from, 'report.json'), 'utf8'));
if (part.run.failure) throw new Error(`the partial run failed: ${part.run.failure}`);

const ids = new Set(part.figures.map((f) => f.id));
const figures = [...base.figures.filter((f) => !ids.has(f.id)), ...part.figures];
const merged = [
  ...(base.run.merged ?? []).filter((m) => !m.suites.every((s) => part.run.suites.includes(s))),
  {
    suites: part.run.suites,
    mode: part.run.mode,
    started: part.run.started,
    finished: part.run.finished,
    settings: part.run.settings,
    machine: part.machine,
  },
];
await writeReport({
  outDir,
  ctx: { figures, scaleOut: base.scale_out, notes: [...base.notes, ...part.notes] },
  machine: base.machine,
  run: { ...base.run, merged },
});
console.log(`merged ${part.figures.length} figures of ${part.run.suites.join(',')} into ${outDir}`);
