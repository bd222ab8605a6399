import { link, mkdir, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Creates `file` with `content` unless it exists, safely when several processes start at once:
 * each writes its own candidate (mode 0600, directory 0700) and links it into place; the first
 * link wins and the others leave it as it is. True when this call created it.
 */
export async function createFileOnce(file: string, content: string | Buffer): Promise<boolean> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const candidate = `${file}.${process.pid}.${Date.now()}`;
  await writeFile(candidate, content, { mode: 0o600, flag: 'wx' });
  try {
    await link(candidate, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  } finally {
    await unlink(candidate);
  }
}
