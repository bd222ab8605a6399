import { Global, Module } from '@nestjs/common';
import { GaugeReadings } from './gauge-reading';
import { MetricsService } from './metrics.service';

@Global()
@Module({ providers: [MetricsService, GaugeReadings], exports: [MetricsService, GaugeReadings] })
export class MetricsModule {}
