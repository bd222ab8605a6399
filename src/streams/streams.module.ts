import { Module } from '@nestjs/common';
import { StreamsController } from './streams.controller';
import { StreamsRepository } from './streams.repository';
import { StreamsService } from './streams.service';

/** Projection rows, index.json / images.json rendering and caching. */
@Module({
  controllers: [StreamsController],
  providers: [StreamsService, StreamsRepository],
  exports: [StreamsService],
})
export class StreamsModule {}
