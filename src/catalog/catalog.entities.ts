import { ArtifactEntity, AttachmentEntity } from './artifact.entity';
import { ImageVersionEntity } from './image-version.entity';
import { ImageEntity } from './image.entity';

/** The catalog module's TypeORM entities (listed in database/entities.ts). */
export const CATALOG_ENTITIES = [ImageEntity, ImageVersionEntity, ArtifactEntity, AttachmentEntity];
