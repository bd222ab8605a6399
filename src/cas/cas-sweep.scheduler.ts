import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/config.module';
import { CasJobs } from './cas.queue';

/** On workers: keeps the shared sweep schedule (IMGSRV_CAS_SWEEP_INTERVAL; 0 disables it). */
@Injectable()
export class CasSweepScheduler implements OnApplicationBootstrap {
  constructor(
    private readonly jobs: CasJobs,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.cas.sweepIntervalMs > 0)
      await this.jobs.scheduleSweeps(this.config.cas.sweepIntervalMs);
  }
}
