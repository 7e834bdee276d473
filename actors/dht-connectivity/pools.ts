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
