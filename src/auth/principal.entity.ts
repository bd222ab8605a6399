import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity({ name: 'principal' })
export class PrincipalEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'text' })
  kind!: 'user' | 'service';

  @Column({ name: 'display_name', type: 'text' })
  displayName!: string;

  @Column({ type: 'jsonb' })
  attributes!: Record<string, unknown>;

  @Column({ name: 'oidc_issuer', type: 'text', nullable: true })
  oidcIssuer!: string | null;

  @Column({ name: 'oidc_subject', type: 'text', nullable: true })
  oidcSubject!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', insert: false, update: false })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', insert: false, update: false })
  updatedAt!: Date;
}
