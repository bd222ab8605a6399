import { Module, type DynamicModule } from '@nestjs/common';
import { FastPathsModule } from '../common/http/fast-paths';
import { StreamsModule } from '../streams/streams.module';
import type { AppConfig } from '../config/app-config';
import { ArtifactController } from './artifact.controller';
import { ArtifactDownloads } from './artifact-downloads';
import { ArtifactRepository } from './artifact.repository';
import { AttachmentRepository } from './attachment.repository';
import { BlobController } from './blob.controller';
import { ArtifactService } from './artifact.service';
import { CatalogAccess } from './catalog-access';
import { CatalogPort } from './catalog-port';
import { CatalogService } from './catalog.service';
import { ImageVersionRepository } from './image-version.repository';
import { ImageController } from './image.controller';
import { ImageRepository } from './image.repository';
import { ManifestFastPath } from './manifest.http';
import { PublishedManifests } from './published-manifests';
import { CatalogMetrics } from './catalog.metrics';
import { StorageController } from './storage.controller';
import { VersionController } from './version.controller';
import { VersionLifecycleService } from './version-lifecycle.service';

/** Images, versions (and their lifecycle), artifacts, attachments, manifests and their downloads. */
@Module({})
export class CatalogModule {
  static register(config: AppConfig): DynamicModule {
    void config;
    // Global and registered once (AppModule), like CasModule, whose service it uses.
    return {
      global: true,
      module: CatalogModule,
      imports: [StreamsModule, FastPathsModule],
      controllers: [
        ImageController,
        VersionController,
        ArtifactController,
        BlobController,
        StorageController,
      ],
      providers: [
        CatalogMetrics,
        CatalogService,
        CatalogAccess,
        CatalogPort,
        ArtifactService,
        ArtifactDownloads,
        ImageRepository,
        ImageVersionRepository,
        ArtifactRepository,
        AttachmentRepository,
        VersionLifecycleService,
        PublishedManifests,
        ManifestFastPath,
      ],
      exports: [
        CatalogService,
        CatalogPort,
        VersionLifecycleService,
        ArtifactDownloads,
        ArtifactService,
      ],
    };
  }
}
