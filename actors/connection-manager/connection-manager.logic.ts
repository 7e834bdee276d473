/**
 * The connection manager's real implementations: bridges that run the listener and dialer
 * actors and turn their facts into this actor's events, and the graceful close of every kept
 * connection on stop.
 */
import { createActor, fromCallback, fromPromise, type Actor, type AnyActorRef } from 'xstate';
import { RequestFailed } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import { dialerLogic } from '../dialer/dialer.logic.js';
import type { DialerInput } from '../dialer/dialer.machine.js';
import { listenerLogic } from '../listener/listener.logic.js';
import type { ListenerInput } from '../listener/listener.machine.js';
import { peerConnectionLogic, type PeerConnectionActor } from '../peer-connection/peer-connection.logic.js';
import { requestReply } from '../request.js';
import { startObserved } from '../start.js';
import type { ConnectionManagerReply, DialerBridgeEvent, PeerConnectionHostCommand } from './connection-manager.events.js';
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
 * Hosts the peer-connection actors, one per kept connection, by id. Each is created with this
 * host as its parent, so it belongs to the connection manager's actor system (inspection sees
 * it) while the manager's snapshot does not list it: XState copies a machine's children on every
 * spawn and stop, which made each connect cost O(n) with n connections (a third of the listener's
 * time per connect at 4,000 connections).
 *
 * A peer-connection actor ends by itself (its final state) when its connection ends; the
 * manager releases it then. A crash of one (a bug) is reported to the manager. When the host
 * stops, with the manager, actors still running are told to disconnect: each closes its
 * connection gracefully and ends (XState lets only a parent's own machinery stop a child).
 */
export const peerConnectionHost = fromCallback<PeerConnectionHostCommand, { parent: AnyActorRef }>(({ input, receive, self }) => {
  const hosted = new Map<string, PeerConnectionActor>();
  receive((command) => {
    switch (command.type) {
      case 'host.start': {
        if (hosted.has(command.id)) return;
        const actor = createActor(peerConnectionLogic, { id: command.id, input: command.input, parent: self });
        actor.subscribe({
          error: (err) => {
            hosted.delete(command.id);
            input.parent.send({ type: 'child.crashed', child: 'peerConnection', error: { name: 'PeerConnectionCrashed', message: String(err), kind: 'internal' } });
          },
        });
        hosted.set(command.id, actor);
        actor.start();
        return;
      }
      case 'host.send':
        hosted.get(command.id)?.send(command.event);
        return;
      case 'host.release':
        hosted.delete(command.id);
        return;
      case 'host.count':
        command.replyTo.send({ type: 'host.counted', hosted: hosted.size });
        return;
    }
  });
  return () => {
    for (const actor of hosted.values()) if (actor.getSnapshot().status === 'active') actor.send({ type: 'peer-connection.disconnect' });
    hosted.clear();
  };
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
