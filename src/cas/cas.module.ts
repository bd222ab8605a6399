import { BullModule } from '@nestjs/bullmq';
import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { BLOB_REFERENCE_SOURCES, BlobReferenceRegistry } from './blob-references';
import { CasBlobRepository } from './cas-blob.repository';
import { CasMaintenanceService } from './cas-maintenance.service';
import { CasMetrics } from './cas.metrics';
import { CasProcessor } from './cas.processor';
import { CAS_QUEUE, CasJobs } from './cas.queue';
import { BlobPut } from './blob-put';
import { BlobProtection } from './blob-protection';
import { BlobReader } from './blob-reader';
import { PartReceiver } from './part-receiver';
import { UploadService } from './upload.service';
import { UploadSessions } from './upload-sessions';
import { CasSweepScheduler } from './cas-sweep.scheduler';
import { UploadPartRepository } from './upload-part.repository';
import { UploadSessionRepository } from './upload-session.repository';
import { UploadVerifier } from './upload-verifier';
import { UploadController } from './upload.controller';

/** Upload sessions, digest verification, blob reads and the blob-store drivers. */
@Module({})
export class CasModule {
  /**
   * Processors (BullMQ workers) are registered only when this process has the worker role.
   * `referenceSources` names every BlobReferenceSource the composition's other modules register
   * (the catalog's, in the application): the GC refuses to run until all of them have.
   */
  static register(
    config: AppConfig,
    options: { readonly referenceSources: readonly string[] },
  ): DynamicModule {
    const workerProviders: Provider[] = config.roles.worker
      ? [CasProcessor, CasSweepScheduler]
      : [];
    // Global and registered once (AppModule): a second register() would build a second instance.
    return {
      global: true,
      module: CasModule,
      imports: [BullModule.registerQueue({ name: CAS_QUEUE })],
      controllers: [UploadController],
      providers: [
        UploadService,
        BlobPut,
        PartReceiver,
        UploadSessions,
        BlobReader,
        BlobProtection,
        CasMaintenanceService,
        UploadVerifier,
        CasJobs,
        CasMetrics,
        BlobReferenceRegistry,
        { provide: BLOB_REFERENCE_SOURCES, useValue: options.referenceSources },
        UploadSessionRepository,
        UploadPartRepository,
        CasBlobRepository,
        ...workerProviders,
      ],
      exports: [
        UploadService,
        BlobPut,
        PartReceiver,
        BlobReader,
        BlobProtection,
        CasMaintenanceService,
        BlobReferenceRegistry,
      ],
    };
  }
}
