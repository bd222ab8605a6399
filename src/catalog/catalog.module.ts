import { Module } from '@nestjs/common';
import { ArtifactController } from './artifact.controller';
import { ArtifactRepository } from './artifact.repository';
import { AttachmentRepository } from './attachment.repository';
import { CatalogService } from './catalog.service';
import { ImageVersionRepository } from './image-version.repository';
import { ImageController } from './image.controller';
import { ImageRepository } from './image.repository';
import { VersionController } from './version.controller';

/** Images, versions, artifacts, attachments, manifests and their downloads. */
@Module({
  controllers: [ImageController, VersionController, ArtifactController],
  providers: [
    CatalogService,
    ImageRepository,
    ImageVersionRepository,
    ArtifactRepository,
    AttachmentRepository,
  ],
  exports: [CatalogService],
})
export class CatalogModule {}
