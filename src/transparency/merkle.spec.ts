import { createHash } from 'node:crypto';
import {
  appendToFrontier,
  frontierRoot,
  leafHash,
  MerkleTree,
  EMPTY_ROOT,
  verifyConsistency,
  verifyInclusion,
} from './merkle';

// The definition of RFC 6962 §2.1, written out directly, to check the tree's shortcuts against.
const sha = (...b: Uint8Array[]) => b.reduce((h, x) => h.update(x), createHash('sha256')).digest();
function mth(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return sha();
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha(Buffer.from([1]), mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

describe('MerkleTree', () => {
  const leaves = Array.from({ length: 700 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
  const tree = new MerkleTree();
  let frontier: Buffer[] = [];
  for (const [i, leaf] of leaves.entries()) {
    tree.appendLeafHash(leaf);
    frontier = appendToFrontier(frontier, i, leaf);
  }

  it('hashes leaves and the empty tree as RFC 6962 does', () => {
    expect(leafHash(Buffer.from('x')).equals(sha(Buffer.from([0]), Buffer.from('x')))).toBe(true);
    expect(EMPTY_ROOT.equals(sha())).toBe(true);
    expect(new MerkleTree().root(0).equals(sha())).toBe(true);
  });

  it('gives the root of every prefix, and the compact range agrees', () => {
    let f: Buffer[] = [];
    for (const size of [1, 2, 3, 4, 5, 7, 8, 9, 255, 256, 257, 511, 512, 700]) {
      expect(tree.root(size).toString('hex')).toBe(mth(leaves.slice(0, size)).toString('hex'));
    }
    for (let i = 0; i < 70; i++) {
      f = appendToFrontier(f, i, leaves[i]);
      expect(frontierRoot(f).equals(mth(leaves.slice(0, i + 1)))).toBe(true);
    }
    expect(frontierRoot(frontier).equals(mth(leaves))).toBe(true);
  });

  it('keeps the hashes a level-1 tile is made of', () => {
    // Level 1 of tlog-tiles is height 8: each hash is MTH of 256 consecutive leaves.
    expect(tree.completeAt(8)).toBe(2);
    const tile = tree.run(8, 0, 2);
    expect(tile.subarray(0, 32).equals(mth(leaves.slice(0, 256)))).toBe(true);
    expect(tile.subarray(32, 64).equals(mth(leaves.slice(256, 512)))).toBe(true);
    expect(tree.run(0, 3, 2).equals(Buffer.concat([leaves[3], leaves[4]]))).toBe(true);
  });

  it('refuses sizes and indices outside the tree', () => {
    expect(() => tree.root(701)).toThrow(RangeError);
    expect(() => tree.inclusionProof(5, 5)).toThrow(RangeError);
    expect(() => tree.consistencyProof(6, 5)).toThrow(RangeError);
  });

  it('matches the proofs RFC 6962 §2.1.3 gives for its example tree of 7 leaves', () => {
    // The RFC's figure: d0..d6; the path of d0 in the 7-leaf tree is [b, h, l] = leaf 1, MTH(2..3), MTH(4..6).
    const seven = leaves.slice(0, 7);
    expect(tree.inclusionProof(0, 7).map((h) => h.toString('hex'))).toEqual(
      [seven[1], mth(seven.slice(2, 4)), mth(seven.slice(4, 7))].map((h) => h.toString('hex')),
    );
    // PROOF(3, D[7]) = [c, d, g, l]
    expect(tree.consistencyProof(3, 7).map((h) => h.toString('hex'))).toEqual(
      [seven[2], seven[3], mth(seven.slice(0, 2)), mth(seven.slice(4, 7))].map((h) =>
        h.toString('hex'),
      ),
    );
    // PROOF(4, D[7]) = [l]; PROOF(6, D[7]) = [i, j, k] with i = MTH(d4, d5), j = d6, k = MTH(d0..d3)
    expect(tree.consistencyProof(4, 7).map((h) => h.toString('hex'))).toEqual([
      mth(seven.slice(4, 7)).toString('hex'),
    ]);
    expect(tree.consistencyProof(6, 7).map((h) => h.toString('hex'))).toEqual(
      [mth(seven.slice(4, 6)), seven[6], mth(seven.slice(0, 4))].map((h) => h.toString('hex')),
    );
  });

  it('verifies its own proofs for every index and size up to 70, and nothing else', () => {
    for (let size = 1; size <= 70; size++) {
      const root = tree.root(size);
      for (let index = 0; index < size; index++) {
        const path = tree.inclusionProof(index, size);
        expect(verifyInclusion(index, size, leaves[index], path, root)).toBe(true);
        expect(verifyInclusion(index, size, leaves[index + 1], path, root)).toBe(false);
        if (size > 1)
          expect(verifyInclusion((index + 1) % size, size, leaves[index], path, root)).toBe(false);
      }
      for (let from = 0; from <= size; from++) {
        const proof = tree.consistencyProof(from, size);
        expect(verifyConsistency(from, size, tree.root(from), root, proof)).toBe(true);
        if (from > 0 && from < size) {
          const other = leafHash(Buffer.from('forged'));
          expect(verifyConsistency(from, size, other, root, proof)).toBe(false);
          expect(verifyConsistency(from, size, tree.root(from), other, proof)).toBe(false);
        }
      }
    }
    expect(verifyConsistency(5, 4, tree.root(5), tree.root(4), [])).toBe(false);
    expect(verifyInclusion(3, 3, leaves[3], [], tree.root(3))).toBe(false);
  });
});
