/**
 * C2SP tlog-tiles paths: `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`, where N is written
 * in zero-padded three-digit groups, all but the last prefixed with `x` (1234067 → x001/x234/067).
 */

export const TILE_WIDTH = 256;
export const TILE_HEIGHT = 8;

export interface TileRef {
  /** Hash level (0–63), or 'entries' for an entry bundle. */
  readonly level: number | 'entries';
  readonly index: number;
  /** 256 for a full tile, 1–255 for a partial one. */
  readonly width: number;
}

export function tileIndexPath(index: number): string {
  const groups: string[] = [];
  let n = index;
  do {
    groups.unshift(String(n % 1000).padStart(3, '0'));
    n = Math.floor(n / 1000);
  } while (n > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

export function tilePath(ref: TileRef): string {
  const partial = ref.width < TILE_WIDTH ? `.p/${ref.width}` : '';
  return `tile/${ref.level}/${tileIndexPath(ref.index)}${partial}`;
}

/** The tile a path (after `tile/`) names, or null when it is not a well-formed tile path. */
export function parseTilePath(path: string): TileRef | null {
  const parts = path.split('/');
  if (parts.length < 2) return null;
  const levelPart = parts[0];
  let level: number | 'entries';
  if (levelPart === 'entries') level = 'entries';
  else if (/^(0|[1-9][0-9]?)$/u.test(levelPart) && Number(levelPart) <= 63)
    level = Number(levelPart);
  else return null;
  let rest = parts.slice(1);
  let width = TILE_WIDTH;
  const last = rest[rest.length - 1];
  if (rest.length >= 2 && rest[rest.length - 2].endsWith('.p')) {
    if (!/^[1-9][0-9]{0,2}$/u.test(last) || Number(last) > 255) return null;
    width = Number(last);
    rest = rest.slice(0, -1);
    rest[rest.length - 1] = rest[rest.length - 1].slice(0, -2);
  }
  let index = 0;
  for (const [i, group] of rest.entries()) {
    const isLast = i === rest.length - 1;
    const match = (isLast ? /^([0-9]{3})$/u : /^x([0-9]{3})$/u).exec(group);
    if (!match) return null;
    index = index * 1000 + Number(match[1]);
  }
  if (!Number.isSafeInteger(index)) return null;
  // One spelling per index: no leading x000 groups.
  if (tileIndexPath(index) !== rest.join('/')) return null;
  return { level, index, width };
}
