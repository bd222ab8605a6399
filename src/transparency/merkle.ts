import { createHash } from 'node:crypto';

/**
 * RFC 6962 / RFC 9162 Merkle trees over SHA-256: leaf hashes, interior hashes, the root of any
 * prefix, inclusion and consistency proofs. Pure: no I/O.
 */

const HASH_SIZE = 32;
const LEAF_PREFIX = Buffer.from([0]);
const NODE_PREFIX = Buffer.from([1]);

/** MTH of the empty tree: SHA-256 of no bytes. */
export const EMPTY_ROOT = createHash('sha256').digest();

export function leafHash(entry: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(entry).digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** The largest power of two strictly below n (n ≥ 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The compact range of a tree: the roots of its perfect subtrees, largest first (one per set
 * bit of the size). Enough to append a leaf and compute the new root without the other leaves.
 */
export function appendToFrontier(
  frontier: readonly Buffer[],
  size: number,
  leaf: Buffer,
): Buffer[] {
  const next = frontier.slice();
  let node = leaf;
  for (let s = size; s & 1; s = Math.floor(s / 2)) node = nodeHash(next.pop() as Buffer, node);
  next.push(node);
  return next;
}

export function frontierRoot(frontier: readonly Buffer[]): Buffer {
  if (frontier.length === 0) return EMPTY_ROOT;
  let root = frontier[frontier.length - 1];
  for (let i = frontier.length - 2; i >= 0; i--) root = nodeHash(frontier[i], root);
  return root;
}

/** Hashes of one level of the tree, packed in one growable buffer. */
class HashRow {
  private bytes = Buffer.alloc(HASH_SIZE * 64);
  length = 0;

  push(hash: Uint8Array): void {
    if ((this.length + 1) * HASH_SIZE > this.bytes.length) {
      const grown = Buffer.alloc(this.bytes.length * 2);
      this.bytes.copy(grown, 0, 0, this.length * HASH_SIZE);
      this.bytes = grown;
    }
    this.bytes.set(hash, this.length * HASH_SIZE);
    this.length++;
  }

  at(i: number): Buffer {
    return this.bytes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  }

  /** `count` hashes from `from`, concatenated (a copy). */
  slice(from: number, count: number): Buffer {
    return Buffer.from(this.bytes.subarray(from * HASH_SIZE, (from + count) * HASH_SIZE));
  }
}

/**
 * An append-only tree that keeps every complete perfect subtree's hash: level h holds the roots
 * of the aligned subtrees of 2^h leaves. Any prefix's root, proof or tile is then a matter of
 * O(log² n) lookups and hashes.
 */
export class MerkleTree {
  private readonly levels: HashRow[] = [new HashRow()];

  get size(): number {
    return this.levels[0].length;
  }

  appendLeafHash(hash: Uint8Array): void {
    if (hash.length !== HASH_SIZE) throw new Error('a leaf hash has 32 bytes');
    this.levels[0].push(hash);
    let index = this.levels[0].length - 1;
    for (let h = 0; index % 2 === 1; h++) {
      const row = this.levels[h];
      if (!this.levels[h + 1]) this.levels.push(new HashRow());
      this.levels[h + 1].push(nodeHash(row.at(index - 1), row.at(index)));
      index = (index - 1) / 2;
    }
  }

  /** The hash of the aligned perfect subtree of 2^height leaves number `index` at that height. */
  subtree(height: number, index: number): Buffer {
    return this.levels[height].at(index);
  }

  /** How many complete subtrees of 2^height leaves the tree holds. */
  completeAt(height: number): number {
    return this.levels[height]?.length ?? 0;
  }

  /** `count` consecutive subtree hashes at a height, concatenated: a tile's bytes. */
  run(height: number, from: number, count: number): Buffer {
    return this.levels[height].slice(from, count);
  }

  /** MTH(D[start:end]); the recursion of RFC 6962 only ever asks for aligned ranges. */
  rangeHash(start: number, end: number): Buffer {
    const n = end - start;
    if (n === 0) return EMPTY_ROOT;
    if ((n & (n - 1)) === 0 && start % n === 0) return this.subtree(Math.log2(n), start / n);
    const k = splitPoint(n);
    return nodeHash(this.rangeHash(start, start + k), this.rangeHash(start + k, end));
  }

  root(size = this.size): Buffer {
    this.checkSize(size);
    return this.rangeHash(0, size);
  }

  /** RFC 6962 §2.1.1 PATH(index, D[0:size]). */
  inclusionProof(index: number, size: number): Buffer[] {
    this.checkSize(size);
    if (!(index >= 0 && index < size)) throw new RangeError('index must be below the tree size');
    const path: Buffer[] = [];
    const walk = (m: number, start: number, end: number): void => {
      const n = end - start;
      if (n === 1) return;
      const k = splitPoint(n);
      if (m < k) {
        walk(m, start, start + k);
        path.push(this.rangeHash(start + k, end));
      } else {
        walk(m - k, start + k, end);
        path.push(this.rangeHash(start, start + k));
      }
    };
    walk(index, 0, size);
    return path;
  }

  /** RFC 6962 §2.1.2 PROOF(from, D[0:to]). */
  consistencyProof(from: number, to: number): Buffer[] {
    this.checkSize(to);
    if (!(from >= 0 && from <= to)) throw new RangeError('from must be at most to');
    if (from === 0 || from === to) return [];
    const proof: Buffer[] = [];
    const sub = (m: number, start: number, end: number, whole: boolean): void => {
      const n = end - start;
      if (m === n) {
        if (!whole) proof.push(this.rangeHash(start, end));
        return;
      }
      const k = splitPoint(n);
      if (m <= k) {
        sub(m, start, start + k, whole);
        proof.push(this.rangeHash(start + k, end));
      } else {
        sub(m - k, start + k, end, false);
        proof.push(this.rangeHash(start, start + k));
      }
    };
    sub(from, 0, to, true);
    return proof;
  }

  private checkSize(size: number): void {
    if (!(Number.isSafeInteger(size) && size >= 0 && size <= this.size))
      throw new RangeError(`tree size ${size} is beyond this tree (${this.size})`);
  }
}

/** Right-shifts fn and sn together while fn is even and not 0 (RFC 9162 §2.1.3.2 step ii). */
function shiftWhileEven(fn: number, sn: number): [number, number] {
  while (fn % 2 === 0 && fn !== 0) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return [fn, sn];
}

/** RFC 9162 §2.1.3.2: whether `path` proves leaf `index` of a tree of `size` with `root`. */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Buffer,
  path: readonly Buffer[],
  root: Buffer,
): boolean {
  if (!(index >= 0 && index < size)) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      [fn, sn] = shiftWhileEven(fn, sn);
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 §2.1.4.2: whether `proof` shows the tree of `size1` is a prefix of the tree of `size2`. */
export function verifyConsistency(
  size1: number,
  size2: number,
  root1: Buffer,
  root2: Buffer,
  proof: readonly Buffer[],
): boolean {
  if (!(size1 >= 0 && size1 <= size2)) return false;
  if (size1 === size2) return proof.length === 0 && root1.equals(root2);
  if (size1 === 0) return proof.length === 0;
  if (proof.length === 0) return false;
  const path = (size1 & (size1 - 1)) === 0 ? [root1, ...proof] : proof;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      [fn, sn] = shiftWhileEven(fn, sn);
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return fr.equals(root1) && sr.equals(root2) && sn === 0;
}
