interface Entry<V> {
  readonly revision: number;
  readonly value: V;
  readonly weight: number;
  /** Read since it was kept, or since eviction last passed over it. */
  read: boolean;
}

/**
 * Values kept by key, each with the revision (a number that every change to what the values show
 * raises) it was read under. Once their weights pass `capacity` (each value weighs 1 unless `weigh`
 * says otherwise, so a cache of pages can be bounded in rows), the oldest value not read since it
 * was kept or last passed over goes first; one that was read is kept for another round (a second
 * chance, close to least-recently-read order). A read only marks its value: the hottest path, a
 * hit, moves nothing.
 *
 * An entry answers only while its revision is the current one: a newer revision makes it a miss
 * (and drops it), and a value read under an older revision never replaces one read under a newer.
 * Whoever fills it reads the revision before the data, so an entry never claims a revision newer
 * than what it holds.
 */
export class RevisionCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
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
    entry.read = true;
    return entry.value;
  }

  set(key: string, revision: number, value: V): void {
    const present = this.entries.get(key);
    if (present && present.revision > revision) return;
    const weight = this.weigh(value);
    if (weight > this.capacity) return;
    this.drop(key);
    this.entries.set(key, { revision, value, weight, read: false });
    this.weight += weight;
    this.evict(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** How many values it holds. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * A Map keeps insertion order, so the first entry is the oldest. A read one goes to the end
   * unmarked, and so does the value just kept (`kept`: no heavier than the capacity, it is never
   * the one dropped); the first other unread one is dropped. Whatever moves is unmarked, so this
   * ends.
   */
  private evict(kept: string): void {
    while (this.weight > this.capacity) {
      const [key, entry] = this.entries.entries().next().value as [string, Entry<V>];
      if (entry.read || key === kept) {
        entry.read = false;
        this.entries.delete(key);
        this.entries.set(key, entry);
      } else this.drop(key);
    }
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.weight -= entry.weight;
  }
}
