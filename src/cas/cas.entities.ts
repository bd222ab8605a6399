import type { EntitySchema } from 'typeorm';

/** The cas module's TypeORM entities (listed in database/entities.ts). */
export const CAS_ENTITIES: (EntitySchema | (new () => object))[] = [];
