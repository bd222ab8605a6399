/**
 * Upload progress for one file: on a terminal a bar redrawn in place (`\r`), elsewhere (a pipe, a
 * CI log) one plain line per finished part. Formatting is pure and unit-tested; the clock and the
 * stream are given.
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export interface ProgressSnapshot {
  readonly label: string;
  readonly done: number;
  readonly total: number;
  /** Bytes per second since the start (bytes skipped by a resume do not count). */
  readonly rate: number;
}

export function etaSeconds(s: ProgressSnapshot): number {
  if (s.done >= s.total) return 0;
  return s.rate > 0 ? (s.total - s.done) / s.rate : Number.POSITIVE_INFINITY;
}

/** `label [#####-----]  42%  10.0 MiB / 24.0 MiB  5.0 MiB/s  ETA 3s` */
export function renderBar(s: ProgressSnapshot, width = 24): string {
  const ratio = s.total > 0 ? Math.min(1, s.done / s.total) : 1;
  const filled = Math.round(ratio * width);
  const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
  return `${s.label} [${bar}] ${String(Math.floor(ratio * 100)).padStart(3)}%  ${progressFacts(s)}`;
}

/** `label: 10.0 MiB / 24.0 MiB (41%), 5.0 MiB/s, ETA 3s` */
export function renderLine(s: ProgressSnapshot): string {
  const ratio = s.total > 0 ? Math.min(1, s.done / s.total) : 1;
  return `${s.label}: ${formatBytes(s.done)} / ${formatBytes(s.total)} (${Math.floor(ratio * 100)}%), ${formatBytes(Math.round(s.rate))}/s, ETA ${formatDuration(etaSeconds(s))}`;
}

function progressFacts(s: ProgressSnapshot): string {
  return `${formatBytes(s.done)} / ${formatBytes(s.total)}  ${formatBytes(Math.round(s.rate))}/s  ETA ${formatDuration(etaSeconds(s))}`;
}

export interface ProgressSink {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/** Tracks the bytes of one upload and shows them on `out`. Silent when `quiet`. */
export class UploadProgress {
  private done: number;
  private sent = 0;
  private readonly started: number;
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly out: ProgressSink,
    private readonly label: string,
    private readonly total: number,
    already: number,
    private readonly quiet = false,
    private readonly now: () => number = Date.now,
  ) {
    this.done = already;
    this.started = now();
  }

  snapshot(): ProgressSnapshot {
    const seconds = (this.now() - this.started) / 1000;
    return {
      label: this.label,
      done: this.done,
      total: this.total,
      rate: seconds > 0 ? this.sent / seconds : 0,
    };
  }

  /** Bytes went out: a terminal redraws (at most ten times a second). */
  advance(bytes: number): void {
    this.done += bytes;
    this.sent += bytes;
    if (this.quiet || !this.out.isTTY) return;
    const t = this.now();
    if (t - this.lastDraw >= 100) this.draw(t);
  }

  /** A part is on the server; a terminal just redraws, a pipe gets a line. */
  partDone(): void {
    if (this.quiet) return;
    if (this.out.isTTY) return this.draw(this.now());
    this.drawn = true;
    this.out.write(`${renderLine(this.snapshot())}\n`);
  }

  /** A part failed and is sent again: its bytes no longer count. */
  rewind(bytes: number): void {
    this.done -= bytes;
    this.sent -= bytes;
  }

  finish(): void {
    if (this.quiet) return;
    if (this.out.isTTY) {
      this.draw(this.now());
      this.out.write('\n');
    } else if (!this.drawn) {
      this.out.write(`${renderLine(this.snapshot())}\n`);
    }
  }

  private draw(t: number): void {
    this.lastDraw = t;
    this.drawn = true;
    // Carriage return and erase-line: the bar is redrawn in place.
    this.out.write(`\r\x1b[K${renderBar(this.snapshot())}`);
  }
}
