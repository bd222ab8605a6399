import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'api_token' })
export class ApiTokenEntity {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  @Column({ name: 'principal_id', type: 'uuid' })
  principalId!: string;

  @Column({ type: 'text', nullable: true })
  name!: string | null;

  @Column({ name: 'secret_sha256', type: 'bytea', select: false })
  secretSha256!: Buffer;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt!: Date | null;

  @Column({ name: 'created_by', type: 'uuid', nullable: true })
  createdBy!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;
}
