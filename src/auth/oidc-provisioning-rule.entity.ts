import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { RoleId } from './actions';

@Entity({ name: 'oidc_provisioning_rule' })
export class OidcProvisioningRuleEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ name: 'display_name', type: 'text' })
  displayName!: string;

  @Column({ name: 'issuer_url', type: 'text' })
  issuerUrl!: string;

  @Column({ type: 'text' })
  audience!: string;

  @Column({ type: 'jsonb' })
  claims!: Record<string, string>;

  @Column({ name: 'role_id', type: 'text' })
  roleId!: RoleId;

  @Column({ type: 'text', array: true })
  images!: string[];

  @Column({ type: 'boolean' })
  enabled!: boolean;

  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', insert: false, update: false })
  updatedAt!: Date;
}
