import { UsageError } from './command-args';
import { parseGcArgs, previewJson, previewText } from './gc.command';
import { parseTokenIssueArgs, parseTokenRevokeArgs } from './token.command';

describe('maintenance command arguments', () => {
  it('reads gc flags and refuses anything else', () => {
    expect(parseGcArgs([])).toEqual({ dryRun: false, json: false });
    expect(parseGcArgs(['--dry-run', '--json'])).toEqual({ dryRun: true, json: true });
    expect(() => parseGcArgs(['--force'])).toThrow(UsageError);
    expect(() => parseGcArgs(['now'])).toThrow(UsageError);
  });

  it('defaults token issue to auth-manager, no scope change, the bootstrap TTL', () => {
    expect(parseTokenIssueArgs(['--principal', ' ops '])).toEqual({
      principal: 'ops',
      role: 'auth-manager',
      images: null,
      ttlMs: null,
      name: 'issued by token issue',
    });
    expect(
      parseTokenIssueArgs([
        '--principal=ci',
        '--role=reader',
        '--images',
        'debian-*, ubuntu-*,',
        '--ttl',
        '90m',
        '--name',
        'ci token',
      ]),
    ).toEqual({
      principal: 'ci',
      role: 'reader',
      images: ['debian-*', 'ubuntu-*'],
      ttlMs: 90 * 60_000,
      name: 'ci token',
    });
  });

  it.each([
    [[], /--principal/],
    [['--principal', ''], /--principal/],
    [['--principal', 'x'.repeat(201)], /at most 200/],
    [['--principal', 'x', '--role', 'root'], /--role must be one of reader, /],
    [['--principal', 'x', '--images', ' , '], /--images/],
    [['--principal', 'x', '--ttl', '1 hour'], /--ttl/],
    [['--principal', 'x', '--ttl', '0h'], /--ttl/],
    [['--principal', 'x', '--name', ''], /--name/],
    [['--principal', 'x', 'extra'], /Unexpected argument/],
  ])('refuses token issue %j', (argv, message) => {
    expect(() => parseTokenIssueArgs(argv)).toThrow(UsageError);
    expect(() => parseTokenIssueArgs(argv)).toThrow(message);
  });

  it('revokes by token id or by the whole token, nothing else', () => {
    expect(parseTokenRevokeArgs(['k3v9x0q2m8a1b7c4'])).toEqual({ tokenId: 'k3v9x0q2m8a1b7c4' });
    const token = `imgsrv_k3v9x0q2m8a1b7c4_${'a'.repeat(43)}`;
    expect(parseTokenRevokeArgs([token])).toEqual({ tokenId: 'k3v9x0q2m8a1b7c4' });
    expect(() => parseTokenRevokeArgs([])).toThrow(UsageError);
    expect(() => parseTokenRevokeArgs(['K3V9'])).toThrow(/not a token id/);
    expect(() => parseTokenRevokeArgs(['k3v9x0q2m8a1b7c4', 'more'])).toThrow(UsageError);
  });
});

describe('the gc dry-run report', () => {
  const now = Date.parse('2026-11-23T12:00:00Z');
  const preview = {
    graceMs: 86_400_000,
    markDelayMs: 300_000,
    blobs: [
      {
        digest: `sha256:${'a'.repeat(64)}`,
        sizeBytes: 2048,
        lastReferencedAt: new Date('2026-11-20T12:00:00Z'),
        markedAt: null,
        markDue: false,
      },
      {
        digest: `sha256:${'b'.repeat(64)}`,
        sizeBytes: 1000,
        lastReferencedAt: new Date('2026-11-21T10:00:00Z'),
        markedAt: new Date('2026-11-23T11:00:00Z'),
        markDue: true,
      },
    ],
    objects: [
      {
        objectKey: `cas/sha256/cc/cc/${'c'.repeat(64)}`,
        digest: `sha256:${'c'.repeat(64)}`,
        deleteAfter: new Date('2026-11-23T13:00:00Z'),
        due: false,
        sizeBytes: 10,
      },
    ],
  };

  it('says what the next run does with each blob, and the totals', () => {
    const text = previewText(preview, now);
    expect(text).toMatch(/^2 trusted blob\(s\) .*\(1d\): 3\.0 KiB \(3048 bytes\)$/m);
    expect(text).toMatch(
      /a{64} {2}2\.0 KiB \(2048 bytes\) {2}last referenced .* \(3d ago\) .*marks/,
    );
    expect(text).toMatch(/b{64} .*marked 2026-11-23T11:00:00.000Z; the next gc deletes it/);
    expect(text).toMatch(
      /1 object\(s\) .*: 10 bytes\n {2}cas\/sha256\/cc\/cc\/c{64} {2}10 bytes {2}after /,
    );
    expect(text).toMatch(/dry run: nothing was marked or deleted\n$/);
    expect(text).toMatch(/b{64} .*\(2d2h ago\)/);
  });

  it('gives scripts the same facts', () => {
    expect(previewJson(preview, now)).toMatchObject({
      dry_run: true,
      total_bytes: 3048,
      blobs: [
        { next_run: 'mark', age_ms: 3 * 86_400_000, marked_at: null },
        { next_run: 'delete', marked_at: '2026-11-23T11:00:00.000Z' },
      ],
      pending_objects: [{ due: false, size_bytes: 10 }],
      pending_objects_bytes: 10,
    });
  });
});
