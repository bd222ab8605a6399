import type { INestApplicationContext } from '@nestjs/common';
import {
  CasMaintenanceService,
  SWEEP_BATCH,
  type GarbagePreview,
  type SweepReport,
} from '../cas/cas-maintenance.service';
import { parseCommandArgs } from './command-args';
import { formatBinaryBytes } from '../common/text';

export interface GcArgs {
  readonly dryRun: boolean;
  readonly json: boolean;
}

export function parseGcArgs(argv: readonly string[]): GcArgs {
  const { values } = parseCommandArgs(argv, {
    'dry-run': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  return { dryRun: values['dry-run'] === true, json: values.json === true };
}

/** A run stops after this many passes even if batches keep coming back full. */
const MAX_PASSES = 1000;

export interface GcResult extends SweepReport {
  readonly passes: number;
}

/**
 * The in-server sweep (CasMaintenanceService.sweep), run in passes until no step filled its
 * batch: sessions expired, staging cleared, stalled verifications handed to workers, blobs marked,
 * marked blobs deleted, due bytes deleted. Marking before deleting is the same as in the server:
 * a blob this run marks is deleted by a run at least the mark delay later.
 */
export async function runGc(context: INestApplicationContext): Promise<GcResult> {
  const maintenance = context.get(CasMaintenanceService);
  const total = {
    expired: 0,
    stagingCleared: 0,
    verificationsRequeued: 0,
    marked: 0,
    deleted: 0,
    deletedBytes: 0,
    objectsDeleted: 0,
  };
  let passes = 0;
  for (;;) {
    const report = await maintenance.sweep();
    passes++;
    for (const key of Object.keys(total) as (keyof SweepReport)[]) total[key] += report[key];
    const full = [report.expired, report.marked, report.deleted, report.objectsDeleted].some(
      (n) => n >= SWEEP_BATCH,
    );
    if (!full || passes >= MAX_PASSES) break;
  }
  return { ...total, passes };
}

export function previewGc(context: INestApplicationContext): Promise<GarbagePreview> {
  return context.get(CasMaintenanceService).previewGarbage();
}

function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  const [big, small] =
    s < 86_400
      ? [`${Math.floor(s / 3600)}h`, Math.floor((s % 3600) / 60)]
      : [`${Math.floor(s / 86_400)}d`, Math.floor((s % 86_400) / 3600)];
  return small === 0 ? big : `${big}${small}${s < 86_400 ? 'm' : 'h'}`;
}

function formatBytes(n: number): string {
  return n < 1024 ? `${n} bytes` : `${formatBinaryBytes(n)} (${n} bytes)`;
}

/** What the next run does with each blob: delete its row, wait for the mark delay, or mark it. */
function nextStep(blob: GarbagePreview['blobs'][number]): 'delete' | 'wait' | 'mark' {
  if (blob.markDue) return 'delete';
  return blob.markedAt ? 'wait' : 'mark';
}

export function previewJson(preview: GarbagePreview, now = Date.now()): unknown {
  return {
    dry_run: true,
    grace_ms: preview.graceMs,
    mark_delay_ms: preview.markDelayMs,
    blobs: preview.blobs.map((b) => ({
      digest: b.digest,
      size_bytes: b.sizeBytes,
      last_referenced_at: b.lastReferencedAt.toISOString(),
      age_ms: now - b.lastReferencedAt.getTime(),
      marked_at: b.markedAt?.toISOString() ?? null,
      next_run: nextStep(b),
    })),
    total_bytes: preview.blobs.reduce((sum, b) => sum + b.sizeBytes, 0),
    pending_objects: preview.objects.map((o) => ({
      object_key: o.objectKey,
      digest: o.digest,
      delete_after: o.deleteAfter.toISOString(),
      due: o.due,
      size_bytes: o.sizeBytes,
    })),
    pending_objects_bytes: preview.objects.reduce((sum, o) => sum + (o.sizeBytes ?? 0), 0),
  };
}

export function previewText(preview: GarbagePreview, now = Date.now()): string {
  const lines: string[] = [];
  const markDelay = formatDuration(preview.markDelayMs);
  const total = preview.blobs.reduce((sum, b) => sum + b.sizeBytes, 0);
  lines.push(
    `${preview.blobs.length} trusted blob(s) unreferenced for longer than the grace period (${formatDuration(preview.graceMs)}): ${formatBytes(total)}`,
  );
  for (const b of preview.blobs) {
    const step = nextStep(b);
    const note =
      step === 'delete'
        ? `marked ${b.markedAt?.toISOString()}; the next gc deletes it`
        : step === 'wait'
          ? `marked ${b.markedAt?.toISOString()}; deletable ${markDelay} after that`
          : `not marked yet; the next gc marks it, one ${markDelay} or more later deletes it`;
    lines.push(
      `  ${b.digest}  ${formatBytes(b.sizeBytes)}  last referenced ${b.lastReferencedAt.toISOString()} (${formatDuration(now - b.lastReferencedAt.getTime())} ago)  ${note}`,
    );
  }
  if (preview.objects.length > 0) {
    const bytes = preview.objects.reduce((sum, o) => sum + (o.sizeBytes ?? 0), 0);
    lines.push(
      `${preview.objects.length} object(s) of deleted blobs waiting for the delete delay: ${formatBytes(bytes)}`,
    );
    for (const o of preview.objects) {
      const size = o.sizeBytes === null ? 'already gone' : formatBytes(o.sizeBytes);
      const when = o.due ? 'due now' : `after ${o.deleteAfter.toISOString()}`;
      lines.push(`  ${o.objectKey}  ${size}  ${when}`);
    }
  }
  lines.push('dry run: nothing was marked or deleted');
  return `${lines.join('\n')}\n`;
}

export function resultJson(result: GcResult): unknown {
  return {
    dry_run: false,
    passes: result.passes,
    sessions_expired: result.expired,
    staging_cleared: result.stagingCleared,
    verifications_requeued: result.verificationsRequeued,
    blobs_marked: result.marked,
    blobs_deleted: result.deleted,
    blobs_deleted_bytes: result.deletedBytes,
    objects_deleted: result.objectsDeleted,
  };
}

export function resultText(result: GcResult, markDelayMs: number): string {
  const lines = [
    `deleted ${result.deleted} blob row(s), ${formatBytes(result.deletedBytes)}; their bytes go after IMGSRV_CAS_GC_DELETE_DELAY`,
    `deleted ${result.objectsDeleted} object(s) whose delete delay had passed`,
    `marked ${result.marked} unreferenced blob(s); a gc at least ${formatDuration(markDelayMs)} from now deletes those still unreferenced`,
    `expired ${result.expired} upload session(s), cleared ${result.stagingCleared} staging area(s), handed ${result.verificationsRequeued} stalled verification(s) to workers`,
  ];
  return `${lines.join('\n')}\n`;
}
