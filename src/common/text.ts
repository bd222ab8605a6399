/** A lone UTF-16 surrogate (JSON's \ud800 escapes make them): no UTF-8 can encode it. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Why a text cannot be stored, or null when it can: PostgreSQL text holds neither NUL nor a lone
 * surrogate, and a query given either fails inside the database instead of at the door.
 */
export function unstorableText(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain NUL (U+0000)';
  if (LONE_SURROGATE.test(text)) return 'must be valid Unicode (a lone surrogate is not)';
  return null;
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** A byte count for people: `512 B`, `1.5 KiB`, `300.0 MiB` (binary units, one decimal). */
export function formatBinaryBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${BINARY_UNITS[unit]}`;
}
