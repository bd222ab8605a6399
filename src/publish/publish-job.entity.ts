import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type StepState = 'queued' | 'running' | 'succeeded' | 'failed' | 'skipped';
export type StepName = 'validate_catalog' | 'incus_index' | 'finalize_publish';

@Entity({ name: 'publish_job' })
export class PublishJobEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ name: 'version_id', type: 'uuid' }) versionId!: string;
  @Column({ type: 'text' }) state!: JobState;
  @Column({ name: 'requested_by', type: 'uuid', nullable: true }) requestedBy!: string | null;
  @Column({ name: 'failure_message', type: 'text', nullable: true }) failureMessage!: string | null;
  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;
  @Column({ name: 'started_at', type: 'timestamptz', nullable: true }) startedAt!: Date | null;
  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true }) finishedAt!: Date | null;
  @Column({ name: 'updated_at', type: 'timestamptz', insert: false, update: false })
  updatedAt!: Date;
}

@Entity({ name: 'publish_step' })
export class PublishStepEntity {
  @PrimaryColumn({ name: 'job_id', type: 'uuid' }) jobId!: string;
  @PrimaryColumn({ type: 'text' }) name!: StepName;
  @Column({ type: 'smallint' }) sequence!: number;
  @Column({ type: 'text' }) state!: StepState;
  @Column({ name: 'attempt_count', type: 'integer' }) attemptCount!: number;
  @Column({ name: 'lease_owner', type: 'text', nullable: true }) leaseOwner!: string | null;
  @Column({ name: 'lease_attempt', type: 'integer', nullable: true }) leaseAttempt!: number | null;
  @Column({ name: 'lease_expires_at', type: 'timestamptz', nullable: true })
  leaseExpiresAt!: Date | null;
  @Column({ name: 'next_attempt_at', type: 'timestamptz', nullable: true })
  nextAttemptAt!: Date | null;
  @Column({ name: 'started_at', type: 'timestamptz', nullable: true }) startedAt!: Date | null;
  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true }) finishedAt!: Date | null;
  @Column({ name: 'failure_message', type: 'text', nullable: true }) failureMessage!: string | null;
  @Column({ type: 'jsonb', nullable: true }) result!: Record<string, unknown> | null;
}

export const PUBLISH_ENTITIES = [PublishJobEntity, PublishStepEntity];
