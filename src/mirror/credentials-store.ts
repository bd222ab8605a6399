import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { createFileOnce } from '../common/files/create-once';
import { LOGGER } from '../common/logging/logging.module';
import type { Logger } from '../common/logging/logger';
import { CredentialsKey } from './credentials';

/**
 * The key that seals remotes' passwords: IMGSRV_MIRROR_CREDENTIALS_KEY_FILE, or one generated once
 * in the data directory (development; several processes starting together agree on one by linking
 * it into place). Read when first needed, so a deployment without remotes needs no key.
 */
@Injectable()
export class CredentialsStore {
  private key: Promise<CredentialsKey> | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async seal(password: string, remoteId: string): Promise<string> {
    return (await this.current()).seal(password, remoteId);
  }

  async open(sealed: string, remoteId: string): Promise<string> {
    return (await this.current()).open(sealed, remoteId);
  }

  private current(): Promise<CredentialsKey> {
    this.key ??= this.load().catch((error: unknown) => {
      this.key = undefined;
      throw error;
    });
    return this.key;
  }

  private async load(): Promise<CredentialsKey> {
    const file = this.config.mirror.credentialsKeyFile;
    if (file) {
      try {
        return CredentialsKey.parse(await readFile(file, 'utf8'));
      } catch (error) {
        throw new Error(
          `IMGSRV_MIRROR_CREDENTIALS_KEY_FILE: ${file}: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
    }
    const dir = join(this.config.dataDir, 'mirror');
    const path = join(dir, 'credentials.key');
    try {
      return CredentialsKey.parse(await readFile(path, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (await createFileOnce(path, CredentialsKey.generateText()))
      this.logger.info({ keyFile: path }, 'generated a development key for remote credentials');
    return CredentialsKey.parse(await readFile(path, 'utf8'));
  }
}
