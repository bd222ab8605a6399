import { Global, Module } from '@nestjs/common';
import { StreamsModule } from '../streams/streams.module';
import { LogReader } from './log-reader';
import { ProvenanceBackfill } from './provenance-backfill';
import { ProvenanceController } from './provenance.controller';
import { ProvenanceService } from './provenance.service';
import { SigningKeys } from './signing-keys';
import { TransparencyLog } from './transparency-log';

/**
 * Signing keys, publication and withdrawal records, and the transparency log. Global: publish
 * and lifecycle record into it inside their own transactions.
 */
@Global()
@Module({
  imports: [StreamsModule],
  controllers: [ProvenanceController],
  providers: [SigningKeys, TransparencyLog, ProvenanceService, LogReader, ProvenanceBackfill],
  exports: [ProvenanceService],
})
export class ProvenanceModule {}
