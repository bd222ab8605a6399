import { Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service';

/** Download metrics, by kind (blob, artifact, attachment). */
@Injectable()
export class DownloadMetrics {
  readonly downloads: Counter<'kind' | 'status'>;
  readonly bytes: Counter<'kind'>;
  readonly sendfiles: Counter<'kind'>;
  readonly aborted: Counter<'kind'>;
  readonly storeFailures: Counter<'kind'>;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.downloads = new Counter({
      name: 'imgsrv_downloads_total',
      help: 'Download answers by kind (blob, artifact, attachment) and status (200, 206, 304, 416)',
      labelNames: ['kind', 'status'],
      registers,
    });
    this.bytes = new Counter({
      name: 'imgsrv_download_bytes_total',
      help: 'Bytes of completed download responses, by kind',
      labelNames: ['kind'],
      registers,
    });
    this.sendfiles = new Counter({
      name: 'imgsrv_download_sendfile_total',
      help: 'Download bodies the kernel sent from the file (sendfile), not copied through Node, by kind',
      labelNames: ['kind'],
      registers,
    });
    this.aborted = new Counter({
      name: 'imgsrv_downloads_aborted_total',
      help: 'Download bodies the client went away from before the last byte, by kind',
      labelNames: ['kind'],
      registers,
    });
    this.storeFailures = new Counter({
      name: 'imgsrv_download_store_failures_total',
      help: 'Download bodies cut before the last byte because the blob store failed, by kind',
      labelNames: ['kind'],
      registers,
    });
  }
}
