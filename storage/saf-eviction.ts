/**
 * Which messages make room for a new one (PROTOCOL.md 9.7: over a bound, that peer's, or for
 * the totals the store's, oldest message goes first; lower priority before that). Both stores
 * walk their rank indexes through this one plan, so they evict the same messages.
 *
 * Rank: (priority, stored_at, id) ascending; the lowest goes first. The new message has the
 * largest id so far, so a stored message ranks below it when its (priority, stored_at) is at
 * most the new one's. Only those may be evicted for it: when the bounds cannot be met that way
 * the new message is the one that goes, i.e. it is refused and nothing is evicted.
 */
import type { SafPriority, SafStoreLimits, SafUsage } from './saf-store.js';

/** A stored message as the rank indexes give it. */
export interface RankedMessage {
  readonly id: number;
  readonly priority: SafPriority;
  readonly storedAt: number;
  readonly bytes: number;
}

/** A message chosen for eviction, and the bound it makes room under. */
export interface EvictionVictim<M extends RankedMessage> {
  readonly message: M;
  readonly bound: 'peer' | 'total';
}

/** What the plan needs: the new message, the usage before it, and the two rank orders (lowest first). */
export interface EvictionInput<M extends RankedMessage> {
  readonly incoming: { readonly priority: SafPriority; readonly storedAt: number; readonly bytes: number };
  readonly limits: SafStoreLimits;
  readonly peer: SafUsage;
  readonly total: SafUsage;
  /** The sending peer's messages, lowest rank first (read lazily: the plan stops early). */
  readonly peerRanked: Iterable<M>;
  /** Every message, lowest rank first. */
  readonly totalRanked: Iterable<M>;
}

/** The victims in eviction order, or undefined when the new message cannot be stored. */
export function planEviction<M extends RankedMessage>(input: EvictionInput<M>): Array<EvictionVictim<M>> | undefined {
  const { incoming, limits } = input;
  const ranksBelow = (m: M) => m.priority < incoming.priority || (m.priority === incoming.priority && m.storedAt <= incoming.storedAt);
  const victims: Array<EvictionVictim<M>> = [];
  const taken = new Set<number>();
  let count = input.peer.count + 1;
  let bytes = input.peer.bytes + incoming.bytes;
  let freedCount = 0;
  let freedBytes = 0;
  const peerOver = () => count > limits.maxMessagesPerPeer || bytes > limits.maxBytesPerPeer;
  if (peerOver()) {
    for (const m of input.peerRanked) {
      if (!ranksBelow(m)) return undefined;
      victims.push({ message: m, bound: 'peer' });
      taken.add(m.id);
      count--;
      bytes -= m.bytes;
      freedCount++;
      freedBytes += m.bytes;
      if (!peerOver()) break;
    }
    if (peerOver()) return undefined;
  }
  count = input.total.count + 1 - freedCount;
  bytes = input.total.bytes + incoming.bytes - freedBytes;
  const totalOver = () => count > limits.maxMessages || bytes > limits.maxBytes;
  if (totalOver()) {
    for (const m of input.totalRanked) {
      if (taken.has(m.id)) continue;
      if (!ranksBelow(m)) return undefined;
      victims.push({ message: m, bound: 'total' });
      count--;
      bytes -= m.bytes;
      if (!totalOver()) break;
    }
    if (totalOver()) return undefined;
  }
  return victims;
}
