import { Module } from '@nestjs/common';
import { StreamsRepository } from './streams.repository';
import { StreamsService } from './streams.service';

/** Projection rows, index.json / images.json rendering and caching. */
@Module({
  providers: [StreamsService, StreamsRepository],
  exports: [StreamsService],
})
export class StreamsModule {}
