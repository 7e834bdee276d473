/**
 * The connection manager's real implementations: the host of the peer-connection actors and the
 * graceful close of every kept connection on stop.
 */
import { fromPromise, type ActorRefFrom } from 'xstate';
import type { PeerConnection } from '../../channels/upgrade.js';
import { actorHost } from '../host.js';
import { peerConnectionLogic } from '../peer-connection/peer-connection.logic.js';
import type { PeerConnectionCrashed } from './connection-manager.events.js';
import { connectionManagerMachine } from './connection-manager.machine.js';

/**
 * Hosts the peer-connection actors, one per kept connection (see `actors/host.ts`). A crash of
 * one is reported as `peer-connection.crashed`; when the host stops with the manager, each
 * connection still kept is told to disconnect (it closes gracefully and ends).
 */
export const peerConnectionHost = actorHost(peerConnectionLogic, {
  onHostStop: { type: 'peer-connection.disconnect' },
  crashed: (key, err, hosted): PeerConnectionCrashed => ({ type: 'peer-connection.crashed', key, hosted, error: { name: 'PeerConnectionCrashed', message: String(err), kind: 'internal' } }),
});

/** Closes connections gracefully (GoAway, grace period). */
export const closeConnections = fromPromise<void, PeerConnection[]>(async ({ input }) => {
  await Promise.all(input.map((c) => c.close().catch(() => undefined)));
});

/** The connection-manager machine with its real implementations. */
export const connectionManagerLogic = connectionManagerMachine.provide({ actors: { closeConnections, peerConnectionHost } });
/** A connection-manager actor (the node's `connectionManager` component). */
export type ConnectionManagerRef = ActorRefFrom<typeof connectionManagerLogic>;
