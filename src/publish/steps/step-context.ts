import type { Manifest } from '../../catalog/catalog.service';
import type { Lease } from '../publish-job.repository';

/** What a step gets: its lease (for fenced writes), the manifest, and a signal that fires when the lease is lost. */
export interface StepContext {
  readonly lease: Lease;
  readonly manifest: Manifest;
  readonly signal: AbortSignal;
  readonly requestedBy: string | null;
}
