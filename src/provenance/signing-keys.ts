import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createFileOnce } from '../common/files/create-once';
import type { Logger } from '../common/logging/logger';
import { LOGGER } from '../common/logging/logging.module';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { noteKeyHash, noteKeyId, publicKeyId, validKeyName } from '../transparency/signed-note';

/** One Ed25519 key as the provenance formats name it. */
export interface ProvenanceKey {
  /** Hex SHA-256 of the public key's SPKI DER: the DSSE keyid and the bundle's key hint. */
  readonly keyId: string;
  readonly publicKey: KeyObject;
  readonly publicKeyPem: string;
}

export interface SigningKey extends ProvenanceKey {
  readonly privateKey: KeyObject;
  /** The checkpoint signer's name (the log origin) and its C2SP note key ID. */
  readonly noteName: string;
  readonly noteKeyId: Buffer;
  /** SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key): the log's id, whose first 4 bytes are the note key ID. */
  readonly logId: Buffer;
}

export function describeKey(publicKey: KeyObject): ProvenanceKey {
  if (publicKey.asymmetricKeyType !== 'ed25519') throw new Error('provenance keys are Ed25519');
  return {
    keyId: publicKeyId(publicKey),
    publicKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/**
 * The key this deployment signs with (IMGSRV_PROVENANCE_KEY_FILE, or a development key generated
 * once in the data directory) and the retired keys that still verify. Every key is registered in
 * provenance_key at start, so GET /v1/provenance/keys lists it.
 */
@Injectable()
export class SigningKeys implements OnModuleInit {
  private signing: SigningKey | null = null;
  private retired: ProvenanceKey[] = [];

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly dataSource: DataSource,
  ) {}

  async onModuleInit(): Promise<void> {
    const { keyFile, retiredKeyFiles, logOrigin } = this.config.provenance;
    if (!validKeyName(logOrigin))
      throw new Error(
        `IMGSRV_PROVENANCE_LOG_ORIGIN: ${JSON.stringify(logOrigin)} cannot name a key`,
      );
    const privateKey = keyFile ? await this.readPrivate(keyFile) : await this.developmentKey();
    const publicKey = createPublicKey(privateKey);
    const described = describeKey(publicKey);
    this.signing = {
      ...described,
      privateKey,
      noteName: logOrigin,
      noteKeyId: noteKeyId(logOrigin, publicKey),
      logId: noteKeyHash(logOrigin, publicKey),
    };
    this.retired = [];
    for (const file of retiredKeyFiles) {
      const pem = await readFile(file, 'utf8');
      const key = /PRIVATE KEY/u.test(pem)
        ? createPublicKey(createPrivateKey(pem))
        : createPublicKey(pem);
      const retired = describeKey(key);
      if (retired.keyId === described.keyId)
        throw new Error(`${file} is the signing key itself; a retired key must be another one`);
      this.retired.push(retired);
    }
    await this.register();
  }

  get current(): SigningKey {
    if (!this.signing) throw new Error('the provenance keys are not loaded yet');
    return this.signing;
  }

  private async register(): Promise<void> {
    const key = this.current;
    await this.dataSource.query(
      `INSERT INTO provenance_key (key_id, algorithm, public_key_pem) VALUES ($1, 'ed25519', $2)
       ON CONFLICT (key_id) DO NOTHING`,
      [key.keyId, key.publicKeyPem],
    );
    for (const retired of this.retired) {
      await this.dataSource.query(
        `INSERT INTO provenance_key (key_id, algorithm, public_key_pem, retired_at)
         VALUES ($1, 'ed25519', $2, now()) ON CONFLICT (key_id) DO NOTHING`,
        [retired.keyId, retired.publicKeyPem],
      );
      await this.dataSource.query(
        `UPDATE provenance_key SET retired_at = now() WHERE key_id = $1 AND retired_at IS NULL`,
        [retired.keyId],
      );
    }
  }

  private async readPrivate(file: string): Promise<KeyObject> {
    const key = createPrivateKey(await readFile(file, 'utf8'));
    if (key.asymmetricKeyType !== 'ed25519')
      throw new Error(`IMGSRV_PROVENANCE_KEY_FILE: ${file} is not an Ed25519 private key`);
    return key;
  }

  /**
   * The data directory's key, generated on first use. Several processes may start at once: each
   * writes its own candidate and links it into place; the first link wins and all read that one.
   */
  private async developmentKey(): Promise<KeyObject> {
    const dir = join(this.config.dataDir, 'provenance');
    const file = join(dir, 'ed25519.pem');
    try {
      return await this.readPrivate(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
    if (await createFileOnce(file, pem))
      this.logger.info({ keyFile: file }, 'generated a development provenance signing key');
    return this.readPrivate(file);
  }
}
