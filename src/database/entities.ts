import type { DataSourceOptions } from 'typeorm';
import { CAS_ENTITIES } from '../cas/cas.entities';

/**
 * Every TypeORM entity of every module. TypeORM needs the whole list in one DataSource; modules
 * still reach each other's data only through their services.
 */
export const ENTITIES: NonNullable<DataSourceOptions['entities']> = [...CAS_ENTITIES];
