// What every suite shares: the run's settings, its work directory, server groups (a database, a
// Redis prefix and a blob store shared by one or more imgsrv processes), and the figures measured.
import { randomBytes, createCipheriv } from 'node:crypto';
import { open, mkdir, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { newBootstrapToken, startImgsrv } from './procs.mjs';
import { fmt, log, median, MIB, run } from './util.mjs';

export function adminPgUrl() {
  return (
    process.env.IMGSRV_BENCH_PG_URL ??
    `postgres://${encodeURIComponent(userInfo().username)}@127.0.0.1:5432/postgres`
  );
}

function databaseUrl(name) {
  const u = new URL(adminPgUrl());
  u.pathname = `/${name}`;
  return u.toString();
}

export async function withPg(url, work) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export class BenchContext {
  constructor({ quick, workDir, settings }) {
    this.quick = quick;
    this.workDir = workDir;
    this.settings = settings;
    this.figures = [];
    this.plots = [];
    this.notes = [];
    this.groups = [];
    this.cleanups = [];
  }

  /** Registers work for the end of the run, failed or not (stopping a helper process, say). */
  onCleanup(fn) {
    this.cleanups.push(fn);
  }

  /** Records one figure: the median of `samples` against the median of the reference's. */
  figure({ id, suite, title, unit, samples, reference, target, better = 'lower', extra }) {
    const value = median(samples);
    const ref = reference ? { ...reference, value: median(reference.samples) } : undefined;
    // ratio: imgsrv / reference for times, reference-relative speed for rates (rate ÷ ref rate)
    const ratio = ref ? value / ref.value : undefined;
    let met = null;
    if (target) {
      const measured =
        target.of === 'value' ? value : target.of === 'max' ? Math.max(...samples) : ratio;
      met = target.op === '<=' ? measured <= target.bound : measured >= target.bound;
    }
    const fig = {
      id,
      suite,
      title,
      unit,
      value,
      samples,
      better,
      reference: ref,
      ratio,
      target,
      met,
      extra,
    };
    this.figures.push(fig);
    log(
      `${title}: ${fmt(value)} ${unit}` +
        (ref ? ` vs ${ref.name} ${fmt(ref.value)} ${unit} (ratio ${fmt(ratio)})` : '') +
        (target ? ` target ${target.text}: ${met ? 'met' : 'NOT met'}` : ''),
    );
    return fig;
  }

  note(text) {
    this.notes.push(text);
    log(`note: ${text}`);
  }

  /** A database, Redis prefix, data directory and bootstrap token for a set of imgsrv processes. */
  async group(name, { env = {} } = {}) {
    const suffix = randomBytes(4).toString('hex');
    const group = {
      name,
      databaseName: `imgsrv_bench_${name.replace(/\W/g, '_')}_${suffix}`,
      redisPrefix: `imgsrv-bench-${name}-${suffix}`,
      dataDir: join(this.workDir, `data-${name}`),
      bootstrapToken: newBootstrapToken(),
      env,
      processes: [],
    };
    group.databaseUrl = databaseUrl(group.databaseName);
    await mkdir(group.dataDir, { recursive: true });
    group.start = async (procName, options = {}) => {
      const proc = await startImgsrv({
        name: `${name}-${procName}`,
        shared: group,
        logDir: join(this.workDir, 'logs'),
        ...options,
      });
      group.processes.push(proc);
      return proc;
    };
    group.stop = async () => {
      await Promise.all(group.processes.map((p) => p.stop()));
      group.processes = [];
    };
    group.pg = (work) => withPg(group.databaseUrl, work);
    this.groups.push(group);
    return group;
  }

  async cleanup() {
    for (const fn of this.cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
    for (const group of this.groups) {
      await group.stop().catch(() => undefined);
      await withPg(adminPgUrl(), (c) =>
        c.query(`DROP DATABASE IF EXISTS "${group.databaseName}" WITH (FORCE)`),
      ).catch((error) => log(`could not drop ${group.databaseName}: ${error.message}`));
      await rm(group.dataDir, { recursive: true, force: true });
    }
  }
}

/** `size` pseudo-random bytes written to `path` (AES-CTR keystream: fast and incompressible). */
export async function writeRandomFile(path, size) {
  const cipher = createCipheriv('aes-256-ctr', randomBytes(32), randomBytes(16));
  const handle = await open(path, 'w');
  try {
    const zeros = Buffer.alloc(8 * MIB);
    for (let written = 0; written < size;) {
      const n = Math.min(zeros.length, size - written);
      await handle.write(cipher.update(zeros.subarray(0, n)));
      written += n;
    }
  } finally {
    await handle.close();
  }
}

/** Overwrites the first 32 bytes: a new digest for the same file, without rewriting it. */
export async function mutateHead(path) {
  const handle = await open(path, 'r+');
  try {
    await handle.write(randomBytes(32), 0, 32, 0);
  } finally {
    await handle.close();
  }
}

/** A real incus.tar.xz (metadata.yaml + templates/) built with tar and xz. */
export async function makeIncusMetadata(dir, { os, release, architecture = 'x86_64' }) {
  const tree = join(dir, `meta-${os}-${release}-${randomBytes(3).toString('hex')}`);
  await mkdir(join(tree, 'templates'), { recursive: true });
  await writeFile(
    join(tree, 'metadata.yaml'),
    [
      `architecture: "${architecture}"`,
      `creation_date: ${Math.floor(Date.now() / 1000)}`,
      'properties:',
      `  architecture: "${architecture}"`,
      `  description: "${os} ${release} ${architecture}"`,
      `  os: "${os}"`,
      `  release: "${release}"`,
      '  variant: "default"',
      'templates: {}',
      '',
    ].join('\n'),
  );
  const tar = `${tree}.tar`;
  await run('tar', [
    '--create',
    '--file',
    tar,
    '--format=gnu',
    '--directory',
    tree,
    'metadata.yaml',
    'templates',
  ]);
  await run('xz', ['-6', '--threads=1', '--check=crc64', tar]);
  await rm(tree, { recursive: true });
  return `${tar}.xz`;
}
