import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { BlobStoreConfig } from '../../config/app-config';
import type { BlobStore } from './blob-store';

type S3Config = Extract<BlobStoreConfig, { driver: 's3' }>;

export function createS3Client(config: S3Config): S3Client {
  return new S3Client({
    endpoint: config.endpoint ?? undefined,
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    credentials:
      config.accessKeyId && config.secretAccessKey
        ? { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey }
        : undefined,
    maxAttempts: 3,
    // Checksums only where S3 requires them: many S3-compatible servers do not understand the
    // SDK's default aws-chunked trailing checksums. imgsrv verifies every byte with sha256 itself.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Blobs as objects in one S3 bucket (AWS S3, MinIO, Ceph RGW, Garage, s3rver). */
export class S3BlobStore implements BlobStore {
  readonly driver = 's3' as const;

  constructor(
    readonly client: S3Client,
    readonly bucket: string,
  ) {}

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), {
      abortSignal: AbortSignal.timeout(2_000),
    });
  }
}
