import { Global, Module } from '@nestjs/common';
import { DownloadMetrics } from './download.metrics';
import { DownloadResponder } from './download.responder';

@Global()
@Module({ providers: [DownloadResponder, DownloadMetrics], exports: [DownloadResponder] })
export class DownloadModule {}
