import { Module } from '@nestjs/common';
import { DownloadModule } from '../common/http/download.module';
import { FastPathsModule } from '../common/http/fast-paths';
import { SiblingProcessesModule } from '../common/processes/sibling-processes';
import { StreamsItemsController } from './streams-items.controller';
import { StreamsController } from './streams.controller';
import { StreamsFastPath } from './streams.http';
import { StreamsMetrics } from './streams.metrics';
import { StreamsRepository } from './streams.repository';
import { StreamsService } from './streams.service';

/**
 * Projection rows, index.json / images.json rendering and caching, the items they list, and the
 * fast path for anonymous reads of the two documents.
 */
@Module({
  imports: [DownloadModule, FastPathsModule, SiblingProcessesModule],
  controllers: [StreamsController, StreamsItemsController],
  providers: [StreamsService, StreamsRepository, StreamsMetrics, StreamsFastPath],
  exports: [StreamsService],
})
export class StreamsModule {}
