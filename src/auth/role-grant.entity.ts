import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { RoleId } from './actions';

@Entity({ name: 'role_grant' })
export class RoleGrantEntity {
  @PrimaryColumn({ name: 'principal_id', type: 'uuid' })
  principalId!: string;

  @PrimaryColumn({ name: 'role_id', type: 'text' })
  roleId!: RoleId;

  @Column({ type: 'text', array: true })
  images!: string[];

  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', insert: false, update: false })
  updatedAt!: Date;
}
