/**
 * The DHT connectivity actor's input and context, and the pure helpers its guards and actions
 * share (which member an event is about, its failures after it, the connections minimizing
 * closes). The chart is in `dht-connectivity.machine.ts`.
 */
import { toHex } from '../../core/bytes.js';
import type { NodeId, PublicKey } from '../../core/keys.js';
import type { PMap } from '../../core/pmap.js';
import type { ConnectivityStatus } from '../connectivity/connectivity.events.js';
import type { DhtConnectivityConfig } from './dht-connectivity-config.js';
import type { DhtConnectivityEvent } from './dht-connectivity.events.js';
import { minimizeCandidates, type ConnectionEntry, type DhtConnectivityCounters, type PoolMember, type PoolName, type SelectionMode } from './pools.js';

/** What the DHT connectivity actor is started with. */
export interface DhtConnectivityInput {
  /** This node. */
  self: { publicKey: PublicKey; nodeId: NodeId };
  /** Its settings (validated with the node's configuration). */
  config: DhtConnectivityConfig;
  /** Peers minimizing never disconnects (the connectivity allow-list). */
  exempt?: readonly PublicKey[];
  /** True while another component keeps the connection to the peer of this key hex (`connectivity.keep`: a store-and-forward request in flight): minimizing leaves it. */
  keptElsewhere?: (hex: string) => boolean;
}

/** Input of `selectPools`. */
export interface SelectPoolsInput {
  self: NodeId;
  numNeighbours: number;
  numRandom: number;
  /** Peers not to choose (shunned ones). */
  exclude: PublicKey[];
}

/** A shunned peer: replaced after failing, not chosen again for `checksLeft` more checks. */
export interface Shunned {
  publicKey: PublicKey;
  checksLeft: number;
}

/** The DHT connectivity actor's context. */
export interface DhtConnectivityContext {
  input: DhtConnectivityInput;
  /** The neighbour pool, nearest first. */
  neighbours: readonly PoolMember[];
  /** The random pool. */
  random: readonly PoolMember[];
  /** Public key hex -> the node's connection to that peer (bounded by the connection limit). */
  connections: PMap<ConnectionEntry>;
  /** The node is online (connectivity online or degraded). */
  online: boolean;
  /** A selection from the peer store is due, and which. */
  due: SelectionMode | undefined;
  /** The selection running. */
  selecting: SelectionMode;
  /** Public key hex -> a replaced member not chosen again for a while. */
  shunned: PMap<Shunned>;
  /** A node closer than the farthest neighbour was stored while the pool was full: a `fill` is due once the pool settles. */
  closerPending: boolean;
  /** The pools as last announced (hex, comma-joined): announced and kept from the reaper on change. */
  announced: string;
  counters: DhtConnectivityCounters;
}

/** The request id of a member's dial. */
export const POOL_DIAL = 'dht-pool:';
/** How many shunned peers are remembered at most (a member is shunned only after failing several dials). */
export const MAX_SHUNNED = 1_024;
/** The holder name under which the pools are kept from the reaper. */
export const KEEP_HOLDER = 'dhtConnectivity';

/** Whether a connectivity status means the node has connections. */
export const isOnline = (status: ConnectivityStatus) => status === 'online' || status === 'degraded';
/** The actor's settings. */
export const cfg = (c: DhtConnectivityContext) => c.input.config;

type Ctx = DhtConnectivityContext;
type Ev = DhtConnectivityEvent;

/** The member with this hex, and its pool. */
export function findMember(c: Ctx, hex: string): { pool: PoolName; member: PoolMember } | undefined {
  const n = c.neighbours.find((m) => m.hex === hex);
  if (n) return { pool: 'neighbours', member: n };
  const r = c.random.find((m) => m.hex === hex);
  return r ? { pool: 'random', member: r } : undefined;
}

/** The pools with the member `hex` changed by `f` (or removed when `f` returns undefined). */
export function withMember(c: Ctx, hex: string, f: (m: PoolMember) => PoolMember | undefined): Pick<Ctx, 'neighbours' | 'random'> {
  const map = (pool: readonly PoolMember[]) => pool.flatMap((m) => (m.hex === hex ? (f(m) ?? []) : [m]));
  return { neighbours: map(c.neighbours), random: map(c.random) };
}

/** The member a dial answer or a lost connection is about. */
export function subjectOf(c: Ctx, e: Ev): PoolMember | undefined {
  if (e.type === 'connection-manager.reply') return e.requestId.startsWith(POOL_DIAL) ? findMember(c, e.requestId.slice(POOL_DIAL.length))?.member : undefined;
  if (e.type === 'dht-connectivity.disconnected' || e.type === 'dht-connectivity.peer-banned' || e.type === 'dht-connectivity.peer-deleted') return findMember(c, toHex(e.publicKey))?.member;
  return undefined;
}

/** A member's failures after this event: a failed dial adds one; so does a lost connection, unless it outlived a check (then it counts as the first). */
export function failuresAfter(e: Ev, m: PoolMember): number {
  return e.type === 'dht-connectivity.disconnected' && m.stable ? 1 : m.failures + 1;
}

/** A member's dial failed or its connection ended. */
export const failed = (e: Ev) => e.type === 'dht-connectivity.disconnected' || (e.type === 'connection-manager.reply' && !e.ok);

/** The connections as they are once `e` is applied (an arriving connection counted). */
export const connectionsWith = (c: Ctx, e: Ev): PMap<ConnectionEntry> => (e.type === 'dht-connectivity.connected' ? c.connections.set(e.connection.hex, e.connection) : c.connections);

/** The public keys (hex) of every pool member. */
export const memberHexes = (c: Ctx) => new Set([...c.neighbours, ...c.random].map((m) => m.hex));

/** Both pools hold their number of members (or, for a pool of 0, none), every one connected. */
export function poolsFull(c: Ctx, connections: PMap<ConnectionEntry>): boolean {
  const full = c.neighbours.length >= cfg(c).numNeighbours && c.random.length >= cfg(c).numRandom;
  return full && [...c.neighbours, ...c.random].every((m) => connections.has(m.hex));
}

/** The connections minimizing closes once `e` is applied (none unless it is on and the pools are full and connected). */
export function extrasOf(c: Ctx, e: Ev): ConnectionEntry[] {
  if (!cfg(c).minimizeConnections) return [];
  const connections = connectionsWith(c, e);
  if (!poolsFull(c, connections)) return [];
  const allowed = new Set((c.input.exempt ?? []).map(toHex));
  const kept = c.input.keptElsewhere;
  return minimizeCandidates(connections, memberHexes(c), { has: (hex) => allowed.has(hex) || kept?.(hex) === true }, c.input.self.nodeId, cfg(c));
}

/** The counters with `k` counted `n` more times. */
export const counted = (c: Ctx, k: keyof DhtConnectivityCounters, n = 1) => ({ ...c.counters, [k]: c.counters[k] + n });

