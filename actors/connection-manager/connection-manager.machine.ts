/**
 * The connection manager's state chart (pure; the bridges to the listener and dialer actors and
 * the connection watching are in `connection-manager.logic.ts`).
 *
 * running: dials go to the dialer; every new active connection (dialed or accepted) goes
 * through the tie-break and the connection limit; closes are published. stopping: the children
 * stop and every kept connection is closed gracefully.
 */
import { assign, enqueueActions, fromCallback, fromPromise, setup, type AnyActorRef } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { PMap } from '../../core/pmap.js';
import type { HostInput } from '../host.js';
import type { PlainError } from '../../core/errors.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import type { DialerInput } from '../dialer/dialer.machine.js';
import type { ListenerInput } from '../listener/listener.machine.js';
import type { ConnectionManagerEmitted, ConnectionManagerEvent, ConnectionManagerReply, DialerBridgeEvent, PeerConnectionHostCommand } from './connection-manager.events.js';
import { sightingOf } from './sighting.js';
import { ProtocolRegistry } from '../../channels/protocol-registry.js';
import type { PeerConnectionInput } from '../peer-connection/peer-connection.machine.js';
import { tieBreak } from './tie-break.js';
import type { PeerSighting } from '../../storage/peer.js';
import { notProvided as provided } from '../not-provided.js';

/** What the connection manager is started with. */
export interface ConnectionManagerInput {
  listener: ListenerInput;
  dialer: DialerInput;
  /** Active connections at most (default 100); a new one beyond is closed. */
  maxConnections?: number;
  /** Where each connected peer's checked identity (its signed claim and addresses) is recorded. */
  peerBook?: { add(sighting: PeerSighting): Promise<unknown> };
  /** The protocols served on substreams peers open (default: none). */
  protocols?: ProtocolRegistry;
  /** Keepalive and negotiation settings of every peer connection. */
  peerConnection?: Pick<PeerConnectionInput, 'keepaliveIntervalMs' | 'keepaliveMaxMissed' | 'negotiationTimeoutMs'>;
}

interface Waiter {
  requestId: string;
  replyTo: AnyActorRef | undefined;
}

/** The connection manager's context. */
export interface ConnectionManagerContext {
  input: ConnectionManagerInput;
  /**
   * Public key hex -> the kept connection. The maps of the context are persistent (`PMap`): an
   * update costs O(log n), where copying a record per connect made a node with n connections
   * pay O(n) for each new one.
   */
  connections: PMap<PeerConnection>;
  /** Public key hex -> the id of the peer-connection actor that owns it (`peer:<hex>:<n>`, in the host). */
  actors: PMap<string>;
  /** Counter that makes child ids unique when a peer reconnects. */
  spawned: number;
  /** The protocols served (the input's, or an empty registry). */
  protocols: ProtocolRegistry;
  /** Dial request id -> who waits. */
  waiting: PMap<Waiter>;
}

const notProvided = (name: string) => provided(name, 'connection-manager.logic.ts');

/** The connection-manager state chart (see the module comment). */
export const connectionManagerMachine = setup({
  types: {
    context: {} as ConnectionManagerContext,
    events: {} as ConnectionManagerEvent,
    input: {} as ConnectionManagerInput,
    emitted: {} as ConnectionManagerEmitted,
  },
  actors: {
    listenerBridge: fromCallback<{ type: 'stop' }, ListenerInput>(notProvided('listenerBridge')),
    dialerBridge: fromCallback<DialerBridgeEvent, DialerInput>(notProvided('dialerBridge')),
    closeConnections: fromPromise<void, PeerConnection[]>(notProvided('closeConnections')),
    peerConnectionHost: fromCallback<PeerConnectionHostCommand, HostInput>(notProvided('peerConnectionHost')),
  },
  actions: {
    forwardDial: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'connection-manager.dial') return;
      enqueue.assign({ waiting: context.waiting.set(event.requestId, { requestId: event.requestId, replyTo: event.replyTo }) });
      enqueue.sendTo('dialer', { type: 'dial', requestId: event.requestId, publicKey: event.publicKey, ...(event.addresses ? { addresses: event.addresses } : {}) } as DialerBridgeEvent);
    }),
    publishListening: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'listener.ready') enqueue.emit({ type: 'connection-manager.listening', addresses: event.addresses });
      if (event.type === 'listener.failed') enqueue.emit({ type: 'connection-manager.listen-failed', error: event.error });
    }),
    /**
     * Tie-break and limit. The dropped connection is closed gracefully (through its actor when it
     * has one); the kept one gets a peer-connection actor, `peer:<hex>:<n>`, which owns it.
     */
    admitConnection: enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'connection.opened') return;
      const incoming = event.connection;
      const key = toHex(incoming.peer.publicKey);
      const existing = context.connections.get(key);
      if (!existing && context.connections.size >= (context.input.maxConnections ?? 100)) {
        enqueue(() => void incoming.close());
        return;
      }
      if (existing) {
        const winner = tieBreak(context.input.dialer.upgrade.identity.nodeId, incoming.peer.nodeId, existing.direction, incoming.direction);
        if (winner === 'existing') {
          enqueue(() => void incoming.close());
          return;
        }
        enqueue.sendTo('peerConnections', { type: 'host.send', id: context.actors.get(key)!, event: { type: 'peer-connection.disconnect' } } satisfies PeerConnectionHostCommand);
      }
      const id = `peer:${key}:${context.spawned + 1}`;
      enqueue.assign({ connections: context.connections.set(key, incoming), actors: context.actors.set(key, id), spawned: context.spawned + 1 });
      enqueue.sendTo('peerConnections', {
        type: 'host.start',
        id,
        input: { connection: incoming, protocols: context.protocols, ...context.input.peerConnection, parent: self },
      } satisfies PeerConnectionHostCommand);
      enqueue(() => void context.input.peerBook?.add(sightingOf(incoming.peer)).catch(() => undefined));
      if (!existing) enqueue.emit({ type: 'peer.connected', publicKey: incoming.peer.publicKey, direction: incoming.direction, connection: incoming });
    }),
    forgetConnection: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peer-connection.closed') return;
      // The finished actor is let go.
      enqueue.sendTo('peerConnections', { type: 'host.release', id: event.actorId } satisfies PeerConnectionHostCommand);
      const key = toHex(event.publicKey);
      // A connection replaced by the tie-break closes too: only the kept one counts.
      if (context.connections.get(key) !== event.connection) return;
      enqueue.assign({ connections: context.connections.delete(key), actors: context.actors.delete(key) });
      enqueue.emit({ type: 'peer.disconnected', publicKey: event.connection.peer.publicKey, error: event.error });
      if (event.error?.kind === 'protocol') enqueue.emit({ type: 'peer.violation', publicKey: event.connection.peer.publicKey, error: event.error });
    }),
    answerDial: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'dial.replied') return;
      const waiter = context.waiting.get(event.requestId);
      enqueue.assign({ waiting: context.waiting.delete(event.requestId) });
      const kept = context.connections.get(toHex(event.publicKey));
      let reply: ConnectionManagerReply;
      if (event.ok && kept) reply = { type: 'connection-manager.reply', requestId: event.requestId, ok: true, connection: kept };
      else {
        const error: PlainError = event.error ?? { name: 'ConnectionLimit', message: 'the connection was not kept', kind: 'transport' };
        enqueue.emit({ type: 'peer.connect-failed', publicKey: event.publicKey, error });
        reply = { type: 'connection-manager.reply', requestId: event.requestId, ok: false, error };
      }
      // The peer proved its key in the dial, then sent an invalid identity claim.
      if (!event.ok && event.error?.name === 'IdentityInvalid') enqueue.emit({ type: 'peer.violation', publicKey: event.publicKey, error: event.error });
      if (waiter?.replyTo) enqueue.sendTo(waiter.replyTo, reply);
      else enqueue.emit(reply);
    }),
    disconnectPeer: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'connection-manager.disconnect') return;
      const id = context.actors.get(toHex(event.publicKey));
      if (id) enqueue.sendTo('peerConnections', { type: 'host.send', id, event: { type: 'peer-connection.disconnect' } } satisfies PeerConnectionHostCommand);
    }),
    publishCrash: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'child.crashed') enqueue.emit({ type: 'connection-manager.child-failed', child: event.child, error: event.error });
    }),
    publishRejected: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'inbound.rejected') enqueue.emit({ type: 'connection.rejected', reason: event.reason, remoteAddress: event.remoteAddress, error: event.error });
    }),
    publishMisbehaviour: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'peer.misbehaved') enqueue.emit({ type: 'peer.violation', publicKey: event.publicKey, error: event.error });
    }),
    clearConnections: assign({ connections: PMap.empty<PeerConnection>(), actors: PMap.empty<string>() }),
    /** A connection that became active while stopping (a dial or upgrade finishing) is closed. */
    refuseConnection: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'connection.opened') enqueue(() => void event.connection.close());
    }),
  },
}).createMachine({
  id: 'connectionManager',
  context: ({ input }) => ({ input, connections: PMap.empty<PeerConnection>(), actors: PMap.empty<string>(), spawned: 0, waiting: PMap.empty<Waiter>(), protocols: input.protocols ?? new ProtocolRegistry() }),
  initial: 'running',
  // The peer-connection actors, one per kept connection, live in a host of their own (not as
  // children of this machine, whose snapshot copies its children on every spawn and stop: O(n)
  // per connection). It lives while running and stopping; when it stops, actors still running
  // are told to disconnect.
  invoke: { id: 'peerConnections', src: 'peerConnectionHost', input: ({ self }) => ({ parent: self }) },
  // Kept connections report their close while running and while stopping.
  on: { 'peer-connection.closed': { actions: 'forgetConnection' } },
  states: {
    running: {
      description: 'Listening and dialing; every active connection passes the tie-break and the limit.',
      invoke: [
        { id: 'listener', src: 'listenerBridge', input: ({ context }) => context.input.listener },
        { id: 'dialer', src: 'dialerBridge', input: ({ context }) => context.input.dialer },
      ],
      on: {
        'connection-manager.dial': { actions: 'forwardDial' },
        'connection-manager.disconnect': { actions: 'disconnectPeer' },
        'listener.ready': { actions: 'publishListening' },
        'listener.failed': { actions: 'publishListening' },
        'connection.opened': { actions: 'admitConnection' },
        'dial.replied': { actions: 'answerDial' },
        'peer.misbehaved': { actions: 'publishMisbehaviour' },
        'inbound.rejected': { actions: 'publishRejected' },
        'child.crashed': { actions: 'publishCrash' },
        'connection-manager.stop': { target: 'stopping' },
      },
    },
    stopping: {
      description: 'The listener and dialer are stopped; kept connections close gracefully (GoAway).',
      invoke: {
        src: 'closeConnections',
        input: ({ context }) => [...context.connections.values()],
        onDone: { target: 'stopped', actions: 'clearConnections' },
        onError: { target: 'stopped', actions: 'clearConnections' },
      },
      on: { 'connection.opened': { actions: 'refuseConnection' } },
    },
    stopped: { type: 'final' },
  },
});
