import {
  imageNameFor,
  nextRun,
  parseSchedule,
  readerFilter,
  templateProblems,
} from './remote-fields';
import type { ImportVersion } from '../simplestreams/reader';

const v = (over: Partial<ImportVersion> = {}): ImportVersion => ({
  product: 'debian:12:amd64:default',
  image: 'debian-12',
  version: '20261201_05:24',
  os: 'Debian',
  release: '12',
  arch: 'amd64',
  variant: 'default',
  aliases: [],
  artifacts: [],
  skipped: [],
  ...over,
});

describe('remote fields', () => {
  it('names images by the template, in the image name alphabet', () => {
    expect(imageNameFor('{os}-{release}', v(), 'lxc')).toBe('debian-12');
    expect(imageNameFor('{os}', v(), 'lxc')).toBe('debian');
    expect(
      imageNameFor(
        '{remote}-{os}-{release}-{variant}-{arch}',
        v({ release: 'Bookworm Beta' }),
        'lxc',
      ),
    ).toBe('lxc-debian-bookworm-beta-default-amd64');
  });

  it('refuses unknown placeholders and empty templates', () => {
    expect(templateProblems('{os}-{release}')).toEqual([]);
    expect(templateProblems('{os}-{serial}')[0].detail).toMatch(/\{serial\} is not a placeholder/);
    expect(templateProblems('--')[0].detail).toMatch(/name something/);
  });

  it('turns filters into the reader’s, and refuses a value the reader cannot take', () => {
    expect(
      readerFilter({ os: 'Debian', architecture: 'x86_64', type: 'vm', alias: 'debian/1*' }),
    ).toEqual({
      os: 'debian',
      arch: 'x86_64',
      type: 'vm',
      alias: 'debian/1*',
    });
    expect(() => readerFilter({ os: 'a,b' })).toThrow(/","/);
    expect(() => readerFilter({ type: 'lxc' })).toThrow(/container, virtual-machine or vm/);
  });

  it('reads five-field cron schedules in UTC', () => {
    const next = nextRun('30 4 * * *', new Date('2026-12-06T05:00:00Z'));
    expect(next?.toISOString()).toBe('2026-12-07T04:30:00.000Z');
    expect(nextRun(null, new Date())).toBeNull();
    expect(() => parseSchedule('@daily')).toThrow(/five fields/);
    expect(() => parseSchedule('61 * * * *')).toThrow();
    expect(() => parseSchedule('* * * * * *')).toThrow(/five fields/);
  });
});
