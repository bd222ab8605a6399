import { Cron } from 'croner';
import type { FieldError } from '../common/errors/domain-error';
import { imageNameOf, parseFilter, type ImportVersion } from '../simplestreams/reader';

/** What a remote copies: each present key must match (see src/simplestreams/reader.ts). */
export interface RemoteFilters {
  readonly os?: string;
  readonly release?: string;
  readonly architecture?: string;
  readonly variant?: string;
  /** `container`, `virtual-machine` or `vm`. */
  readonly type?: string;
  /** A glob over the product's upstream aliases. */
  readonly alias?: string;
}

export const FILTER_FIELDS = ['os', 'release', 'architecture', 'variant', 'type', 'alias'] as const;

/** The reader's filter (its key for architecture is `arch`); throws on a value it refuses. */
export function readerFilter(filters: RemoteFilters): Record<string, string> {
  const parts: string[] = [];
  for (const key of FILTER_FIELDS) {
    const value = filters[key];
    if (value === undefined) continue;
    if (/[,=]/.test(value)) throw new Error(`filters.${key} may not contain "," or "="`);
    parts.push(`${key === 'architecture' ? 'arch' : key}=${value}`);
  }
  return parseFilter(parts.join(','));
}

export const TEMPLATE_FIELDS = ['os', 'release', 'variant', 'arch', 'remote'] as const;

/** `{os}-{release}`: the imgsrv image an upstream product's versions go into. */
export function imageNameFor(template: string, v: ImportVersion, remote: string): string {
  const values: Record<string, string> = {
    os: v.os,
    release: v.release,
    variant: v.variant,
    arch: v.arch,
    remote,
  };
  const text = template.replace(/\{([a-z]+)\}/g, (_, key: string) => values[key] ?? '');
  // imageNameOf lower-cases and maps anything outside the image name alphabet to `-`.
  return imageNameOf(text, '').replace(/-+$/, '');
}

/** Problems with a template: unknown placeholders, or nothing but punctuation. */
export function templateProblems(template: string): FieldError[] {
  const errors: FieldError[] = [];
  for (const [, key] of template.matchAll(/\{([^}]*)\}/g)) {
    if (!(TEMPLATE_FIELDS as readonly string[]).includes(key))
      errors.push({
        pointer: '/image_name_template',
        detail: `{${key}} is not a placeholder; use ${TEMPLATE_FIELDS.map((f) => `{${f}}`).join(', ')}`,
      });
  }
  if (!/[A-Za-z0-9]/.test(template.replace(/\{[^}]*\}/g, 'x')))
    errors.push({ pointer: '/image_name_template', detail: 'must name something' });
  return errors;
}

/** A five-field cron expression (UTC); throws with the parser's reason when it is not one. */
export function parseSchedule(schedule: string): Cron {
  if (schedule.trim().split(/\s+/).length !== 5)
    throw new Error(
      'must be a cron expression of five fields (minute hour day month weekday), in UTC',
    );
  return new Cron(schedule, { paused: true, timezone: 'UTC' });
}

/** The next time a schedule fires after `after`, or null when it never does again. */
export function nextRun(schedule: string | null, after: Date): Date | null {
  if (schedule === null) return null;
  return parseSchedule(schedule).nextRun(after) ?? null;
}
