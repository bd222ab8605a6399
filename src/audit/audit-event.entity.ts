import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** Append-only: a trigger rejects UPDATE, DELETE and TRUNCATE. */
@Entity({ name: 'audit_event' })
export class AuditEventEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string;

  @Column({ name: 'occurred_at', type: 'timestamptz', insert: false, update: false })
  occurredAt!: Date;

  @Column({ name: 'principal_id', type: 'uuid', nullable: true })
  principalId!: string | null;

  @Column({ name: 'principal_name', type: 'text', nullable: true })
  principalName!: string | null;

  @Column({ type: 'text' })
  action!: string;

  @Column({ name: 'target_type', type: 'text' })
  targetType!: string;

  @Column({ name: 'target_id', type: 'text', nullable: true })
  targetId!: string | null;

  @Column({ name: 'image_name', type: 'text', nullable: true })
  imageName!: string | null;

  @Column({ name: 'request_id', type: 'text', nullable: true })
  requestId!: string | null;

  @Column({ type: 'jsonb' })
  detail!: Record<string, unknown>;
}
