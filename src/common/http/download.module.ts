import { Global, Module } from '@nestjs/common';
import { DownloadResponder } from './download.responder';

@Global()
@Module({ providers: [DownloadResponder], exports: [DownloadResponder] })
export class DownloadModule {}
