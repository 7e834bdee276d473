/**
 * The DHT actor's real side: the JOIN sent by the service's outbound side, the discoveries with
 * their real sending, DISCOVERY answers, and the connectivity component's status followed.
 */
import { fromPromise, type ActorRefFrom } from 'xstate';
import { discoveryLogic } from '../discovery/discovery.logic.js';
import type { ConnectivityEmitted } from '../connectivity/connectivity.events.js';
import { callbackActor } from '../mailbox.js';
import { component } from '../system.js';
import type { DhtConnectivity } from './dht.events.js';
import { dhtMachine, type SendJoinInput } from './dht.machine.js';

/** Sends the JOIN. */
export const sendJoin = fromPromise<number, SendJoinInput>(({ input }) => input.effects.sendJoin());

/** Follows the connectivity component's status; the DHT joins when the node comes online. */
export const followConnectivity = callbackActor<{ type: 'follow.never' }, undefined, DhtConnectivity>(({ system, sendBack }) => {
  const connectivity = component(system, 'connectivity');
  if (!connectivity) return;
  const subscription = connectivity.on('connectivity.status', (e: Extract<ConnectivityEmitted, { type: 'connectivity.status' }>) => sendBack({ type: 'dht.connectivity', status: e.status }));
  return () => subscription.unsubscribe();
});

/** The DHT machine with its real effects. */
export const dhtLogic = dhtMachine.provide({
  actors: { sendJoin, followConnectivity, discovery: discoveryLogic },
  actions: {
    answerDiscovery: ({ context }, params) => context.input.effects.answerDiscovery(params.origin, params.nonce),
  },
});

/** A DHT actor (the node's `dht` component). */
export type DhtRef = ActorRefFrom<typeof dhtLogic>;
