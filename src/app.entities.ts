import type { DataSourceOptions } from 'typeorm';
import { AUDIT_ENTITIES } from './audit/audit.entities';
import { AUTH_ENTITIES } from './auth/auth.entities';
import { CAS_ENTITIES } from './cas/cas.entities';
import { CATALOG_ENTITIES } from './catalog/catalog.entities';
import { PUBLISH_ENTITIES } from './publish/publish-job.entity';
import { STREAMS_ENTITIES } from './streams/streams-item.entity';

/**
 * Every TypeORM entity of every module, composed here at the root so that src/database imports no
 * feature. TypeORM needs the whole list in one DataSource; modules still reach each other's data
 * only through their services.
 */
export const ENTITIES: NonNullable<DataSourceOptions['entities']> = [
  ...AUTH_ENTITIES,
  ...AUDIT_ENTITIES,
  ...CAS_ENTITIES,
  ...CATALOG_ENTITIES,
  ...PUBLISH_ENTITIES,
  ...STREAMS_ENTITIES,
];
