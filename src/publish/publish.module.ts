import { BullModule } from '@nestjs/bullmq';
import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { StreamsModule } from '../streams/streams.module';
import { PublishJobRepository } from './publish-job.repository';
import { PublishController } from './publish.controller';
import { PublishMetrics } from './publish.metrics';
import { PublishProcessor } from './publish.processor';
import { PUBLISH_QUEUE, PublishQueue } from './publish.queue';
import { PublishService } from './publish.service';
import { PublishSweeper } from './publish.sweeper';
import { PublishabilityChecker } from './publishability';
import { StepRunner } from './step-runner.service';
import { FinalizePublishStep } from './steps/finalize-publish.step';
import { IncusFingerprints } from './steps/incus-fingerprints';
import { IncusIndexStep } from './steps/incus-index.step';
import { ValidateCatalogStep } from './steps/validate-catalog.step';

/** Publish jobs, their steps, the worker processor and the sweeper. */
@Module({})
export class PublishModule {
  /** The processor and sweeper run only in processes with the worker role. */
  static register(config: AppConfig): DynamicModule {
    const workerProviders = config.roles.worker ? [PublishProcessor, PublishSweeper] : [];
    // Global and registered once per composition, like CatalogModule: the web catalog reads jobs.
    return {
      global: true,
      module: PublishModule,
      imports: [BullModule.registerQueue({ name: PUBLISH_QUEUE }), StreamsModule],
      controllers: [PublishController],
      providers: [
        PublishService,
        PublishJobRepository,
        PublishQueue,
        PublishabilityChecker,
        PublishMetrics,
        StepRunner,
        ValidateCatalogStep,
        IncusIndexStep,
        IncusFingerprints,
        FinalizePublishStep,
        ...workerProviders,
      ],
      exports: [PublishService, IncusFingerprints],
    };
  }
}
