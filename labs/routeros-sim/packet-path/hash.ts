/**
 * Deterministic hashing for the classifiers RouterOS implements with kernel hashes (PCC, ECMP path
 * choice). The exact kernel hash is not reproduced; what matters for the model is that one flow (or one
 * address) always lands in the same bucket and that buckets fill roughly evenly.
 */

/** FNV-1a over the string, finished with the murmur3 avalanche so low bits are usable for `% n`. */
export function hash32(input: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < input.length; i++) {
    h ^= input.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
