import { setTimeout as sleep } from 'node:timers/promises';
import type { Schemas } from './client/api-client';
import { call } from './api';
import type { CliContext } from './context';

type Job = Schemas['PublishJobResponseDto'];

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

/**
 * One step's line. A step queued again after a failed attempt reads `retrying` with the attempt
 * to come, so the output never looks as if the job went back to the start.
 */
export function stepLine(step: Job['steps'][number]): string {
  const retrying = step.state === 'queued' && step.attempt_count > 0;
  const label = retrying ? 'retrying' : step.state;
  const attempt = retrying ? step.attempt_count + 1 : step.attempt_count;
  const attempts = attempt > 1 ? ` (attempt ${attempt})` : '';
  const why = step.failure_message ? `: ${step.failure_message}` : '';
  return `  ${label.padEnd(9)} ${step.name}${attempts}${why}`;
}

/**
 * Follows a publish job until it finishes. On a terminal the step lines are redrawn in place;
 * elsewhere each change of a step prints one line.
 */
export async function watchJob(ctx: CliContext, jobId: string): Promise<Job> {
  const tty = Boolean(ctx.stderr.isTTY) && !ctx.quiet;
  const seen = new Map<string, string>();
  let drawn = 0;
  let headed = false;
  for (;;) {
    const job = await call<Job>(
      `reading publish job ${jobId}`,
      ctx.client.GET('/v1/publish-jobs/{job_id}', { params: { path: { job_id: jobId } } }),
    );
    if (!ctx.quiet) {
      if (!headed) {
        ctx.stderr.write(`publish job ${job.id} (${job.image_name} ${job.version})\n`);
        headed = true;
      }
      const steps = [...job.steps].sort((a, b) => a.sequence - b.sequence);
      if (tty) {
        if (drawn) ctx.stderr.write(`\x1b[${drawn}A`);
        for (const s of steps) ctx.stderr.write(`\r\x1b[K${stepLine(s)}\n`);
        drawn = steps.length;
      } else {
        for (const s of steps) {
          const line = stepLine(s);
          if (seen.get(s.name) !== line) ctx.stderr.write(`${line}\n`);
          seen.set(s.name, line);
        }
      }
    }
    if (FINISHED.has(job.state)) return job;
    await sleep(300);
  }
}
