import { Principal, type Grant } from './principal';
import { scopeGlobs, scopeKey, scopePatterns } from './scope';

const principal = (grants: Grant[]) =>
  new Principal('p', 'service', 'p', grants, { type: 'api_token', id: 't' });

describe('scope', () => {
  const writer = principal([
    { roleId: 'content-writer', images: ['debian-*', 'alpine'] },
    { roleId: 'reader', images: ['ubuntu-*', 'alpine'] },
    { roleId: 'auth-manager', images: ['*'] },
  ]);

  it('takes the patterns of the grants whose role has the action', () => {
    expect(scopeGlobs(writer, 'content.write')).toEqual(['debian-*', 'alpine']);
    expect(scopeGlobs(writer, 'content.read')).toEqual([
      'debian-*',
      'alpine',
      'ubuntu-*',
      'alpine',
    ]);
    expect(scopeGlobs(null, 'content.read')).toEqual([]);
  });

  it('gives the same scope as regular expressions for PostgreSQL', () => {
    const patterns = scopePatterns(writer, 'content.write').map((p) => new RegExp(p));
    expect(patterns.some((p) => p.test('debian-12'))).toBe(true);
    expect(patterns.some((p) => p.test('ubuntu-24'))).toBe(false);
  });

  it('keys equal scopes alike, and every-image scopes as *', () => {
    const same = principal([{ roleId: 'reader', images: ['alpine', 'ubuntu-*', 'debian-*'] }]);
    expect(scopeKey(writer, 'content.read')).toBe(scopeKey(same, 'content.read'));
    expect(scopeKey(principal([{ roleId: 'reader', images: ['x', '*'] }]), 'content.read')).toBe(
      '*',
    );
    expect(scopeKey(null, 'content.read')).toBe('');
  });
});
