// bench/report.json (everything measured) and bench/REPORT.md (the same, readable), with plots
// rendered to SVG by Vega-Lite next to the report.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { fmt, median } from './util.mjs';

async function renderSvg(spec) {
  const compiled = vl.compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    background: 'white',
    config: { font: 'sans-serif' },
    ...spec,
  }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

const byId = (ctx, id) => ctx.figures.find((f) => f.id === id);

function throughputRows(ctx) {
  const rows = [];
  const add = (id, label, refLabel) => {
    const f = byId(ctx, id);
    if (!f) return;
    const mine = f.extra?.throughput_mib_s ?? (f.unit === 'MiB/s' ? f.samples : undefined);
    const ref =
      f.extra?.reference_throughput_mib_s ??
      (f.unit === 'MiB/s' ? f.reference?.samples : undefined);
    if (!mine || !ref) return;
    rows.push({ benchmark: label, who: 'imgsrv', side: 'imgsrv', mib_s: median(mine) });
    rows.push({ benchmark: label, who: refLabel, side: 'reference', mib_s: median(ref) });
  };
  add('cas.upload.fs', 'upload, fs store', 'openssl dgst -sha256');
  add('publish.incus_index.throughput', 'incus_index hashing', 'sha256sum');
  add('cas.upload.s3', 'upload, s3 store', 'AWS SDK → s3rver');
  add('catalog.download.fs', 'download, fs store', 'nginx');
  add('catalog.download.s3', 'download, s3 store', 's3rver GET');
  return rows;
}

async function plots(ctx, dir) {
  const made = [];
  const save = async (name, title, spec) => {
    await writeFile(join(dir, name), await renderSvg(spec));
    made.push({ name, title });
  };
  const tp = throughputRows(ctx);
  if (tp.length) {
    await save('throughput.svg', 'Upload, hashing and download throughput against the references', {
      title: 'Throughput (MiB/s, median; higher is better)',
      data: { values: tp },
      facet: {
        column: {
          field: 'benchmark',
          type: 'nominal',
          header: { labelAngle: 0, labelAlign: 'center' },
          title: null,
        },
      },
      spec: {
        width: 110,
        height: 220,
        mark: { type: 'bar', tooltip: true },
        encoding: {
          x: {
            field: 'who',
            type: 'nominal',
            axis: { labelAngle: -25 },
            title: null,
            sort: ['imgsrv'],
          },
          y: { field: 'mib_s', type: 'quantitative', title: 'MiB/s' },
          color: { field: 'side', type: 'nominal', title: null },
        },
      },
      resolve: { scale: { x: 'independent', y: 'independent' } },
    });
  }
  const load = ctx.figures.filter((f) => f.extra?.load);
  if (load.length) {
    const rows = load.flatMap((f) => [
      { test: f.extra.load, who: 'imgsrv', rps: median(f.samples), p99: median(f.extra.p99_ms) },
      ...(f.reference
        ? [
            {
              test: f.extra.load,
              who: f.reference.short ?? f.reference.name,
              rps: median(f.reference.samples),
              p99: median(f.extra.reference_p99_ms),
            },
          ]
        : []),
    ]);
    await save('load.svg', 'Requests per second and p99 latency at 32 connections', {
      data: { values: rows },
      hconcat: [
        {
          title: 'Requests per second (higher is better)',
          width: 260,
          mark: { type: 'bar', tooltip: true },
          encoding: {
            y: { field: 'test', type: 'nominal', title: null },
            yOffset: { field: 'who' },
            x: { field: 'rps', type: 'quantitative', title: 'req/s' },
            color: { field: 'who', type: 'nominal' },
          },
        },
        {
          title: 'p99 latency (ms, lower is better)',
          width: 260,
          mark: { type: 'bar', tooltip: true },
          encoding: {
            y: { field: 'test', type: 'nominal', title: null, axis: null },
            yOffset: { field: 'who' },
            x: { field: 'p99', type: 'quantitative', title: 'ms' },
            color: { field: 'who', type: 'nominal' },
          },
        },
      ],
    });
  }
  const seq = byId(ctx, 'publish.latency.sequential');
  if (seq) {
    await save('publish-latency.svg', 'Publish latency distribution (request → succeeded)', {
      title: `Publish latency over ${seq.extra.all_ms.length} sequential publishes (ms)`,
      data: { values: seq.extra.all_ms.map((ms, i) => ({ publish: i + 1, ms })) },
      vconcat: [
        {
          width: 520,
          height: 160,
          mark: { type: 'bar', tooltip: true },
          encoding: {
            x: { field: 'ms', type: 'quantitative', bin: { maxbins: 30 }, title: 'latency (ms)' },
            y: { aggregate: 'count', type: 'quantitative', title: 'publishes' },
          },
        },
        {
          width: 520,
          height: 120,
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'publish', type: 'quantitative', title: 'publish #' },
            y: { field: 'ms', type: 'quantitative', title: 'latency (ms)' },
          },
        },
      ],
    });
  }
  const so = ctx.scaleOut;
  if (so?.runs?.length) {
    const rows = so.runs.flatMap((r) =>
      Object.entries(r.ops_per_s).map(([op, rate]) => ({ layout: r.layout, op, rate })),
    );
    await save(
      'scale-out.svg',
      'Scale-out: operations per second by kind, 1+1 against 2+2 processes',
      {
        title: 'Mixed load: operations per second (higher is better)',
        data: { values: rows },
        width: 320,
        mark: { type: 'bar', tooltip: true },
        encoding: {
          y: { field: 'op', type: 'nominal', title: null },
          yOffset: { field: 'layout' },
          x: {
            field: 'rate',
            aggregate: 'median',
            type: 'quantitative',
            title: 'ops/s (median of runs)',
          },
          color: { field: 'layout', type: 'nominal' },
        },
      },
    );
  }
  return made;
}

function targetCell(f) {
  if (!f.target) return '—';
  return `${f.target.text}: **${f.met ? 'met' : 'not met'}**`;
}

function ratioCell(f) {
  if (f.ratio === undefined) return '—';
  return `${fmt(f.ratio)}×`;
}

/** An extra figure as text: numbers formatted, lists joined, nested figures as `name value`. */
function extraText(v) {
  if (Array.isArray(v)) return v.map(extraText).join(', ');
  if (typeof v === 'number') return fmt(v);
  if (v && typeof v === 'object')
    return Object.entries(v)
      .map(([k, inner]) => `${k.replaceAll('_', ' ')} ${extraText(inner)}`)
      .join('; ');
  return String(v);
}

export async function writeReport({ outDir, ctx, machine, run }) {
  const plotDir = join(outDir, 'plots');
  await mkdir(plotDir, { recursive: true });
  const madePlots = await plots(ctx, plotDir);
  const json = {
    generated: run.finished,
    run,
    machine,
    figures: ctx.figures,
    scale_out: ctx.scaleOut ?? null,
    notes: ctx.notes,
    plots: madePlots.map((p) => `plots/${p.name}`),
  };
  await writeFile(join(outDir, 'report.json'), `${JSON.stringify(json, null, 2)}\n`);

  const lines = [];
  lines.push('# imgsrv benchmark report', '');
  lines.push(
    `Run **${run.started.slice(0, 10)}** (${run.mode} pass, \`npm run bench${run.mode === 'quick' ? ' -- --quick' : ''}\`), ` +
      `${run.started} → ${run.finished}, ${Math.round(run.duration_s)} s. ` +
      'Every figure is the median of the runs listed; its reference ran on the same machine in the same run, ' +
      'interleaved with it. Generated by `bench/run.mjs`; the raw samples are in [`report.json`](report.json).',
    '',
  );
  if (run.failure) lines.push(`> **The run failed:** ${run.failure}`, '');
  for (const m of run.merged ?? [])
    lines.push(
      `Figures of the suite(s) ${m.suites.join(', ')} come from a later ${m.mode} run on the same machine, ` +
        `${m.started} → ${m.finished} (\`npm run bench -- --only ${m.suites.join(',')}\`, merged with ` +
        '`node bench/merge.mjs`).',
      '',
    );
  lines.push('## Machine', '', '| | |', '|---|---|');
  for (const [k, v] of Object.entries(machine)) lines.push(`| ${k} | ${v} |`);
  lines.push('');
  lines.push('## Summary', '');
  lines.push('| figure | imgsrv | reference | ratio | target |', '|---|---|---|---|---|');
  for (const f of ctx.figures) {
    lines.push(
      `| ${f.title} | ${fmt(f.value)} ${f.unit} | ${f.reference ? `${fmt(f.reference.value)} ${f.unit} (${f.reference.name})` : '—'} | ${ratioCell(f)} | ${targetCell(f)} |`,
    );
  }
  lines.push('');
  lines.push(
    'Ratios are imgsrv ÷ reference: for times lower is better, for rates (req/s, MiB/s) higher is better.',
    '',
  );
  if (madePlots.length) {
    lines.push('## Plots', '');
    for (const p of madePlots)
      lines.push(`### ${p.title}`, '', `![${p.title}](plots/${p.name})`, '');
  }
  if (ctx.scaleOut) {
    const so = ctx.scaleOut;
    lines.push('## Scale-out run', '', so.description, '');
    lines.push(
      '| layout | duration | operations | ops/s | publishes succeeded | 5xx | other errors |',
      '|---|---|---|---|---|---|---|',
    );
    for (const r of so.runs) {
      lines.push(
        `| ${r.layout} | ${fmt(r.duration_s)} s | ${r.total_ops} | ${fmt(r.total_ops / r.duration_s)} | ${r.publishes_succeeded}/${r.publishes_requested} | ${r.status_5xx} | ${r.other_errors} |`,
      );
    }
    lines.push('', '| layout | ' + Object.keys(so.runs[0].ops_per_s).join(' | ') + ' |');
    lines.push(
      '|---|' +
        Object.keys(so.runs[0].ops_per_s)
          .map(() => '---')
          .join('|') +
        '|',
    );
    for (const r of so.runs)
      lines.push(`| ${r.layout} (ops/s) | ${Object.values(r.ops_per_s).map(fmt).join(' | ')} |`);
    lines.push('', 'Checks:', '');
    for (const r of so.runs)
      for (const c of r.checks) lines.push(`- ${r.layout}: ${c.ok ? '✅' : '❌'} ${c.text}`);
    lines.push('');
  }
  lines.push('## Every figure', '');
  for (const f of ctx.figures) {
    lines.push(`### ${f.title}`, '');
    lines.push(
      `- imgsrv: median **${fmt(f.value)} ${f.unit}**; samples ${f.samples.map(fmt).join(', ')}`,
    );
    if (f.reference)
      lines.push(
        `- ${f.reference.name}: median **${fmt(f.reference.value)} ${f.unit}**; samples ${f.reference.samples.map(fmt).join(', ')}`,
      );
    if (f.ratio !== undefined) lines.push(`- ratio: ${fmt(f.ratio)}×`);
    if (f.target) lines.push(`- target ${f.target.text}: ${f.met ? 'met' : '**not met**'}`);
    for (const [k, v] of Object.entries(f.extra ?? {})) {
      if (k === 'all_ms' || k === 'load') continue;
      lines.push(`- ${k.replaceAll('_', ' ')}: ${extraText(v)}`);
    }
    lines.push('');
  }
  if (ctx.notes.length) {
    lines.push('## Notes', '');
    for (const n of ctx.notes) lines.push(`- ${n}`);
    lines.push('');
  }
  lines.push('## Suite durations', '');
  for (const [k, v] of Object.entries(run.suite_durations_s))
    lines.push(`- ${k}: ${Math.round(v)} s`);
  lines.push('');
  await writeFile(join(outDir, 'REPORT.md'), lines.join('\n'));
}
