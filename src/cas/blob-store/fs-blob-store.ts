import { randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import {
  access,
  link,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  stat,
  type FileHandle,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Readable } from 'node:stream';
import { DomainError } from '../../common/errors/domain-error';
import {
  assertKey,
  assertStagingId,
  incompleteWholeObject,
  WHOLE_OBJECT_ETAG,
  type BlobStore,
  type ObjectStat,
  type PromoteResult,
  type PutPartOptions,
  type ReadOptions,
  type StagedPart,
  type StagingRef,
} from './blob-store';
import {
  createExclusive,
  errno,
  FULL,
  ignoreMissing,
  openPath,
  PART_FILE,
  PROBE_BYTES,
  readPath,
  streamToFile,
  regionOf,
  REGION_ETAG,
  statPath,
  syncDir,
  translate,
} from './fs-files';

/**
 * Blobs as files under one root directory: the embedded default.
 *
 * ```
 * <root>/cas/sha256/ab/cd/<hex>                   trusted objects (never rewritten)
 * <root>/staging/<upload id>/chain                parts sent in order, one after the other
 * <root>/staging/<upload id>/parts/NNNNN.<etag>   a part on its own (or an empty marker of a
 *                                                 part in the chain file)
 * <root>/staging/<upload id>/object               the assembled upload
 * ```
 *
 * A part that directly follows the chain file's end is appended to it (under `chain.lock`, an
 * O_EXCL file), so an upload sent in order assembles by renaming the chain file: no copy. The
 * chain file only ever grows at its end and a failed append is cut off again, so a recorded
 * region is never overwritten. Any other part goes to its own file named by a fresh etag, so a
 * part being re-sent never disturbs the copy the database still names. Promotion is `link()`:
 * it fails with EEXIST when the CAS key is taken, so an existing object is never overwritten.
 */
export class FsBlobStore implements BlobStore {
  readonly driver = 'fs' as const;

  constructor(readonly root: string) {}

  /**
   * Besides access, writes a small file: a store out of space answers STORAGE_FULL until space
   * returns. No fsync: local filesystems refuse the write itself when they have no room.
   */
  async check(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await access(this.root, constants.R_OK | constants.W_OK);
    const probe = join(this.root, `.probe-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await writeFile(probe, PROBE_BYTES, { flag: 'wx' });
    } catch (e) {
      // Any other failure keeps its own message (and path) for the readiness log.
      throw FULL.has(errno(e) ?? '') ? translate(e) : e;
    } finally {
      await unlink(probe).catch(() => undefined);
    }
  }

  private stagingDir(id: string): string {
    assertStagingId(id);
    return join(this.root, 'staging', id);
  }

  private partPath(id: string, partNumber: number, etag: string): string {
    if (!/^[0-9a-f]{32}$/.test(etag) && !REGION_ETAG.test(etag)) {
      throw new Error(`invalid part etag: ${JSON.stringify(etag)}`);
    }
    return join(this.stagingDir(id), 'parts', `${String(partNumber).padStart(5, '0')}.${etag}`);
  }

  private objectPath(key: string): string {
    assertKey(key);
    return join(this.root, key);
  }

  async createStaging(id: string): Promise<StagingRef> {
    try {
      await mkdir(join(this.stagingDir(id), 'parts'), { recursive: true });
    } catch (e) {
      throw translate(e);
    }
    return { id, token: null };
  }

  async putPart(
    staging: StagingRef,
    partNumber: number,
    body: Readable,
    sizeBytes: number,
    options: PutPartOptions = {},
  ): Promise<StagedPart> {
    if (options.appendAt !== undefined) {
      const appended = await this.appendToChain(
        staging,
        partNumber,
        body,
        sizeBytes,
        options.appendAt,
      );
      if (appended) return appended;
    }
    const etag = randomBytes(16).toString('hex');
    const path = this.partPath(staging.id, partNumber, etag);
    try {
      await mkdir(dirname(path), { recursive: true });
      const written = await streamToFile(path, 'wx', body);
      if (written !== sizeBytes) {
        throw new Error(`part ${partNumber}: wrote ${written} bytes, expected ${sizeBytes}`);
      }
    } catch (e) {
      await unlink(path).catch(() => undefined);
      throw translate(e);
    }
    return { partNumber, etag, sizeBytes };
  }

  /**
   * Appends the part to the chain file when the file ends exactly at `appendAt` and no other
   * append is running; null when it cannot (the caller then stores the part on its own).
   */
  private async appendToChain(
    staging: StagingRef,
    partNumber: number,
    body: Readable,
    sizeBytes: number,
    appendAt: number,
  ): Promise<StagedPart | null> {
    const dir = this.stagingDir(staging.id);
    const lock = join(dir, 'chain.lock');
    const chain = join(dir, 'chain');
    await mkdir(join(dir, 'parts'), { recursive: true }).catch((e: unknown) => {
      throw translate(e);
    });
    if (!(await createExclusive(lock))) return null;
    try {
      if ((await statPath(join(dir, 'closed'))) !== null) return null;
      if (((await statPath(chain))?.sizeBytes ?? 0) !== appendAt) return null;
      const etag = `r${appendAt}-${sizeBytes}-${randomBytes(8).toString('hex')}`;
      try {
        await (await open(chain, 'a')).close();
        const written = await streamToFile(chain, 'r+', body, appendAt);
        if (written !== sizeBytes) {
          throw new Error(`part ${partNumber}: wrote ${written} bytes, expected ${sizeBytes}`);
        }
        await createExclusive(this.partPath(staging.id, partNumber, etag));
      } catch (e) {
        // Cut the partial append off: the chain file keeps only complete parts.
        await truncate(chain, appendAt).catch(() => undefined);
        throw translate(e);
      }
      return { partNumber, etag, sizeBytes };
    } finally {
      await unlink(lock).catch(() => undefined);
    }
  }

  async listParts(staging: StagingRef): Promise<StagedPart[]> {
    const dir = join(this.stagingDir(staging.id), 'parts');
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      if (errno(e) === 'ENOENT') return [];
      throw translate(e);
    }
    const parts: StagedPart[] = [];
    for (const name of names.sort()) {
      const m = PART_FILE.exec(name);
      if (!m) continue;
      const region = regionOf(m[2]);
      if (region) {
        parts.push({ partNumber: Number(m[1]), etag: m[2], sizeBytes: region.size });
        continue;
      }
      const s = await stat(join(dir, name)).catch(() => null);
      if (s) parts.push({ partNumber: Number(m[1]), etag: m[2], sizeBytes: s.size });
    }
    return parts;
  }

  async deletePart(
    staging: StagingRef,
    part: Pick<StagedPart, 'partNumber' | 'etag'>,
  ): Promise<void> {
    await ignoreMissing(unlink(this.partPath(staging.id, part.partNumber, part.etag)));
  }

  async assemble(staging: StagingRef, parts: readonly StagedPart[]): Promise<ObjectStat> {
    const dir = this.stagingDir(staging.id);
    const target = join(dir, 'object');
    const expected = parts.reduce((sum, p) => sum + p.sizeBytes, 0);
    const existing = await this.statStaged(staging);
    if (existing?.sizeBytes === expected) return existing;
    if (parts.some((p) => p.etag === WHOLE_OBJECT_ETAG)) throw incompleteWholeObject();
    if (existing) await ignoreMissing(unlink(target));

    if (await this.assembleInPlace(dir, parts, expected)) {
      return (await this.statStaged(staging)) as ObjectStat;
    }
    const sources = parts
      .filter((p) => p.sizeBytes > 0)
      .map((p) => {
        const region = regionOf(p.etag);
        return region
          ? { path: join(dir, 'chain'), start: region.start, end: region.start + region.size - 1 }
          : { path: this.partPath(staging.id, p.partNumber, p.etag) };
      });
    try {
      if (sources.length === 1 && !('start' in sources[0])) {
        // One part is the whole object already: link it instead of copying.
        await link(sources[0].path, target);
      } else {
        const tmp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
        try {
          await streamToFile(
            tmp,
            'wx',
            (async function* concat() {
              for (const source of sources) {
                yield* createReadStream(
                  source.path,
                  'start' in source ? { start: source.start, end: source.end } : {},
                );
              }
            })(),
          );
          await rename(tmp, target);
        } finally {
          await unlink(tmp).catch(() => undefined);
        }
      }
      await syncDir(dir);
    } catch (e) {
      if (errno(e) === 'ENOENT') {
        throw new DomainError(
          'UPLOAD_PART_MISMATCH',
          'A listed part is no longer in the staging area; upload it again.',
        );
      }
      throw translate(e);
    }
    const assembled = await this.statStaged(staging);
    if (assembled?.sizeBytes !== expected) {
      throw new Error(`assembled ${assembled?.sizeBytes} bytes, expected ${expected}`);
    }
    return assembled;
  }

  /**
   * When the listed parts are the chain file's regions from its first byte on, the chain file
   * (cut to their end) is the object: rename it. Closing the chain first makes any later append
   * go elsewhere; holding its lock shows no append is running.
   */
  private async assembleInPlace(
    dir: string,
    parts: readonly StagedPart[],
    expected: number,
  ): Promise<boolean> {
    let offset = 0;
    for (const p of parts) {
      const region = regionOf(p.etag);
      if (!region || region.start !== offset || region.size !== p.sizeBytes) return false;
      offset += region.size;
    }
    if (parts.length === 0) return false;
    const chain = join(dir, 'chain');
    await createExclusive(join(dir, 'closed'));
    const lock = join(dir, 'chain.lock');
    if (!(await createExclusive(lock))) return false;
    try {
      if (((await statPath(chain))?.sizeBytes ?? -1) < expected) return false;
      await truncate(chain, expected);
      const handle = await open(chain, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(chain, join(dir, 'object'));
      await syncDir(dir);
      return true;
    } catch (e) {
      throw translate(e);
    } finally {
      await unlink(lock).catch(() => undefined);
    }
  }

  async putStaged(staging: StagingRef, body: Readable, sizeBytes: number): Promise<ObjectStat> {
    const dir = this.stagingDir(staging.id);
    const target = join(dir, 'object');
    try {
      await mkdir(dir, { recursive: true });
      // The write stream flushes (fsync) before it closes: the bytes are durable on return.
      const written = await streamToFile(target, 'wx', body);
      if (written !== sizeBytes) throw new Error(`wrote ${written} bytes, expected ${sizeBytes}`);
    } catch (e) {
      await unlink(target).catch(() => undefined);
      throw translate(e);
    }
    return { sizeBytes };
  }

  async statStaged(staging: StagingRef): Promise<ObjectStat | null> {
    return statPath(join(this.stagingDir(staging.id), 'object'));
  }

  async readStaged(staging: StagingRef, options: ReadOptions = {}): Promise<Readable> {
    return readPath(join(this.stagingDir(staging.id), 'object'), options);
  }

  async promote(staging: StagingRef, key: string): Promise<PromoteResult> {
    const source = join(this.stagingDir(staging.id), 'object');
    const target = this.objectPath(key);
    try {
      await mkdir(dirname(target), { recursive: true });
      await link(source, target);
      await syncDir(dirname(target));
      return 'created';
    } catch (e) {
      if (errno(e) === 'EEXIST') return 'exists';
      if (errno(e) === 'ENOENT') {
        throw new DomainError('BLOB_NOT_FOUND', 'The staged object of this upload is missing.');
      }
      throw translate(e);
    }
  }

  async deleteStaging(staging: StagingRef): Promise<void> {
    try {
      await rm(this.stagingDir(staging.id), { recursive: true, force: true });
    } catch (e) {
      throw translate(e);
    }
  }

  async listStaging(): Promise<StagingRef[]> {
    let names: string[];
    try {
      names = await readdir(join(this.root, 'staging'));
    } catch (e) {
      if (errno(e) === 'ENOENT') return [];
      throw translate(e);
    }
    return names
      .filter((n) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(n))
      .map((id) => ({ id, token: null }));
  }

  async read(key: string, options: ReadOptions = {}): Promise<Readable> {
    return readPath(this.objectPath(key), options);
  }

  async openFile(key: string): Promise<FileHandle> {
    return openPath(this.objectPath(key));
  }

  async stat(key: string): Promise<ObjectStat | null> {
    return statPath(this.objectPath(key));
  }

  async delete(key: string): Promise<void> {
    await ignoreMissing(unlink(this.objectPath(key)));
  }
}
