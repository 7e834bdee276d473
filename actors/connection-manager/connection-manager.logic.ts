/**
 * The connection manager's real implementations: bridges that run the listener and dialer
 * actors and turn their facts into this actor's events, and the graceful close of every kept
 * connection on stop.
 */
import { createActor, fromCallback, fromPromise, type Actor } from 'xstate';
import { RequestFailed } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import { dialerLogic } from '../dialer/dialer.logic.js';
import type { DialerInput } from '../dialer/dialer.machine.js';
import { listenerLogic } from '../listener/listener.logic.js';
import type { ListenerInput } from '../listener/listener.machine.js';
import { actorHost } from '../host.js';
import { peerConnectionLogic } from '../peer-connection/peer-connection.logic.js';
import { requestReply } from '../request.js';
import { startObserved } from '../start.js';
import type { ConnectionManagerReply, DialerBridgeEvent } from './connection-manager.events.js';
import { connectionManagerMachine, type ConnectionManagerInput } from './connection-manager.machine.js';

/** Runs the listener actor and turns its facts into connection-manager events. */
export const listenerBridge = fromCallback<{ type: 'stop' }, ListenerInput>(({ input, sendBack }) => {
  const listener = createActor(listenerLogic, { input });
  listener.subscribe({ error: (err) => sendBack({ type: 'listener.failed', error: { name: 'ListenerCrashed', message: String(err), kind: 'internal' } }) });
  listener.on('listener.listening', (e) => sendBack({ type: 'listener.ready', addresses: e.addresses }));
  listener.on('listener.failed', (e) => sendBack({ type: 'listener.failed', error: e.error }));
  listener.on('connection.inbound', (e) => sendBack({ type: 'connection.opened', connection: e.connection }));
  listener.on('connection.rejected', (e) => {
    sendBack({ type: 'inbound.rejected', reason: e.reason, remoteAddress: e.remoteAddress, error: e.error });
    if (e.publicKey && e.error?.kind === 'protocol') sendBack({ type: 'peer.misbehaved', publicKey: e.publicKey, error: e.error });
  });
  listener.start();
  return () => listener.send({ type: 'listener.stop' });
});

/** Runs the dialer actor: forwards dials, turns its replies and dialed connections into events. */
export const dialerBridge = fromCallback<DialerBridgeEvent, DialerInput>(({ input, sendBack, receive }) => {
  const dialer = createActor(dialerLogic, { input });
  // A crashed dialer (a bug) is reported, never swallowed: the manager publishes it.
  dialer.subscribe({ error: (err) => sendBack({ type: 'child.crashed', child: 'dialer', error: { name: 'DialerCrashed', message: String(err), kind: 'internal' } }) });
  // peer.dialed comes before the replies of the same dial, so the tie-break runs first.
  dialer.on('peer.dialed', (e) => sendBack({ type: 'connection.opened', connection: e.connection }));
  const publicKeys = new Map<string, PublicKey>();
  dialer.on('dial.reply', (r) => {
    const publicKey = publicKeys.get(r.requestId)!;
    publicKeys.delete(r.requestId);
    sendBack(r.ok ? { type: 'dial.replied', requestId: r.requestId, publicKey, ok: true } : { type: 'dial.replied', requestId: r.requestId, publicKey, ok: false, error: r.error });
  });
  dialer.start();
  receive((e) => {
    publicKeys.set(e.requestId, e.publicKey);
    dialer.send({ type: 'dial.request', requestId: e.requestId, publicKey: e.publicKey, ...(e.addresses ? { addresses: e.addresses } : {}) });
  });
  return () => dialer.stop();
});

/**
 * Hosts the peer-connection actors, one per kept connection (see `actors/host.ts`). A crash of
 * one is reported as `child.crashed`; when the host stops with the manager, each connection
 * still kept is told to disconnect (it closes gracefully and ends).
 */
export const peerConnectionHost = actorHost(peerConnectionLogic, {
  onHostStop: { type: 'peer-connection.disconnect' },
  crashed: (_id, err) => ({ type: 'child.crashed', child: 'peerConnection', error: { name: 'PeerConnectionCrashed', message: String(err), kind: 'internal' } }),
});

/** Closes connections gracefully (GoAway, grace period). */
export const closeConnections = fromPromise<void, PeerConnection[]>(async ({ input }) => {
  await Promise.all(input.map((c) => c.close().catch(() => undefined)));
});

/** The connection-manager machine with its real implementations. */
export const connectionManagerLogic = connectionManagerMachine.provide({ actors: { listenerBridge, dialerBridge, closeConnections, peerConnectionHost } });
/** A running connection manager. */
export type ConnectionManagerActor = Actor<typeof connectionManagerLogic>;

/** Starts a connection manager, observed for errors. */
export function startConnectionManager(input: ConnectionManagerInput, onError?: (err: unknown) => void): ConnectionManagerActor {
  return startObserved(connectionManagerLogic, { input, systemId: 'connectionManager' }, 'connection manager', onError);
}

/** A connection-manager dial failed. */
export class ConnectRequestFailed extends RequestFailed {}

/** Dials a peer through the connection manager; resolves with the connection it keeps. */
export async function connect(actor: ConnectionManagerActor, publicKey: PublicKey, options: { addresses?: string[]; timeoutMs?: number } = {}): Promise<PeerConnection> {
  const reply = await requestReply<ConnectionManagerReply>(
    actor,
    'connection-manager.reply',
    { type: 'connection-manager.dial', publicKey, ...(options.addresses ? { addresses: options.addresses } : {}) },
    options.timeoutMs ?? 120_000,
  );
  if (reply.ok) return reply.connection;
  throw new ConnectRequestFailed(reply.error);
}
