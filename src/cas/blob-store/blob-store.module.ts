import { Global, Module } from '@nestjs/common';
import type { AppConfig } from '../../config/app-config';
import { APP_CONFIG } from '../../config/config.module';
import { BLOB_STORE, type BlobStore } from './blob-store';
import { FsBlobStore } from './fs-blob-store';
import { S3BlobStore } from './s3-blob-store';
import { createS3Client } from './s3-client';

export function createBlobStore(config: AppConfig['blobStore']): BlobStore {
  return config.driver === 'fs'
    ? new FsBlobStore(config.root)
    : new S3BlobStore(createS3Client(config), config.bucket);
}

@Global()
@Module({
  providers: [
    {
      provide: BLOB_STORE,
      inject: [APP_CONFIG],
      useFactory: (c: AppConfig) => createBlobStore(c.blobStore),
    },
  ],
  exports: [BLOB_STORE],
})
export class BlobStoreModule {}
