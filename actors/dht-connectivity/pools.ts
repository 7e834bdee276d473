/**
 * The neighbour and random pools as plain data, and the pure rules the DHT connectivity machine
 * applies to them: who joins a pool, when a member is dialled again, when it is replaced, which
 * connections minimizing closes. Pools are small (12 members by default): arrays, copied on change.
 */
import { toHex } from '../../core/bytes.js';
import { compareDistance, distance, type NodeId, type PublicKey } from '../../core/keys.js';
import type { PMap } from '../../core/pmap.js';
import { FEATURE_MESSAGE_PROPAGATION, isOffline, type Peer } from '../../storage/peer.js';
import { byDistance } from '../dht/strategies.js';
import type { DhtConnectivityConfig } from './dht-connectivity-config.js';

/** A peer as the pools see it. */
export interface PoolPeer {
  publicKey: PublicKey;
  nodeId: NodeId;
  /** The public key's hex. */
  hex: string;
  /** Claimed features (bit 0: a node). */
  features: number;
}

/** A member of a pool and where its connection stands. */
export interface PoolMember extends PoolPeer {
  /** Failed dials and short-lived connections in a row. */
  failures: number;
  /** Re-dial ticks left before it is dialled again; undefined: no re-dial is waiting. */
  waitTicks: number | undefined;
  /** A dial of ours is in flight. */
  dialing: boolean;
  /** Its connection outlived a check: losing it starts the failure count afresh. */
  stable: boolean;
}

/** Which pool. */
export type PoolName = 'neighbours' | 'random';

/** A choice of candidates from the peer store (the `selectPools` effect's output). */
export interface PoolSelection {
  /** The nodes closest to this node, nearest first. */
  neighbours: PoolPeer[];
  /** Random nodes, none of them among `neighbours`. */
  random: PoolPeer[];
}

/** What a selection does: `fill` keeps the members and tops the pools up; `full` chooses both afresh (the 2-hour refresh). */
export type SelectionMode = 'fill' | 'full';

/** A peer as the pools see it, from anything with a key, a NodeId and features. */
export const poolPeer = (p: { publicKey: PublicKey; nodeId: NodeId; features: number }): PoolPeer => ({ publicKey: p.publicKey, nodeId: p.nodeId, hex: toHex(p.publicKey), features: p.features });

/** A new member. */
export const newMember = (p: PoolPeer): PoolMember => ({ ...poolPeer(p), failures: 0, waitTicks: undefined, dialing: false, stable: false });

/** Whether a peer is a node (feature bit 0), which pools take; others are clients. */
export const isNode = (p: { features: number }): boolean => (p.features & FEATURE_MESSAGE_PROPAGATION) !== 0;

/**
 * Whether a stored peer's update can change what the pools choose: its features changed (a seed
 * added by address learns them from its claim), it was deleted and is back, or it was offline
 * (every address failed) and an address it gained makes it dialable again. Anything else (a claim
 * seen again, an address seen again) leaves every choice as it was.
 */
export function updateMatters(before: Peer, after: Peer): boolean {
  return before.features !== after.features || before.deletedAt !== undefined || (isOffline(before) && !isOffline(after));
}

/**
 * Re-dial ticks (of `redialBackoffMs` each) before the next dial of a member that failed
 * `failures` times in a row: 1, 2, 4, ... up to `maxRedialBackoffMs`.
 */
export function redialTicks(failures: number, c: Pick<DhtConnectivityConfig, 'redialBackoffMs' | 'maxRedialBackoffMs'>): number {
  const most = Math.max(1, Math.floor(c.maxRedialBackoffMs / c.redialBackoffMs));
  return Math.min(2 ** Math.max(0, Math.min(failures - 1, 30)), most);
}

/** Whether `a` is closer to `self` than `b`. */
export const closer = (self: NodeId, a: NodeId, b: NodeId): boolean => compareDistance(distance(a, self), distance(b, self)) < 0;

/**
 * The distance bucket of `other` from `self`: the index of the highest set bit of their XOR
 * distance (0 .. 103, the farthest half of the id space being 103), -1 for `self` itself. Every
 * node in `self`'s bucket b of a destination (the bucket of the destination itself) is closer to
 * the destination than `self`: their distance to it is below 2^b.
 */
export function bucketOf(self: NodeId, other: NodeId): number {
  const d = distance(self, other);
  for (let i = 0; i < d.length; i++) {
    const byte = d[i]!;
    if (byte !== 0) return (d.length - i) * 8 - (Math.clz32(byte) - 24) - 1;
  }
  return -1;
}

/**
 * The random pool's choice (9.9: `n` random nodes) among `candidates` (random known nodes, no
 * neighbour among them), spread over distance: first one node of each bucket (see
 * {@link bucketOf}) farther than `beyond` (the farthest neighbour's bucket), the buckets taken in
 * random order, each node at random within its bucket; then the other candidates at random.
 *
 * Why: 9.6's Propagate forwards only to connected nodes closer to the destination than the
 * forwarder, so a node is a dead end for every destination in a bucket where it holds no
 * connection, and 9.7 stores a message only near its destination: a message that reached a dead
 * end outside that region was neither forwarded nor stored (memorynet lost one in a few runs,
 * stuck at a node whose 4 uniformly random members all lay in other buckets). The neighbours
 * hold the buckets up to `beyond`; one member in each farther one (there are about
 * log2(network / neighbours) of them: 4 cover 128 nodes) leaves no dead end short of the nodes
 * nearest the destination.
 */
export function spreadOverBuckets<T extends { nodeId: NodeId }>(self: NodeId, candidates: readonly T[], n: number, beyond: number, random: (n: number) => number): T[] {
  const byBucket = new Map<number, T[]>();
  for (const c of candidates) {
    const b = bucketOf(self, c.nodeId);
    if (b < 0) continue;
    const list = byBucket.get(b);
    if (list) list.push(c);
    else byBucket.set(b, [c]);
  }
  const far = [...byBucket.keys()].filter((b) => b > beyond);
  const chosen: T[] = [];
  const taken = new Set<T>();
  for (const b of drawn(far, far.length, random)) {
    if (chosen.length >= n) break;
    const pick = byBucket.get(b)![random(byBucket.get(b)!.length)]!;
    chosen.push(pick);
    taken.add(pick);
  }
  const rest = candidates.filter((c) => !taken.has(c) && bucketOf(self, c.nodeId) >= 0);
  chosen.push(...drawn(rest, n - chosen.length, random));
  return chosen;
}

/** `k` of `items` drawn at random without repetition (a partial Fisher-Yates). */
function drawn<T>(items: readonly T[], k: number, random: (n: number) => number): T[] {
  const pool = items.slice();
  const m = Math.max(0, Math.min(k, pool.length));
  for (let i = 0; i < m; i++) {
    const j = i + random(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, m);
}

/** Whether `peer` belongs in the neighbour pool: room left, or closer than its farthest member. */
export function wantsNeighbour(pool: readonly PoolMember[], peer: PoolPeer, self: NodeId, n: number): boolean {
  if (n === 0 || pool.some((m) => m.hex === peer.hex)) return false;
  return pool.length < n || closer(self, peer.nodeId, pool[pool.length - 1]!.nodeId);
}

/** The member records of `chosen`, the current ones kept for the peers already in `current`. */
function keep(chosen: readonly PoolPeer[], current: ReadonlyMap<string, PoolMember>): PoolMember[] {
  return chosen.map((p) => current.get(p.hex) ?? newMember(p));
}

/**
 * The pools after a selection: the neighbour pool is the closest of those chosen and its members
 * (one that joined while the store was being asked stays; members kept keep their records); the
 * random pool is chosen afresh (`full`) or keeps its members that are not neighbours now and
 * takes new ones up to `numRandom` (`fill`).
 */
export function applySelection(
  pools: { neighbours: readonly PoolMember[]; random: readonly PoolMember[] },
  selection: PoolSelection,
  mode: SelectionMode,
  c: Pick<DhtConnectivityConfig, 'numNeighbours' | 'numRandom'>,
  self: NodeId,
): { neighbours: PoolMember[]; random: PoolMember[] } {
  const current = new Map([...pools.neighbours, ...pools.random].map((m) => [m.hex, m]));
  const candidates = new Map<string, PoolPeer>([...pools.neighbours, ...selection.neighbours].map((p) => [p.hex, p]));
  const neighbours = keep(byDistance([...candidates.values()], self).slice(0, c.numNeighbours), current);
  const taken = new Set(neighbours.map((m) => m.hex));
  const random: PoolMember[] = mode === 'fill' ? pools.random.filter((m) => !taken.has(m.hex)) : [];
  for (const m of random) taken.add(m.hex);
  for (const p of selection.random) {
    if (random.length >= c.numRandom) break;
    if (taken.has(p.hex)) continue;
    taken.add(p.hex);
    random.push(current.get(p.hex) ?? newMember(p));
  }
  return { neighbours, random };
}

/** Whether two pools hold the same peers in the same order. */
export const samePool = (a: readonly PoolMember[], b: readonly PoolMember[]): boolean => a.length === b.length && a.every((m, i) => m.hex === b[i]!.hex);

/** A connection as minimizing sees it. */
export interface ConnectionEntry extends PoolPeer {
  direction: 'inbound' | 'outbound';
}

/**
 * The connections minimizing closes (pure): above `threshold` connections, those this node dialled
 * to peers in no pool, never an exempt one (allow-listed, or kept open by another component),
 * clients only when `minimizeClients`; the
 * farthest from this node first, down to the threshold. An inbound connection is never closed: its
 * dialler keeps it (a node that chose this one for its pools) or minimizes it itself, so closing
 * it here would only fight the other node's pools (it re-dials, and replaces this node after
 * enough losses: churn measured in memorynet, where pools of 100 nodes never settled).
 */
export function minimizeCandidates(
  connections: PMap<ConnectionEntry>,
  inPool: ReadonlySet<string>,
  exempt: { has(hex: string): boolean },
  self: NodeId,
  c: Pick<DhtConnectivityConfig, 'minimizeThreshold' | 'minimizeClients'>,
): ConnectionEntry[] {
  const excess = connections.size - c.minimizeThreshold;
  if (excess <= 0) return [];
  const extras = [...connections.values()].filter((e) => e.direction === 'outbound' && !inPool.has(e.hex) && !exempt.has(e.hex) && (c.minimizeClients || isNode(e)));
  return extras.sort((a, b) => compareDistance(distance(b.nodeId, self), distance(a.nodeId, self))).slice(0, excess);
}

/** What the pools hold now: for monitoring (memorynet reads it per node). */
export interface DhtConnectivityStats {
  /** The neighbour pool, nearest first (public key hex). */
  neighbours: string[];
  /** The random pool (public key hex). */
  random: string[];
  /** Pool members connected now. */
  connectedMembers: number;
  /** Connections of the node now (pool members or not, clients included). */
  connections: number;
  /** Dials of pool members asked of the connection manager. */
  dials: number;
  /** Members replaced after failing `maxMemberFailures` times in a row. */
  replaced: number;
  /** Connections closed by minimizing. */
  minimized: number;
  /** Selections from the peer store (fills and refreshes). */
  selections: number;
}

/** Counters the machine keeps. */
export type DhtConnectivityCounters = Pick<DhtConnectivityStats, 'dials' | 'replaced' | 'minimized' | 'selections'>;
