import { createReadStream } from 'node:fs';
import type { IncusMetadata } from '../../src/incus/metadata';
import { parseIncusMetadata } from '../../src/incus/metadata-tarball';
import { CliError, EXIT } from './errors';

/** metadata.yaml of an incus.tar.xz (the pure parser the server uses; no server code loads). */
export async function readIncusMetadata(path: string): Promise<IncusMetadata> {
  try {
    return await parseIncusMetadata(createReadStream(path));
  } catch (error) {
    throw new CliError(
      `cannot read metadata.yaml from ${path}: ${(error as Error).message}`,
      EXIT.usage,
    );
  }
}
