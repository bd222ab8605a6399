/**
 * Values kept by key, each with the revision (a number that every change to what the values show
 * raises) it was read under; the least recently read go first once their weights pass `capacity`
 * (each value weighs 1 unless `weigh` says otherwise, so a cache of pages can be bounded in rows).
 *
 * An entry answers only while its revision is the current one: a newer revision makes it a miss
 * (and drops it), and a value read under an older revision never replaces one read under a newer.
 * Whoever fills it reads the revision before the data, so an entry never claims a revision newer
 * than what it holds.
 */
export class RevisionCache<V> {
  private readonly entries = new Map<
    string,
    { readonly revision: number; readonly value: V; readonly weight: number }
  >();
  private weight = 0;

  constructor(
    private readonly capacity: number,
    private readonly weigh: (value: V) => number = () => 1,
  ) {}

  get(key: string, revision: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.revision !== revision) {
      if (entry.revision < revision) this.drop(key);
      return undefined;
    }
    // Most recently read last: a Map keeps insertion order, so the first key is the coldest.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, revision: number, value: V): void {
    const present = this.entries.get(key);
    if (present && present.revision > revision) return;
    const weight = this.weigh(value);
    if (weight > this.capacity) return;
    this.drop(key);
    this.entries.set(key, { revision, value, weight });
    this.weight += weight;
    while (this.weight > this.capacity) this.drop(this.entries.keys().next().value as string);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** How many values it holds. */
  get size(): number {
    return this.entries.size;
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.weight -= entry.weight;
  }
}
