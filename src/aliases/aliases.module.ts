import { Module } from '@nestjs/common';
import { StreamsModule } from '../streams/streams.module';
import { AliasRepository } from './alias.repository';
import { AliasesController } from './aliases.controller';
import { AliasesService } from './aliases.service';

/** Aliases and ref resolution. */
@Module({
  imports: [StreamsModule],
  controllers: [AliasesController],
  providers: [AliasesService, AliasRepository],
  exports: [AliasRepository, AliasesService],
})
export class AliasesModule {}
