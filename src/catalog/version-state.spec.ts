import {
  canMove,
  isEditable,
  isServed,
  VERSION_STATES,
  VERSION_TRANSITIONS,
  type VersionState,
  wasPublished,
} from './version-state';

describe('version lifecycle', () => {
  const allowed = new Set([
    'draft>publishing',
    'publishing>published',
    'publishing>draft',
    'published>withdrawn',
  ]);

  it.each(VERSION_STATES.flatMap((from) => VERSION_STATES.map((to) => [from, to] as const)))(
    'moves from %s to %s only if the lifecycle allows it',
    (from: VersionState, to: VersionState) => {
      expect(canMove(from, to)).toBe(allowed.has(`${from}>${to}`));
    },
  );

  it('names every allowed move once', () => {
    expect(
      Object.values(VERSION_TRANSITIONS)
        .map((t) => `${t.from}>${t.to}`)
        .sort(),
    ).toEqual([...allowed].sort());
  });

  it('moves a published version only to withdrawn, and a withdrawn one never', () => {
    expect(VERSION_STATES.filter((to) => canMove('published', to))).toEqual(['withdrawn']);
    for (const to of VERSION_STATES) expect(canMove('withdrawn', to)).toBe(false);
  });

  it('edits drafts only and serves published versions only', () => {
    expect(VERSION_STATES.filter(isEditable)).toEqual(['draft']);
    expect(VERSION_STATES.filter(isServed)).toEqual(['published']);
    expect(VERSION_STATES.filter(wasPublished)).toEqual(['published', 'withdrawn']);
  });
});
