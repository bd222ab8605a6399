import { Injectable } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { GaugeReadings } from '../common/metrics/gauge-reading';
import { MetricsService } from '../common/metrics/metrics.service';
import { EVERY_VERSION, ImageRepository, type ImageStorage } from './image.repository';

/** The lists kept per streams revision for callers who see only published versions of them. */
export type PublicList = 'images' | 'versions' | 'aliases';

/** The storage gauges' figures: what every image cites (shared bytes once), and per image. */
interface StorageFigures {
  readonly citedBytes: number;
  readonly byImage: ReadonlyMap<string, ImageStorage>;
}

/**
 * Where the storage goes: the bytes every image cites (shared bytes once), and per image the
 * bytes it cites and those no other image cites, read at most once per IMGSRV_METRICS_MAX_AGE.
 * Every process reads the same database, so a supervisor's aggregate over its API processes takes
 * the first process's value. One series pair per image: an image server holds a few hundred
 * images, not millions.
 */
@Injectable()
export class CatalogMetrics {
  /**
   * Manifest reads by where the answer came from, counted in plain numbers and given to
   * prom-client when scraped (its bookkeeping would be a noticeable share of a 304's cost).
   */
  private readonly manifestReads = { memory: 0, database: 0 };
  private readonly artifactReads = { memory: 0, database: 0 };
  private readonly listReads = {
    images: { memory: 0, database: 0 },
    versions: { memory: 0, database: 0 },
    aliases: { memory: 0, database: 0 },
  };

  constructor(metrics: MetricsService, images: ImageRepository, readings: GaugeReadings) {
    const registers = [metrics.registry];
    // Two queries over the whole catalog: hundreds of milliseconds at 10,000 versions.
    const storage = readings.of<StorageFigures>('storage', async () => {
      const [total, byImage] = await Promise.all([
        images.storageTotal(EVERY_VERSION),
        images.storageByName(),
      ]);
      return { citedBytes: total.bytes, byImage };
    });
    const reads = this.manifestReads;
    new Counter({
      name: 'imgsrv_manifest_reads_total',
      help:
        'Manifest GETs by source: "memory" (a published manifest rendered before, for the current ' +
        'streams revision) or "database" (read and rendered for the request)',
      labelNames: ['source'],
      registers,
      collect() {
        for (const source of ['memory', 'database'] as const) {
          this.inc({ source }, reads[source]);
          reads[source] = 0;
        }
      },
    });
    const artifactReads = this.artifactReads;
    new Counter({
      name: 'imgsrv_artifact_reads_total',
      help:
        'Artifact GETs (GET …/artifacts/{id}) by source: "memory" (from a published manifest ' +
        'rendered for the current streams revision) or "database"',
      labelNames: ['source'],
      registers,
      collect() {
        for (const source of ['memory', 'database'] as const) {
          this.inc({ source }, artifactReads[source]);
          artifactReads[source] = 0;
        }
      },
    });
    const listReads = this.listReads;
    new Counter({
      name: 'imgsrv_list_reads_total',
      help:
        'Public list GETs, by list and source: "memory" (read before for the current streams ' +
        'revision) or "database". Version and alias lists of callers who may not read the ' +
        "image's drafts; the image list of callers who may read no image",
      labelNames: ['list', 'source'],
      registers,
      collect() {
        for (const list of ['images', 'versions', 'aliases'] as const)
          for (const source of ['memory', 'database'] as const) {
            this.inc({ list, source }, listReads[list][source]);
            listReads[list][source] = 0;
          }
      },
    });
    new Gauge({
      name: 'imgsrv_storage_cited_bytes',
      aggregator: 'first',
      help: 'Bytes the versions of every image cite (purged versions cite nothing), each blob once',
      registers,
      async collect() {
        const figures = await storage.current();
        if (figures) this.set(figures.citedBytes);
      },
    });
    new Gauge({
      name: 'imgsrv_image_storage_bytes',
      aggregator: 'first',
      help: 'Per image: bytes its versions cite (kind="cited") and those no other image cites (kind="unique")',
      labelNames: ['image', 'kind'],
      registers,
      async collect() {
        const figures = await storage.current();
        if (!figures) return;
        this.reset();
        for (const [image, s] of figures.byImage) {
          this.set({ image, kind: 'cited' }, s.bytes);
          this.set({ image, kind: 'unique' }, s.bytesUnique);
        }
      },
    });
  }

  countManifestRead(source: 'memory' | 'database'): void {
    this.manifestReads[source]++;
  }

  countArtifactRead(source: 'memory' | 'database'): void {
    this.artifactReads[source]++;
  }

  countListRead(list: PublicList, source: 'memory' | 'database'): void {
    this.listReads[list][source]++;
  }
}
