import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/**
 * Combined fingerprints (sha256 of a metadata tarball followed by a root image) computed before,
 * by the pair of blob digests they were computed from (table incus_fingerprint). Only what imgsrv
 * hashed itself goes in: incus_index after reading both blobs, and a mirror transfer that hashed a
 * root from its first byte after the metadata's bytes, recorded once the root was verified.
 */
@Injectable()
export class IncusFingerprints {
  constructor(private readonly dataSource: DataSource) {}

  async known(metadataDigest: string, rootDigest: string): Promise<string | null> {
    const rows = (await this.dataSource.query(
      `SELECT fingerprint FROM incus_fingerprint WHERE metadata_digest = $1 AND root_digest = $2`,
      [metadataDigest, rootDigest],
    )) as { fingerprint: string }[];
    return rows[0]?.fingerprint ?? null;
  }

  /** Records a fingerprint; the pair's row, once there, stays as it is (it cannot differ). */
  async record(metadataDigest: string, rootDigest: string, fingerprint: string): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO incus_fingerprint (metadata_digest, root_digest, fingerprint) VALUES ($1, $2, $3)
       ON CONFLICT (metadata_digest, root_digest) DO NOTHING`,
      [metadataDigest, rootDigest, fingerprint],
    );
  }
}
