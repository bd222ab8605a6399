import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import type { BlobStore } from './blob-store';

/** Blobs as files under one root directory: the embedded default. */
export class FsBlobStore implements BlobStore {
  readonly driver = 'fs' as const;

  constructor(readonly root: string) {}

  async check(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await access(this.root, constants.R_OK | constants.W_OK);
  }
}
