import { UploadProgress, formatBytes, formatDuration, renderBar, renderLine } from './progress';

const MIB = 1024 * 1024;

describe('progress formatting', () => {
  it('formats bytes in binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(10 * MIB)).toBe('10.0 MiB');
  });

  it('formats durations and an unknown ETA', () => {
    expect(formatDuration(4.4)).toBe('4s');
    expect(formatDuration(125)).toBe('2m05s');
    expect(formatDuration(3 * 3600 + 60)).toBe('3h01m');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('--');
  });

  it('draws a bar with percentage, bytes, rate and ETA', () => {
    const bar = renderBar({ label: 'disk', done: 5 * MIB, total: 10 * MIB, rate: MIB }, 10);
    expect(bar).toBe('disk [#####-----]  50%  5.0 MiB / 10.0 MiB  1.0 MiB/s  ETA 5s');
  });

  it('writes a plain line', () => {
    expect(renderLine({ label: 'disk', done: 10 * MIB, total: 10 * MIB, rate: 2 * MIB })).toBe(
      'disk: 10.0 MiB / 10.0 MiB (100%), 2.0 MiB/s, ETA 0s',
    );
  });
});

describe('UploadProgress', () => {
  const sink = (isTTY: boolean) => {
    const writes: string[] = [];
    return { writes, isTTY, write: (t: string) => writes.push(t) };
  };

  it('redraws in place on a terminal', () => {
    let now = 0;
    const out = sink(true);
    const p = new UploadProgress(out, 'f', 100, 0, false, () => now);
    now = 1000;
    p.advance(40);
    p.partDone();
    p.advance(60);
    p.finish();
    expect(out.writes.filter((w) => w.startsWith('\r\x1b[K')).length).toBeGreaterThanOrEqual(2);
    expect(out.writes.at(-1)).toBe('\n');
  });

  it('prints one plain line per part in a pipe and never a carriage return', () => {
    let now = 0;
    const out = sink(false);
    const p = new UploadProgress(out, 'f', 100, 50, false, () => now);
    now = 1000;
    p.advance(25);
    p.partDone();
    p.advance(25);
    p.partDone();
    p.finish();
    expect(out.writes).toEqual([
      'f: 75 B / 100 B (75%), 25 B/s, ETA 1s\n',
      'f: 100 B / 100 B (100%), 50 B/s, ETA 0s\n',
    ]);
  });

  it('is silent when quiet', () => {
    const out = sink(true);
    const p = new UploadProgress(out, 'f', 10, 0, true);
    p.advance(10);
    p.partDone();
    p.finish();
    expect(out.writes).toEqual([]);
  });
});
