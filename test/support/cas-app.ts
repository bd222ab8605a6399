import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import { infrastructureModules } from '../../src/app.modules';
import { AuditModule } from '../../src/audit/audit.module';
import { CasModule } from '../../src/cas/cas.module';
import { loadConfig, type AppConfig, type Env } from '../../src/config/app-config';
import { createLogger } from '../../src/common/logging/logger';
import type { Actor } from '../../src/auth/actor';
import { BLOB_STORE, type BlobStore } from '../../src/cas/blob-store/blob-store';
import { CasMaintenanceService } from '../../src/cas/cas-maintenance.service';
import { BlobProtection } from '../../src/cas/blob-protection';
import { BlobReader } from '../../src/cas/blob-reader';
import { PartReceiver } from '../../src/cas/part-receiver';
import { UploadService } from '../../src/cas/upload.service';
import type { UploadSessionView } from '../../src/cas/upload.types';
import type { ListedPart } from '../../src/cas/upload-parts';

import { startS3rver, type RunningS3rver } from './s3rver';
import { bodyOf } from './cas-streams';
import { createTestDatabase, type TestDatabase } from './test-database';
import { sha256Of } from './digests';

export type DriverName = 'fs' | 's3';

/**
 * The environment of a cas test app: its own database, Redis prefix and data directory, as
 * test-app.ts's testEnv gives (not imported: that file loads the whole application).
 */
function casTestEnv(databaseUrl: string, dataDir: string, env: Env): Env {
  return {
    IMGSRV_DATABASE_URL: databaseUrl,
    IMGSRV_DATA_DIR: dataDir,
    IMGSRV_REDIS_PREFIX: `imgsrv-test-${randomBytes(4).toString('hex')}`,
    IMGSRV_ROLES: 'api,worker',
    IMGSRV_LOG_LEVEL: process.env.IMGSRV_TEST_LOG ? 'debug' : 'warn',
    IMGSRV_CAS_SWEEP_INTERVAL: '0s',
    ...env,
  };
}

/** Log lines go nowhere unless IMGSRV_TEST_LOG is set. */
const logSink = {
  write: (line: string) => void (process.env.IMGSRV_TEST_LOG && process.stdout.write(line)),
};

export const ACTOR: Actor = { principal: null, requestId: 'cas-test' };

/**
 * The cas module's use cases in one object, as the tests drive them: the upload service's
 * session calls, the part receiver's putPart, and the blob reader's and protection's calls.
 */
export interface CasCalls {
  begin: UploadService['begin'];
  getSession: UploadService['getSession'];
  complete: UploadService['complete'];
  abort: UploadService['abort'];
  putPart: PartReceiver['putPart'];
  getBlob: BlobReader['getBlob'];
  readBlob: BlobReader['readBlob'];
  trustedSizes: BlobReader['trustedSizes'];
  protectBlob: BlobProtection['protectBlob'];
}

function casCalls(
  uploads: UploadService,
  parts: PartReceiver,
  blobs: BlobReader,
  protection: BlobProtection,
): CasCalls {
  return {
    begin: (...a) => uploads.begin(...a),
    getSession: (...a) => uploads.getSession(...a),
    complete: (...a) => uploads.complete(...a),
    abort: (...a) => uploads.abort(...a),
    putPart: (...a) => parts.putPart(...a),
    getBlob: (...a) => blobs.getBlob(...a),
    readBlob: (...a) => blobs.readBlob(...a),
    trustedSizes: (...a) => blobs.trustedSizes(...a),
    protectBlob: (...a) => protection.protectBlob(...a),
  };
}

export interface CasTestApp {
  readonly config: AppConfig;
  /** The app's own data directory (the fs store lives in `blobs/` under it). */
  readonly dataDir: string;
  readonly cas: CasCalls;
  readonly maintenance: CasMaintenanceService;
  readonly store: BlobStore;
  readonly dataSource: DataSource;
  get<T>(type: new (...args: never[]) => T): T;
  /** SQL against the app's database (state assertions, and moving clocks forward). */
  sql<T = Record<string, unknown>>(query: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/** An s3rver with one bucket, shared by the apps of one test file. */
export interface S3Fixture {
  readonly s3: RunningS3rver;
  readonly bucket: string;
  readonly env: Env;
}

export async function startS3Fixture(): Promise<S3Fixture> {
  const s3 = await startS3rver();
  const bucket = `cas-${randomBytes(4).toString('hex')}`;
  await s3.createBucket(bucket);
  return {
    s3,
    bucket,
    env: {
      IMGSRV_BLOB_STORE: 's3',
      IMGSRV_S3_ENDPOINT: s3.endpoint,
      IMGSRV_S3_BUCKET: bucket,
      IMGSRV_S3_ACCESS_KEY_ID: s3.accessKeyId,
      IMGSRV_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      IMGSRV_S3_FORCE_PATH_STYLE: 'true',
    },
  };
}

/**
 * The cas module with the real infrastructure it runs on (configuration, PostgreSQL, BullMQ on
 * Redis, the blob store, audit, metrics) in a Nest testing module: its own database cloned from
 * the migrated template, Redis prefix and data directory, as startTestApp gives, without the
 * HTTP layer. Sweeps are not scheduled unless the test asks: tests call the sweepers themselves.
 */
export async function startCasApp(
  options: {
    env?: Env;
    s3?: S3Fixture | null;
    database?: TestDatabase;
    /** The blob reference sources the GC must wait for; none by default (no catalog here). */
    referenceSources?: readonly string[];
  } = {},
): Promise<CasTestApp> {
  const database = options.database ?? (await createTestDatabase());
  const ownDir = await mkdtemp(join(tmpdir(), 'imgsrv-cas-'));
  const config = loadConfig(
    casTestEnv(database.url, ownDir, { ...(options.s3?.env ?? {}), ...(options.env ?? {}) }),
  );
  const logger = createLogger(config.log, logSink);
  const moduleRef = await Test.createTestingModule({
    imports: [
      ...infrastructureModules(config, logger),
      AuditModule,
      CasModule.register(config, { referenceSources: options.referenceSources ?? [] }),
    ],
  }).compile();
  await moduleRef.init();
  const dataSource = moduleRef.get(DataSource);
  return {
    config,
    dataDir: config.dataDir,
    cas: casCalls(
      moduleRef.get(UploadService),
      moduleRef.get(PartReceiver),
      moduleRef.get(BlobReader),
      moduleRef.get(BlobProtection),
    ),
    maintenance: moduleRef.get(CasMaintenanceService),
    store: moduleRef.get<BlobStore>(BLOB_STORE),
    dataSource,
    get: (type) => moduleRef.get(type, { strict: false }),
    sql: async (query, params = []) => {
      const result = (await dataSource.query(query, params)) as unknown;
      if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0])) {
        return result[0] as never;
      }
      return result as never;
    },
    close: async () => {
      await moduleRef.close();
      if (!options.database) await database.drop();
      await rm(ownDir, { recursive: true, force: true });
    },
  };
}

/** Cuts `data` into parts of `partSize` (the last one shorter). */
export function split(data: Buffer, partSize: number): Buffer[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += partSize) parts.push(data.subarray(i, i + partSize));
  return parts.length ? parts : [Buffer.alloc(0)];
}

/** Begins an upload for `data` and sends `parts` in the order given; answers the listed parts. */
export async function uploadParts(
  cas: CasCalls,
  data: Buffer,
  parts: Buffer[],
  order: number[] = parts.map((_, i) => i + 1),
): Promise<{ session: UploadSessionView; listed: ListedPart[] }> {
  const { session } = await cas.begin(
    { expectedDigest: sha256Of(data), expectedSizeBytes: data.length },
    ACTOR,
  );
  const byNumber = new Map<number, ListedPart>();
  for (const n of order) {
    const bytes = parts[n - 1];
    const put = await cas.putPart(
      { uploadId: session.id, partNumber: n, body: bodyOf(bytes), contentLength: bytes.length },
      ACTOR,
    );
    byNumber.set(n, { number: n, etag: put.etag, sizeBytes: put.sizeBytes });
  }
  const listed = [...byNumber.values()].sort((a, b) => a.number - b.number);
  return { session, listed };
}
