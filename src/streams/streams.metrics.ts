import { Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { MetricsService } from '../common/metrics/metrics.service';

/** Streams metrics. */
@Injectable()
export class StreamsMetrics {
  readonly renders: Counter;
  readonly sortedRenders: Counter;
  readonly collections: Counter;
  readonly collectionSeconds: Counter;

  /**
   * Anonymous document reads the fast path answered, counted in a plain number per answer and
   * given to prom-client when scraped: its counter bookkeeping would be a noticeable share of a
   * 304's cost.
   */
  private fastPathAnswers = 0;

  constructor(metrics: MetricsService) {
    this.renders = new Counter({
      name: 'imgsrv_streams_renders_total',
      help: 'Renderings of the streams documents (one per revision per process)',
      registers: [metrics.registry],
    });
    this.sortedRenders = new Counter({
      name: 'imgsrv_streams_sorted_renders_total',
      help:
        'Renderings whose rows the database did not hand over in the projection order, so they ' +
        'were all read at once and sorted in memory (expected to stay 0)',
      registers: [metrics.registry],
    });
    this.collections = new Counter({
      name: 'imgsrv_streams_collections_total',
      help: 'Full heap collections run after renders of a large images.json',
      registers: [metrics.registry],
    });
    this.collectionSeconds = new Counter({
      name: 'imgsrv_streams_collection_seconds_total',
      help: 'Time spent in the full heap collections run after renders of a large images.json',
      registers: [metrics.registry],
    });
    const counted = () => {
      const n = this.fastPathAnswers;
      this.fastPathAnswers = 0;
      return n;
    };
    new Counter({
      name: 'imgsrv_streams_fast_path_total',
      help:
        'Anonymous reads of index.json and images.json answered ahead of the web framework ' +
        '(with public reads on); every other request, and these with credentials, go through it',
      registers: [metrics.registry],
      collect() {
        const n = counted();
        if (n > 0) this.inc(n);
      },
    });
  }

  countFastPathAnswer(): void {
    this.fastPathAnswers++;
  }
}
