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

/** Known peers (not banned, not offline), counted up to `limit`. */
export const countKnown = fromPromise<number, CountKnownInput>(async ({ input, system }) => (await peersOf(system).closest(input.self, input.limit)).length);

/** Up to `n` random nodes not in `exclude`: ones not known to be offline first, then the others. */
export const pickPeers = fromPromise<PublicKey[], PickPeersInput>(async ({ input, system }) => {
  const peers = peersOf(system);
  const filter = { features: FEATURE_MESSAGE_PROPAGATION, exclude: [...input.exclude] };
  const picked: Peer[] = await peers.random(input.n, filter);
  if (picked.length < input.n) {
    // A peer whose every address failed once (a seed not up yet) is still worth a try, last.
    const more = await peers.random(input.n - picked.length, { ...filter, includeOffline: true, exclude: [...filter.exclude, ...picked.map((p) => p.publicKey)] });
    picked.push(...more);
  }
  return picked.filter((p) => p.addresses.length > 0).map((p) => p.publicKey);
});

/** One sync per peer, at once (`GetPeers` through the RPC client pool); the round's `signal` cancels them all. */
export const syncRound = fromPromise<SyncRoundOutcome, SyncRoundInput>(async ({ input, system, signal }) => {
  const peers = peersOf(system);
  const definition = rpcServiceDefinition(PeerSync);
  const { env } = input;
  const reports = await Promise.all(
    input.peers.map(async (publicKey): Promise<PeerSyncReport> => {
      const client = rpcClientProxy(definition, (call) => {
        const pool = component(system, 'rpcClient');
        if (!pool) return call.fail(new AbortedError('the RPC client pool is not running'));
        pool.send({ type: 'rpc-client.call', publicKey, protocol: definition.protocol, call });
      });
      const outcome = await syncPeersFrom({
        client,
        self: env.self,
        n: input.n,
        includeClients: input.includeClients,
        nowSeconds: env.nowSeconds,
        allowMemory: env.allowMemory,
        isBanned: env.isBanned,
        store: (sighting) => peers.add(sighting),
        signal,
      });
      return outcome.ok ? { publicKey, ok: true, added: outcome.added } : { publicKey, ok: false, added: outcome.added, error: outcome.error, violation: outcome.violation };
    }),
  );
  return { reports };
});

/** Follows the connection manager's `peer.connected`: which peer, and whether it claims to be a node. */
export const followConnections = callbackActor<{ type: 'follow.never' }, undefined, NetworkDiscoveryConnected>(({ system, sendBack }) => {
  const cm = component(system, 'connectionManager');
  if (!cm) return;
  const subscription = cm.on('peer.connected', (e: Extract<ConnectionManagerEmitted, { type: 'peer.connected' }>) =>
    sendBack({ type: 'network-discovery.peer-connected', publicKey: e.publicKey, node: (e.connection.peer.features & FEATURE_MESSAGE_PROPAGATION) !== 0 }),
  );
  return () => subscription.unsubscribe();
});

/** The network discovery machine with its real effects. */
export const networkDiscoveryLogic = networkDiscoveryMachine.provide({
  actors: { addSeeds, countKnown, pickPeers, syncRound, followConnections },
});

/** A network discovery actor (the node's `networkDiscovery` component). */
export type NetworkDiscoveryRef = ActorRefFrom<typeof networkDiscoveryLogic>;
