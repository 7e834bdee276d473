/**
 * Closest-N by XOR distance over a store kept sorted by NodeId, without scanning the table.
 *
 * Every key sharing the first p bits with the target is closer than every key that does not, and
 * those keys are one contiguous range of the sorted order. So the walk visits, for p = 104, 103,
 * ..., 0, the "sibling" range (first p bits equal, bit p different), each farther than all the
 * ones before; it stops after the first range that brings the eligible count to n, then sorts
 * what it collected. For uniformly spread ids it reads about 2n entries (plus the ineligible ones).
 */
import { compareDistance, distance, NODE_ID_LENGTH, type NodeId } from '../core/keys.js';

/** Reads the entries whose NodeId is in [start, end] (inclusive), in order. */
export type RangeScan<T> = (start: Uint8Array, end: Uint8Array) => Iterable<{ nodeId: NodeId; value: T }>;

const BITS = NODE_ID_LENGTH * 8;

/** The range of ids that share the first `p` bits with `target` and differ at bit `p`. */
export function siblingRange(target: Uint8Array, p: number): [Uint8Array, Uint8Array] {
  const start = new Uint8Array(NODE_ID_LENGTH);
  const end = new Uint8Array(NODE_ID_LENGTH);
  for (let bit = 0; bit < BITS; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    const t = (target[byte]! & mask) !== 0;
    let s: boolean;
    let e: boolean;
    if (bit < p) s = e = t;
    else if (bit === p) s = e = !t;
    else {
      s = false;
      e = true;
    }
    if (s) start[byte]! |= mask;
    if (e) end[byte]! |= mask;
  }
  return [start, end];
}

/** The `n` eligible entries closest to `target`, nearest first. */
export function closestByPrefix<T>(target: NodeId, n: number, scan: RangeScan<T>, eligible: (value: T, nodeId: NodeId) => boolean): T[] {
  if (n <= 0) return [];
  const found: Array<{ nodeId: NodeId; value: T }> = [];
  const take = (start: Uint8Array, end: Uint8Array) => {
    for (const entry of scan(start, end)) if (eligible(entry.value, entry.nodeId)) found.push(entry);
  };
  take(target, target);
  for (let p = BITS - 1; p >= 0 && found.length < n; p--) take(...siblingRange(target, p));
  return found
    .map((e) => ({ e, d: distance(target, e.nodeId) }))
    .sort((a, b) => compareDistance(a.d, b.d))
    .slice(0, n)
    .map((x) => x.e.value);
}
