/**
 * Network discovery's real side: the seeds stored and the peers counted and picked through the
 * peer manager, the syncs made through the node's RPC client pool (which dials a peer when need
 * be), and the connection manager's `peer.connected` followed in on-connect mode.
 */
import { fromPromise, type ActorRefFrom, type ActorSystem } from 'xstate';
import { AbortedError } from '../../core/errors.js';
import { nodeIdOf, type PublicKey } from '../../core/keys.js';
import { PeerSync } from '../../proto/gen/tcomms/dht/dht_pb.js';
import { FEATURE_MESSAGE_PROPAGATION } from '../../protocols/dht/index.js';
import { FLAG_SEED, type Peer } from '../../storage/peer.js';
import { toHex } from '../../core/bytes.js';
import type { ConnectionManagerEmitted } from '../connection-manager/connection-manager.events.js';
import { callbackActor } from '../mailbox.js';
import { PeerManagerClient, type PeerManagerRef } from '../peer-manager/peer-manager.logic.js';
import { rpcClientProxy } from '../rpc-client/proxy.js';
import { rpcServiceDefinition } from '../rpc-server/services.js';
import { component } from '../system.js';
import type { NetworkDiscoveryConnected, PeerSyncReport, SyncRoundOutcome } from './network-discovery.events.js';
import { networkDiscoveryMachine, type AddSeedsInput, type CountKnownInput, type PickPeersInput, type SyncRoundInput } from './network-discovery.machine.js';
import { syncPeersFrom } from './peer-sync-client.js';

/** The peer manager of `system`, as a promise client (throws when it is not running). */
function peersOf(system: ActorSystem<any>): PeerManagerClient {
  const pm = component(system, 'peerManager');
  if (!pm) throw new AbortedError('the peer manager is not running');
  return new PeerManagerClient(pm as PeerManagerRef);
}

/** Stores each seed as a node flagged seed (its addresses from the configuration). */
export const addSeeds = fromPromise<void, AddSeedsInput>(async ({ input, system }) => {
  const peers = peersOf(system);
  for (const seed of input.seeds) {
    await peers.add({
      publicKey: seed.publicKey,
      nodeId: nodeIdOf(seed.publicKey),
      addresses: seed.addresses.map((address) => ({ address, source: 'config' as const })),
      features: FEATURE_MESSAGE_PROPAGATION,
      flags: FLAG_SEED,
    });
  }
});

/**
 * Known peers (not banned), counted up to `limit`. Peers whose last dials failed count too: a
 * dial lost to a connection closing at the other end would otherwise make a node that knows the
 * whole network think it knows too few, and sync on without end.
 */
export const countKnown = fromPromise<number, CountKnownInput>(async ({ input, system }) => (await peersOf(system).closest(input.self, input.limit, { includeOffline: true })).length);

/**
 * Up to `n` nodes not in `exclude`: the seeds first (the nodes most likely to know the network),
 * then at random, ones not known to be offline before the others.
 */
export const pickPeers = fromPromise<PublicKey[], PickPeersInput>(async ({ input, system }) => {
  const peers = peersOf(system);
  const excluded = new Set(input.exclude.map(toHex));
  const picked: Peer[] = [];
  for (const seed of input.seeds) {
    if (picked.length >= input.n || excluded.has(toHex(seed)) || input.isBanned(seed)) continue;
    const peer = await peers.find({ publicKey: seed });
    if (peer && peer.deletedAt === undefined && peer.addresses.length > 0) picked.push(peer);
  }
  const filter = { features: FEATURE_MESSAGE_PROPAGATION, exclude: [...input.exclude, ...picked.map((p) => p.publicKey)] };
  if (picked.length < input.n) picked.push(...(await peers.random(input.n - picked.length, filter)));
  if (picked.length < input.n) {
    // A peer whose every address failed once (a seed not up yet) is still worth a try, last.
    const more = await peers.random(input.n - picked.length, { ...filter, includeOffline: true, exclude: [...input.exclude, ...picked.map((p) => p.publicKey)] });
    picked.push(...more);
  }
  return picked.filter((p) => p.addresses.length > 0).map((p) => p.publicKey);
});

/**
 * One sync per peer, at once (`GetPeers`, or `GetCloserPeers` given `closerTo`, through the RPC client pool); the round's `signal`
 * cancels them all. With `disconnectAfter`, a connection the sync made is closed after it.
 */
export const syncRound = fromPromise<SyncRoundOutcome, SyncRoundInput>(async ({ input, system, signal }) => {
  const peers = peersOf(system);
  const definition = rpcServiceDefinition(PeerSync);
  const cm = component(system, 'connectionManager');
  const { env } = input;
  const reports = await Promise.all(
    input.peers.map(async (publicKey): Promise<PeerSyncReport> => {
      const wasConnected = env.isConnected(publicKey);
      const client = rpcClientProxy(definition, (call) => {
        const pool = component(system, 'rpcClient');
        if (!pool) return call.fail(new AbortedError('the RPC client pool is not running'));
        pool.send({ type: 'rpc-client.call', publicKey, protocol: definition.protocol, call });
      });
      const outcome = await syncPeersFrom({
        client,
        self: env.self,
        n: input.n,
        closerTo: input.closerTo,
        includeClients: input.includeClients,
        nowSeconds: env.nowSeconds,
        allowMemory: env.allowMemory,
        isBanned: env.isBanned,
        storeMany: (sightings) => peers.addMany(sightings),
        synced: env.synced,
        skipSynced: input.skipSynced === true,
        signal,
      });
      // A connection made for this sync alone is closed, unless another component took it up
      // meanwhile (the DHT pools chose the peer: closing it dropped pool members node-wide).
      if (input.disconnectAfter && !wasConnected && cm && env.isConnected(publicKey) && !env.isKept(publicKey)) {
        cm.send({ type: 'connection-manager.disconnect', publicKey });
      }
      return outcome.ok ? { publicKey, ok: true, added: outcome.added } : { publicKey, ok: false, added: outcome.added, error: outcome.error, violation: outcome.violation };
    }),
  );
  return { reports };
});

/** Follows the connection manager's `peer.connected`: which peer, whether it claims to be a node, and whether this node dialled it. */
export const followConnections = callbackActor<{ type: 'follow.never' }, undefined, NetworkDiscoveryConnected>(({ system, sendBack }) => {
  const cm = component(system, 'connectionManager');
  if (!cm) return;
  const subscription = cm.on('peer.connected', (e: Extract<ConnectionManagerEmitted, { type: 'peer.connected' }>) =>
    sendBack({ type: 'network-discovery.peer-connected', publicKey: e.publicKey, node: (e.connection.peer.features & FEATURE_MESSAGE_PROPAGATION) !== 0, outbound: e.direction === 'outbound' }),
  );
  return () => subscription.unsubscribe();
});

/** The network discovery machine with its real effects. */
export const networkDiscoveryLogic = networkDiscoveryMachine.provide({
  actors: { addSeeds, countKnown, pickPeers, syncRound, followConnections },
});

/** A network discovery actor (the node's `networkDiscovery` component). */
export type NetworkDiscoveryRef = ActorRefFrom<typeof networkDiscoveryLogic>;
