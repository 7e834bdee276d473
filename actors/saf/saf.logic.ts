/**
 * The store-and-forward component's real side: the requests with their real effects, the sweep
 * done by the store, and the connection manager's connections followed.
 */
import { fromPromise, type ActorRefFrom } from 'xstate';
import type { ConnectionManagerEmitted } from '../connection-manager/connection-manager.events.js';
import { callbackActor } from '../mailbox.js';
import { safRequestLogic } from '../saf-request/saf-request.logic.js';
import { component } from '../system.js';
import { safMachine, type SweepInput } from './saf.machine.js';
import type { SafConnections } from './saf.events.js';

/** Sweeps a batch of expired messages. */
export const sweep = fromPromise<{ count: number; more: boolean }, SweepInput>(({ input }) => input.effects.sweep());

/** Follows the connection manager: each kept connection (with the features its peer claims) and each disconnection. */
export const followConnections = callbackActor<{ type: 'follow.never' }, undefined, SafConnections>(({ system, sendBack }) => {
  const cm = component(system, 'connectionManager');
  if (!cm) return;
  const subscriptions = [
    cm.on('peer.connected', (e: Extract<ConnectionManagerEmitted, { type: 'peer.connected' }>) => sendBack({ type: 'saf.peer-connected', publicKey: e.publicKey, features: e.connection.peer.features })),
    cm.on('peer.disconnected', (e: Extract<ConnectionManagerEmitted, { type: 'peer.disconnected' }>) => sendBack({ type: 'saf.peer-disconnected', publicKey: e.publicKey })),
  ];
  return () => {
    for (const s of subscriptions) s.unsubscribe();
  };
});

/** The component with its real effects. */
export const safLogic = safMachine.provide({
  actors: { sweep, followConnections, safRequest: safRequestLogic },
});

/** A store-and-forward component (the node's `saf` component). */
export type SafRef = ActorRefFrom<typeof safLogic>;
