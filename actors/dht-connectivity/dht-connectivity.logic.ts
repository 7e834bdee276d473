/**
 * The DHT connectivity actor's real side: pools chosen from the peer manager's store, and the
 * siblings' facts followed (connectivity's status, the peer manager's new, updated, re-eligible and
 * banned peers, the connection manager's connections).
 */
import { fromPromise, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import type { ConnectionManagerEmitted } from '../connection-manager/connection-manager.events.js';
import type { ConnectivityEmitted } from '../connectivity/connectivity.events.js';
import { callbackActor } from '../mailbox.js';
import type { PeerManagerEmitted, PeerManagerInbox } from '../peer-manager/peer-manager.events.js';
import { ask } from '../request.js';
import { component } from '../system.js';
import type { Peer } from '../../storage/peer.js';
import { FEATURE_MESSAGE_PROPAGATION } from '../../storage/peer.js';
import type { DhtConnectivityFact } from './dht-connectivity.events.js';
import { dhtConnectivityMachine, type SelectPoolsInput } from './dht-connectivity.machine.js';
import { randomBelow } from '../dht/runtime.js';
import { bucketOf, poolPeer, spreadOverBuckets, updateMatters, type DhtConnectivityStats, type PoolSelection } from './pools.js';

/** How long the peer manager may take to answer one query (ms). */
export const SELECT_TIMEOUT_MS = 10_000;

/** Random known nodes the random pool is chosen from (a sample: the peer store may hold thousands). */
export const RANDOM_CANDIDATES = 256;

/**
 * The closest nodes to this node, then random nodes that are not among them, spread over the
 * distance buckets beyond the closest (`spreadOverBuckets`): nodes only (feature bit 0), banned
 * and offline peers left out by the store's filter, and `exclude`.
 */
export const selectPools = fromPromise<PoolSelection, SelectPoolsInput>(async ({ input, system }) => {
  const peerManager = component(system, 'peerManager');
  if (!peerManager) return { neighbours: [], random: [] };
  const query = async (make: (requestId: string) => PeerManagerInbox): Promise<Peer[]> => {
    const reply = await ask<PeerManagerInbox, PeerManagerEmitted>(peerManager).reply('peer-manager.reply', make, SELECT_TIMEOUT_MS);
    if (!reply.ok) throw new Error(`${reply.error.name}: ${reply.error.message}`);
    return Array.isArray(reply.result) ? reply.result : [];
  };
  const filter = { features: FEATURE_MESSAGE_PROPAGATION, exclude: [input.self, ...input.exclude] };
  const closest = input.numNeighbours > 0 ? await query((requestId) => ({ type: 'peer.closest', requestId, target: input.self, n: input.numNeighbours, filter })) : [];
  const candidates =
    input.numRandom > 0 ? await query((requestId) => ({ type: 'peer.random', requestId, n: Math.max(RANDOM_CANDIDATES, input.numRandom), filter: { ...filter, exclude: [...filter.exclude, ...closest.map((p) => p.publicKey)] } })) : [];
  const farthest = closest.reduce((b, p) => Math.max(b, bucketOf(input.self, p.nodeId)), -1);
  const random = spreadOverBuckets(input.self, candidates, input.numRandom, farthest, randomBelow);
  return { neighbours: closest.map(poolPeer), random: random.map(poolPeer) };
});

/** Follows the siblings' facts (see the module comment). */
export const followSiblings = callbackActor<{ type: 'follow.never' }, undefined, DhtConnectivityFact>(({ system, sendBack }) => {
  const subscriptions: Array<{ unsubscribe(): void }> = [];
  const connectivity = component(system, 'connectivity');
  if (connectivity) {
    subscriptions.push(connectivity.on('connectivity.status', (e: Extract<ConnectivityEmitted, { type: 'connectivity.status' }>) => sendBack({ type: 'dht-connectivity.status', status: e.status })));
  }
  const peerManager = component(system, 'peerManager');
  if (peerManager) {
    // A new peer, and one that may be chosen now: its claim updated (a seed added by address gets its features), back online, unbanned.
    for (const type of ['peer.added', 'peer.online', 'peer.unbanned'] as const) {
      subscriptions.push(peerManager.on(type, (e: Extract<PeerManagerEmitted, { type: typeof type }>) => sendBack({ type: 'dht-connectivity.peer-stored', peer: poolPeer(e.peer) })));
    }
    // An update only when it can change a choice (most are a known claim seen again: a peer
    // sync's claims, about two in three at start-up, each an event to the pools for nothing).
    subscriptions.push(
      peerManager.on('peer.updated', (e: Extract<PeerManagerEmitted, { type: 'peer.updated' }>) => {
        if (updateMatters(e.before, e.peer)) sendBack({ type: 'dht-connectivity.peer-stored', peer: poolPeer(e.peer) });
      }),
    );
    subscriptions.push(peerManager.on('peer.banned', (e: Extract<PeerManagerEmitted, { type: 'peer.banned' }>) => sendBack({ type: 'dht-connectivity.peer-banned', publicKey: e.peer.publicKey })));
    // Deleted, or evicted by the store (an unverified record past its bound): no longer a choice.
    subscriptions.push(peerManager.on('peer.deleted', (e: Extract<PeerManagerEmitted, { type: 'peer.deleted' }>) => sendBack({ type: 'dht-connectivity.peer-deleted', publicKey: e.peer.publicKey })));
  }
  const cm = component(system, 'connectionManager');
  if (cm) {
    subscriptions.push(
      cm.on('peer.connected', (e: Extract<ConnectionManagerEmitted, { type: 'peer.connected' }>) =>
        sendBack({ type: 'dht-connectivity.connected', connection: { ...poolPeer(e.connection.peer), direction: e.direction } }),
      ),
    );
    subscriptions.push(cm.on('peer.disconnected', (e: Extract<ConnectionManagerEmitted, { type: 'peer.disconnected' }>) => sendBack({ type: 'dht-connectivity.disconnected', publicKey: e.publicKey })));
  }
  return () => subscriptions.forEach((s) => s.unsubscribe());
});

/** The DHT connectivity machine with its real effects. */
export const dhtConnectivityLogic = dhtConnectivityMachine.provide({ actors: { selectPools, followSiblings } });

/** A DHT connectivity actor (the node's `dhtConnectivity` component). */
export type DhtConnectivityRef = ActorRefFrom<typeof dhtConnectivityLogic>;

/** What the pools hold now, from the actor's snapshot (memorynet reads it per node). */
export function dhtConnectivityStats(actor: { getSnapshot(): SnapshotFrom<typeof dhtConnectivityMachine> }): DhtConnectivityStats {
  const c = actor.getSnapshot().context;
  const members = [...c.neighbours, ...c.random];
  return {
    neighbours: c.neighbours.map((m) => m.hex),
    random: c.random.map((m) => m.hex),
    connectedMembers: members.filter((m) => c.connections.has(m.hex)).length,
    connections: c.connections.size,
    ...c.counters,
  };
}
