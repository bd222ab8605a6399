// Mirroring: a sync of at least 1 GiB of images from nginx over HTTPS on loopback (POST sync →
// succeeded: fetched, verified, stored, composed, published, aliases moved) against `curl`
// downloading the same files plus `openssl dgst -sha256` of each, in the same run. Each run
// mirrors a fresh tree (new bytes), so nothing is in the store already.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { apiClient } from '../lib/client.mjs';
import { makeIncusMetadata } from '../lib/context.mjs';
import { startNginx } from '../lib/procs.mjs';
import { fmtBytes, log, MIB, run, timeCommand } from '../lib/util.mjs';

/** `size` random bytes written to `path` in 16 MiB chunks, with their sha256. */
async function randomFile(path, size) {
  const hash = createHash('sha256');
  const chunks = (function* () {
    for (let left = size; left > 0; left -= 16 * MIB) {
      const chunk = randomBytes(Math.min(16 * MIB, left));
      hash.update(chunk);
      yield chunk;
    }
  })();
  await pipeline(Readable.from(chunks), createWriteStream(path));
  return hash.digest('hex');
}

/**
 * A Simple Streams tree of `products` container images (x86_64), one serial each, roots of
 * `rootSize` random bytes: what a mirror of one release's daily builds moves.
 */
async function writeTree(root, { products, rootSize, tag }) {
  const items = [];
  const doc = {
    content_id: 'images',
    datatype: 'image-downloads',
    format: 'products:1.0',
    products: {},
  };
  for (let p = 0; p < products; p++) {
    const os = `bench${tag}p${p}`;
    const dir = `images/${os}/1/amd64/default/20261206_00:00`;
    await mkdir(join(root, dir), { recursive: true });
    const metaSrc = await makeIncusMetadata(join(root, '..'), { os, release: '1' });
    const metaBytes = await readFile(metaSrc);
    await writeFile(join(root, dir, 'incus.tar.xz'), metaBytes);
    const metaSha = createHash('sha256').update(metaBytes).digest('hex');
    const rootSha = await randomFile(join(root, dir, 'rootfs.squashfs'), rootSize);
    items.push(`${dir}/incus.tar.xz`, `${dir}/rootfs.squashfs`);
    doc.products[`${os}:1:amd64:default`] = {
      aliases: `${os}/1`,
      arch: 'amd64',
      os,
      release: '1',
      variant: 'default',
      versions: {
        '20261206_00:00': {
          items: {
            'incus.tar.xz': {
              ftype: 'incus.tar.xz',
              path: `${dir}/incus.tar.xz`,
              sha256: metaSha,
              size: metaBytes.length,
            },
            'root.squashfs': {
              ftype: 'squashfs',
              path: `${dir}/rootfs.squashfs`,
              sha256: rootSha,
              size: rootSize,
            },
          },
        },
      },
    };
  }
  await mkdir(join(root, 'streams/v1'), { recursive: true });
  await writeFile(join(root, 'streams/v1/images.json'), JSON.stringify(doc));
  await writeFile(
    join(root, 'streams/v1/index.json'),
    JSON.stringify({
      format: 'index:1.0',
      index: {
        images: {
          datatype: 'image-downloads',
          path: 'streams/v1/images.json',
          products: Object.keys(doc.products),
        },
      },
    }),
  );
  return items;
}

export async function mirrorSuite(ctx) {
  const { bigSize } = ctx.settings;
  const runs = Math.min(ctx.settings.runs, 5);
  const products = 4;
  const rootSize = Math.ceil(bigSize / products / MIB) * MIB;

  const certDir = join(ctx.workDir, 'mirror-tls');
  await mkdir(certDir, { recursive: true });
  const certFile = join(certDir, 'cert.pem');
  const keyFile = join(certDir, 'key.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-days',
    '2',
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
  const trees = join(ctx.workDir, 'mirror-trees');
  await mkdir(trees, { recursive: true });
  const nginx = await startNginx({
    root: trees,
    workDir: ctx.workDir,
    name: 'nginx-mirror',
    tls: { certFile, keyFile },
  });
  ctx.cleanups.push(() => nginx.stop());

  const group = await ctx.group('mirror');
  const server = await group.start('api');
  const api = apiClient(server.url, group.bootstrapToken);
  const caPem = await readFile(certFile, 'utf8');

  // A warm-up sync of a small tree first: the first transfers of a process pay for starting the
  // hashing thread, TLS sessions and compiling the code paths.
  {
    const warm = join(trees, 'warm');
    await writeTree(warm, { products: 1, rootSize: 8 * MIB, tag: 'warm' });
    await api.post('/v1/remotes', { name: 'bench-warm', url: `${nginx.url}/warm`, ca_pem: caPem });
    const started = await api.post('/v1/remotes/bench-warm/sync', {});
    for (;;) {
      const s = (await api.get(`/v1/remotes/bench-warm/syncs/${started.body.id}`)).body;
      if (s.state === 'succeeded') break;
      if (s.state !== 'queued' && s.state !== 'running')
        throw new Error(`warm-up sync ${s.state}: ${s.error}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  const syncMs = [];
  const referenceMs = [];
  const curlMs = [];
  const opensslMs = [];
  const durableMs = [];
  const serverCpuMs = [];
  const filesMs = [];
  const versionsMs = [];
  let moved = 0;
  for (let r = 0; r < runs; r++) {
    const tag = `r${r}`;
    const tree = join(trees, tag);
    const items = await writeTree(tree, { products, rootSize, tag });
    let bytes = 0;
    for (const item of items) bytes += (await stat(join(tree, item))).size;
    moved = bytes;
    // Run order alternates, so neither side always finds the files in the page cache first.
    const reference = async () => {
      const down = join(ctx.workDir, `mirror-curl-${tag}`);
      await mkdir(down, { recursive: true });
      let curl = 0;
      let openssl = 0;
      let durable = 0;
      for (const [i, item] of items.entries()) {
        const file = join(down, String(i));
        curl += (
          await timeCommand('curl', [
            '-sSf',
            '--cacert',
            certFile,
            '-o',
            file,
            `${nginx.url}/${tag}/${item}`,
          ])
        ).ms;
        openssl += (await timeCommand('openssl', ['dgst', '-sha256', '-r', file])).ms;
        // Beside the reference, not in it: what writing the same bytes durably costs here
        // (imgsrv syncs each part to disk before it counts; curl leaves them in the page cache).
        durable += (
          await timeCommand('dd', [
            `if=${file}`,
            `of=${file}.dd`,
            'bs=64M',
            'conv=fsync',
            'status=none',
          ])
        ).ms;
        await rm(`${file}.dd`, { force: true });
      }
      durableMs.push(durable);
      await rm(down, { recursive: true, force: true });
      curlMs.push(curl);
      opensslMs.push(openssl);
      referenceMs.push(curl + openssl);
    };
    const mirror = async () => {
      await api.post('/v1/remotes', {
        name: `bench-${tag}`,
        url: `${nginx.url}/${tag}`,
        ca_pem: caPem,
        concurrency: 2,
      });
      // The end is the sync's own finished_at (the server's clock, which is this machine's): polling
      // finely enough to see the end to the millisecond would load the server being measured (each
      // poll reads the sync and its items), so the bench polls as a client would, every 250 ms.
      const cpu0 = await cpuMsOf(server.pid);
      const t0 = Date.now();
      const started = await api.post(`/v1/remotes/bench-${tag}/sync`, {});
      let sync;
      for (;;) {
        await new Promise((res) => setTimeout(res, 250));
        sync = (await api.get(`/v1/remotes/bench-${tag}/syncs/${started.body.id}`)).body;
        if (sync.state !== 'queued' && sync.state !== 'running') break;
      }
      const ms = Date.parse(sync.finished_at) - t0;
      serverCpuMs.push((await cpuMsOf(server.pid)) - cpu0);
      if (sync.state !== 'succeeded')
        throw new Error(`bench sync ${tag} ${sync.state}: ${sync.error}`);
      if (sync.bytes_fetched !== bytes)
        throw new Error(`bench sync ${tag} fetched ${sync.bytes_fetched} of ${bytes} bytes`);
      if (sync.versions_published !== products)
        throw new Error(`bench sync ${tag} published ${sync.versions_published}`);
      syncMs.push(ms);
      // Where the time went: files copied (from the sync's start to its last file), then versions.
      const at = (i) => Date.parse(i.updated_at);
      const start = Date.parse(sync.started_at);
      const lastFile = Math.max(...sync.items.filter((i) => i.kind === 'file').map(at));
      const lastVersion = Math.max(...sync.items.filter((i) => i.kind === 'version').map(at));
      filesMs.push(lastFile - start);
      versionsMs.push(lastVersion - lastFile);
    };
    if (r % 2 === 0) {
      await reference();
      await mirror();
    } else {
      await mirror();
      await reference();
    }
    log(
      `mirror ${r + 1}/${runs}: sync ${(syncMs.at(-1) / 1000).toFixed(2)} s (server CPU ${(serverCpuMs.at(-1) / 1000).toFixed(2)} s; files ${(filesMs.at(-1) / 1000).toFixed(2)} s, versions ${(versionsMs.at(-1) / 1000).toFixed(2)} s), curl+openssl ${(referenceMs.at(-1) / 1000).toFixed(2)} s ` +
        `(curl ${(curlMs.at(-1) / 1000).toFixed(2)} s, openssl ${(opensslMs.at(-1) / 1000).toFixed(2)} s; dd conv=fsync ${(durableMs.at(-1) / 1000).toFixed(2)} s) for ${fmtBytes(bytes)}`,
    );
    await rm(tree, { recursive: true, force: true });
  }
  ctx.figure({
    id: 'mirror.sync',
    suite: 'Mirroring',
    title: `Sync of ${fmtBytes(moved)} (${products} container images) from nginx over HTTPS on loopback: POST sync → succeeded (fetched, verified, stored, published)`,
    unit: 'ms',
    samples: syncMs,
    reference: {
      name: '`curl` of the same files plus `openssl dgst -sha256` of each',
      short: 'curl+openssl',
      samples: referenceMs,
    },
    target: { text: '≤ 1.5× curl+openssl', op: '<=', bound: 1.5 },
    // extra.dd_fsync_ms: the same bytes written durably, which imgsrv does and the reference not.
    extra: {
      curl_ms: curlMs,
      openssl_ms: opensslMs,
      dd_fsync_ms: durableMs,
      server_cpu_ms: serverCpuMs,
      files_phase_ms: filesMs,
      versions_phase_ms: versionsMs,
      bytes: moved,
    },
  });
}

/**
 * CPU time (user + system, every thread) the process has used, in ms: what a sync costs the
 * server, steadier between runs than the wall time on a shared machine.
 */
async function cpuMsOf(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/** sysconf(_SC_CLK_TCK): 100 on Linux's usual builds (getconf CLK_TCK). */
const CLOCK_TICKS = 100;
