import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api } from './catalog';
import { incus } from './cli';
import type { TestApp } from './test-app';

/** Starts a sync of `remote` and waits until it finishes; answers the sync with its items. */
export async function syncAndWait(
  app: TestApp,
  headers: Record<string, string>,
  remote: string,
  timeoutMs = 120_000,
): Promise<any> {
  const started = await api(app, 'POST', `/v1/remotes/${remote}/sync`, headers);
  if (started.status !== 202)
    throw new Error(`sync: ${started.status} ${JSON.stringify(started.body)}`);
  return waitForSync(app, headers, remote, started.body.id, timeoutMs);
}

/** Polls a sync until it is no longer queued or running. */
export async function waitForSync(
  app: TestApp,
  headers: Record<string, string>,
  remote: string,
  syncId: string,
  timeoutMs = 120_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api(app, 'GET', `/v1/remotes/${remote}/syncs/${syncId}`, headers);
    if (res.status !== 200) throw new Error(`sync ${syncId}: ${res.status}`);
    if (!['queued', 'running'].includes(res.body.state)) return res.body;
    if (Date.now() > deadline)
      throw new Error(`sync ${syncId} still ${res.body.state}: ${JSON.stringify(res.body)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One image as the real `incus image list --format=json` shows it. */
export interface ListedImage {
  readonly fingerprint: string;
  readonly type: string;
  readonly architecture: string;
  readonly aliases: string[];
}

/** What the real incus client lists on a simplestreams remote at `url` (a fresh client config). */
export async function incusList(url: string, certFile: string): Promise<ListedImage[]> {
  const conf = await mkdtemp(join(tmpdir(), 'imgsrv-incus-'));
  await incus(conf, certFile, ['remote', 'add', 'r', url, '--protocol=simplestreams', '--public']);
  const list = JSON.parse(await incus(conf, certFile, ['image', 'list', 'r:', '--format=json']));
  return (list as any[])
    .map((i) => ({
      fingerprint: i.fingerprint as string,
      type: i.type as string,
      architecture: i.architecture as string,
      aliases: ((i.aliases ?? []) as { name: string }[]).map((a) => a.name).sort(),
    }))
    .sort((a, b) => a.fingerprint.localeCompare(b.fingerprint) || a.type.localeCompare(b.type));
}
