/**
 * The broadcast strategies of PROTOCOL.md 9.6 over the connected peers (pure: the peers, the
 * exclusions and a source of randomness go in, the selection comes out). A *node* is a peer with
 * feature bit 0. Self and excluded peers are left out before any selection. DirectPublicKey and
 * Random(n) are not here: the first names its peer, the second draws from the peer store.
 */
import { compareDistance, distance, type NodeId, type PublicKey } from '../../core/keys.js';
import { BROADCAST_PEERS, CLOSEST_NODES_DEFAULT, FEATURE_MESSAGE_PROPAGATION, PROPAGATE_CANDIDATES, PROPAGATE_MAX_PEERS } from '../../protocols/dht/index.js';

/** A connected peer as the strategies see it. */
export interface ConnectedPeer {
  readonly publicKey: PublicKey;
  readonly nodeId: NodeId;
  /** The public key's hex (the key of every table). */
  readonly hex: string;
  /** Its claimed feature bits (bit 0: a node, which forwards). */
  readonly features: number;
}

/**
 * How a message is sent (9.6). `direct`: to the destination alone, dialed if need be. `flood`:
 * every connected node. `broadcast`: 8 random connected nodes. `random`: n random known,
 * unbanned nodes, connected or not. `closest`: the n connected nodes closest to `target` (default
 * the destination). `propagate`: toward the destination (see {@link selectConnected}).
 */
export type DhtStrategy = 'direct' | 'flood' | 'broadcast' | 'propagate' | { kind: 'random'; n: number } | { kind: 'closest'; n?: number; target?: PublicKey };

/** The strategies chosen among connected peers. */
export type ConnectedStrategy = 'flood' | 'broadcast' | 'propagate' | { kind: 'closest'; n: number; target: NodeId };

/** What a selection needs to know. */
export interface Selection {
  /** This node's NodeId (Propagate sends only to nodes closer to the destination than it). */
  readonly self: NodeId;
  readonly connected: Iterable<ConnectedPeer>;
  /** Public keys (hex) left out: the sending peer and the origin when forwarding, and the caller's. */
  readonly exclude: ReadonlySet<string>;
  /** The destination, if any (Propagate's target). */
  readonly destination?: { readonly hex: string; readonly nodeId: NodeId } | undefined;
  /** A random integer in [0, n). */
  readonly random: (n: number) => number;
}

/** Whether a peer is a node (feature bit 0). */
export const isNode = (peer: { features: number }): boolean => (peer.features & FEATURE_MESSAGE_PROPAGATION) !== 0;

/** `n` of `items` drawn at random without repetition (a partial Fisher-Yates). */
export function sample<T>(items: readonly T[], n: number, random: (n: number) => number): T[] {
  const pool = items.slice();
  const k = Math.min(n, pool.length);
  for (let i = 0; i < k; i++) {
    const j = i + random(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, k);
}

/** `peers` sorted by XOR distance to `target`, nearest first. */
export function byDistance<T extends { nodeId: NodeId }>(peers: readonly T[], target: NodeId): T[] {
  return peers
    .map((p) => ({ p, d: distance(p.nodeId, target) }))
    .sort((a, b) => compareDistance(a.d, b.d))
    .map((x) => x.p);
}

/**
 * The peers a strategy selects among the connected ones (9.6):
 * - flood: every connected node; broadcast: 8 random connected nodes;
 * - closest(target, n): the n connected nodes closest to target;
 * - propagate: the destination alone if it is connected (and not excluded); otherwise those of
 *   the 8 connected nodes closest to it that are closer to it than self, at most 4, nearest
 *   first; with no destination, 4 random connected nodes.
 */
export function selectConnected(strategy: ConnectedStrategy, s: Selection): ConnectedPeer[] {
  const eligible: ConnectedPeer[] = [];
  let destinationPeer: ConnectedPeer | undefined;
  for (const p of s.connected) {
    if (s.exclude.has(p.hex)) continue;
    if (s.destination !== undefined && p.hex === s.destination.hex) destinationPeer = p;
    if (isNode(p)) eligible.push(p);
  }
  if (strategy === 'flood') return eligible;
  if (strategy === 'broadcast') return sample(eligible, BROADCAST_PEERS, s.random);
  if (strategy !== 'propagate') return byDistance(eligible, strategy.target).slice(0, strategy.n);
  if (s.destination === undefined) return sample(eligible, PROPAGATE_MAX_PEERS, s.random);
  if (destinationPeer !== undefined) return [destinationPeer];
  const target = s.destination.nodeId;
  const own = distance(s.self, target);
  return byDistance(eligible, target)
    .slice(0, PROPAGATE_CANDIDATES)
    .filter((p) => compareDistance(distance(p.nodeId, target), own) < 0)
    .slice(0, PROPAGATE_MAX_PEERS);
}

/** ClosestNodes' default n (9.6). */
export const DEFAULT_CLOSEST = CLOSEST_NODES_DEFAULT;
