import { globMatches } from './image-glob';
import { Principal } from './principal';

const via = { type: 'api_token' as const, id: 'x' };

describe('Principal.can', () => {
  it('allows an image-bound action only where a grant scope matches the image', () => {
    const p = new Principal(
      'p',
      'service',
      'ci',
      [{ roleId: 'content-writer', images: ['debian-*'] }],
      via,
    );
    expect(p.can('content.write', 'debian-12')).toBe(true);
    expect(p.can('content.write', 'ubuntu-24.04')).toBe(false);
    expect(p.can('content.write')).toBe(true);
    expect(p.can('auth.manage')).toBe(false);
    expect(p.can('webhook.manage')).toBe(false);
  });

  it('combines grants, and ignores scopes for actions that are not image-bound', () => {
    const p = new Principal(
      'p',
      'user',
      'ops',
      [
        { roleId: 'reader', images: ['*'] },
        { roleId: 'auth-manager', images: ['nothing-matches'] },
      ],
      via,
    );
    expect(p.can('content.read', 'anything')).toBe(true);
    expect(p.can('content.publish', 'anything')).toBe(false);
    expect(p.can('auth.manage')).toBe(true);
    expect(p.can('audit.read')).toBe(true);
    expect(p.can('webhook.manage')).toBe(true);
  });

  it('allows nothing without grants', () => {
    expect(new Principal('p', 'service', 'x', [], via).can('content.read')).toBe(false);
  });
});

describe('globMatches', () => {
  it.each([
    ['*', 'debian-12', true],
    ['debian-*', 'debian-12', true],
    ['debian-*', 'debian', false],
    ['debian-?', 'debian-9', true],
    ['debian-?', 'debian-12', false],
    ['a.b', 'axb', false],
    ['ubuntu-24.04', 'ubuntu-24.04', true],
  ])('%s against %s is %s', (pattern, value, expected) => {
    expect(globMatches(pattern, value)).toBe(expected);
  });
});
