import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { GaugeReadings } from '../common/metrics/gauge-reading';
import { MetricsService } from '../common/metrics/metrics.service';
import { CasBlobRepository } from './cas-blob.repository';
import { UploadSessionRepository } from './upload-session.repository';
import { UPLOAD_STATES } from './upload-state';

/**
 * The cas module's Prometheus metrics, on the application's registry. The gauges are read from
 * PostgreSQL, so a supervisor's aggregate over its API processes takes one value, not their sum;
 * they count whole tables, so one reading answers scrapes for IMGSRV_METRICS_MAX_AGE (the blob
 * count and bytes share one).
 */
@Injectable()
export class CasMetrics {
  readonly bytesReceived: Counter;
  readonly verificationSeconds: Histogram<'outcome'>;
  readonly gcDeletedBlobs: Counter;
  readonly gcDeletedBytes: Counter;
  readonly objectsDeleted: Counter;
  readonly storeFull: Counter<'operation'>;

  constructor(
    metrics: MetricsService,
    sessions: UploadSessionRepository,
    blobs: CasBlobRepository,
    readings: GaugeReadings,
  ) {
    const registers = [metrics.registry];
    const sessionCounts = readings.of('upload sessions', () => sessions.countByState());
    const blobStats = readings.of('blobs', () => blobs.stats());
    new Gauge({
      name: 'imgsrv_upload_sessions',
      aggregator: 'first',
      help: 'Upload sessions by state',
      labelNames: ['state'],
      registers,
      async collect() {
        // A scrape while PostgreSQL is away keeps the last values rather than failing.
        const counts = await sessionCounts.current();
        if (counts) for (const state of UPLOAD_STATES) this.set({ state }, counts.get(state) ?? 0);
      },
    });
    new Gauge({
      name: 'imgsrv_cas_blobs',
      aggregator: 'first',
      help: 'Trusted blobs',
      registers,
      async collect() {
        const s = await blobStats.current();
        if (s) this.set(s.count);
      },
    });
    new Gauge({
      name: 'imgsrv_cas_blob_bytes',
      aggregator: 'first',
      help: 'Bytes in trusted blobs',
      registers,
      async collect() {
        const s = await blobStats.current();
        if (s) this.set(s.bytes);
      },
    });
    this.bytesReceived = new Counter({
      name: 'imgsrv_upload_bytes_received_total',
      help: 'Bytes of upload parts received and stored',
      registers,
    });
    this.verificationSeconds = new Histogram({
      name: 'imgsrv_upload_verification_seconds',
      help: 'Time to verify a completed upload (hash what was not hashed on arrival), by outcome',
      labelNames: ['outcome'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1200],
      registers,
    });
    this.gcDeletedBlobs = new Counter({
      name: 'imgsrv_cas_gc_deleted_blobs_total',
      help: 'Trusted blobs the GC deleted (rows; bytes follow after the delete delay)',
      registers,
    });
    this.gcDeletedBytes = new Counter({
      name: 'imgsrv_cas_gc_deleted_bytes_total',
      help: 'Bytes of the trusted blobs the GC deleted',
      registers,
    });
    this.objectsDeleted = new Counter({
      name: 'imgsrv_cas_objects_deleted_total',
      help: 'CAS objects removed from the blob store after their rows',
      registers,
    });
    this.storeFull = new Counter({
      name: 'imgsrv_blob_store_full_total',
      help: 'Writes the blob store refused for lack of space (ENOSPC, EDQUOT), by operation (part, verification)',
      labelNames: ['operation'],
      registers,
    });
  }
}
