import { claimsMatch } from './oidc-claims';

describe('claimsMatch', () => {
  const payload = {
    repository: 'acme/images',
    ref: 'refs/heads/main',
    run: 42,
    groups: ['ops', 'release'],
  };

  it('needs every condition to match', () => {
    expect(claimsMatch({ repository: 'acme/*', ref: 'refs/heads/main' }, payload)).toBe(true);
    expect(claimsMatch({ repository: 'acme/*', ref: 'refs/tags/*' }, payload)).toBe(false);
  });

  it('matches numbers as text, arrays by any element, and never a missing claim', () => {
    expect(claimsMatch({ run: '4?' }, payload)).toBe(true);
    expect(claimsMatch({ groups: 'release' }, payload)).toBe(true);
    expect(claimsMatch({ groups: 'admin' }, payload)).toBe(false);
    expect(claimsMatch({ environment: '*' }, payload)).toBe(false);
  });

  it('matches everything with no conditions', () => {
    expect(claimsMatch({}, payload)).toBe(true);
  });
});
