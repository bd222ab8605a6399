import { Module } from '@nestjs/common';
import { DownloadModule } from '../common/http/download.module';
import { StreamsItemsController } from './streams-items.controller';
import { StreamsController } from './streams.controller';
import { StreamsRepository } from './streams.repository';
import { StreamsService } from './streams.service';

/** Projection rows, index.json / images.json rendering and caching, and the items they list. */
@Module({
  imports: [DownloadModule],
  controllers: [StreamsController, StreamsItemsController],
  providers: [StreamsService, StreamsRepository],
  exports: [StreamsService],
})
export class StreamsModule {}
