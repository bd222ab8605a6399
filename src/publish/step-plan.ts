import type { StepName } from './publish-job.entity';

/** The steps of every publish job, in order. */
export const STEPS: readonly StepName[] = ['validate_catalog', 'incus_index', 'finalize_publish'];

/** A failure that no retry can fix (contradicting metadata, collisions): the step fails at once. */
export class PermanentStepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentStepError';
  }
}

/** The worker lost its lease (it expired and another worker took the step): discard the work. */
export class LeaseLostError extends Error {
  constructor(
    readonly jobId: string,
    readonly step: StepName,
  ) {
    super(`lost the lease of ${step} of job ${jobId}`);
    this.name = 'LeaseLostError';
  }
}

/** Delay before automatic attempt `attempt` + 1: exponential from `baseMs`, capped. */
export function backoffMs(attempt: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

/** Whether a failed attempt gets another automatic one. */
export function shouldRetry(error: unknown, attempt: number, maxAttempts: number): boolean {
  return !(error instanceof PermanentStepError) && attempt < maxAttempts;
}

/** Failure text for users: the message only, bounded. */
export function failureText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > 2000 ? `${message.slice(0, 1997)}...` : message;
}
