/**
 * The connection manager's state chart (pure; the peer-connection host and the graceful close
 * are in `connection-manager.logic.ts`).
 *
 * running: dials go to the dialer (`dialer` in the system) with this actor as the reply-to;
 * every new active connection, dialed or accepted by the listener, passes the connection limit
 * and the simultaneous-dial tie-break; a kept one gets a peer-connection actor
 * `peerConnection:<NodeId hex>`, its checked claim goes to the peer manager, and its arrival,
 * end and the peer's violations are told to the connectivity component and published.
 * Substreams are opened through the peer-connection actors (after a dial when needed).
 * stopping: every kept connection closes gracefully (GoAway); connections that become active
 * meanwhile are closed.
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { BoundedMap } from '../../core/bounded-map.js';
import type { PlainError } from '../../core/errors.js';
import type { NodeId, PublicKey } from '../../core/keys.js';
import { PMap } from '../../core/pmap.js';
import { ProtocolRegistry } from '../../channels/protocol-registry.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import { HostDirectory, type HostCommandOf, type HostInput } from '../host.js';
import { callbackActor, type Mailbox } from '../mailbox.js';
import { notProvided } from '../not-provided.js';
import type { PeerConnectionActor } from '../peer-connection/peer-connection.logic.js';
import { peerConnectionMachine, type PeerConnectionInput } from '../peer-connection/peer-connection.machine.js';
import type { SubstreamReply } from '../peer-connection/peer-connection.events.js';
import { component } from '../system.js';
import type { ConnectionManagerEmitted, ConnectionManagerEvent, ConnectionManagerReply, PeerConnectionCrashed } from './connection-manager.events.js';
import { sightingOf } from './sighting.js';
import { tieBreak } from './tie-break.js';

/** Defaults of the connection manager. */
export const DEFAULT_CONNECTION_MANAGER_CONFIG = Object.freeze({
  /** Active connections at most; a new one beyond is closed (tari_comms: 100). */
  maxConnections: 100,
  /** Claims recorded lately, so a reconnecting peer's unchanged claim is not written again. */
  recordedClaims: 4096,
});

/** What the connection manager is started with. */
export interface ConnectionManagerInput {
  /** This node's NodeId (the tie-break compares it with the peer's). */
  nodeId: NodeId;
  /** Active connections at most (default 100); a new one beyond is closed. */
  maxConnections?: number;
  /** The protocols served on substreams peers open (default: none). */
  protocols?: ProtocolRegistry;
  /** Keepalive and negotiation settings of every peer connection. */
  peerConnection?: Pick<PeerConnectionInput, 'keepaliveIntervalMs' | 'keepaliveMaxMissed' | 'negotiationTimeoutMs'>;
}

/** A request waiting on a dial: a dial of its own, or a substream to open once connected. */
type Waiter =
  | { kind: 'dial'; publicKey: PublicKey; replyTo: Mailbox<ConnectionManagerReply> | undefined }
  | { kind: 'open'; publicKey: PublicKey; protocols: readonly string[]; replyTo: Mailbox<SubstreamReply> };

/** The connection manager's context. */
export interface ConnectionManagerContext {
  input: ConnectionManagerInput;
  /**
   * Public key hex -> the kept connection. The maps of the context are persistent (`PMap`): an
   * update costs O(log n), where copying a record per connect made a node with n connections
   * pay O(n) for each new one.
   */
  connections: PMap<PeerConnection>;
  /** Public key hex -> the host key of the peer-connection actor that owns it. */
  actors: PMap<string>;
  /** Counter that makes host keys unique when a peer reconnects. */
  spawned: number;
  /** The protocols served (the input's, or an empty registry). */
  protocols: ProtocolRegistry;
  /** Request id -> what waits on its dial. */
  waiting: PMap<Waiter>;
  /** The peer-connection actors by host key (the host keeps it; see `actors/host.ts`). */
  directory: HostDirectory<PeerConnectionActor>;
  /** The host of the peer-connection actors. */
  host: Mailbox<HostCommandOf<typeof peerConnectionMachine>>;
  /** Public key hex -> the signature of the claim recorded lately (bounded). */
  recorded: BoundedMap<string, string>;
}

const SIGHTING = 'sighting:';

/** The connection an event brings, if any (accepted, or dialed). */
function arriving(event: ConnectionManagerEvent): PeerConnection | undefined {
  if (event.type === 'connection.opened') return event.connection;
  if (event.type === 'dial.reply' && event.ok) return event.connection;
  return undefined;
}

const nodeIdHex = (connection: PeerConnection) => toHex(connection.peer.nodeId);

/** The kept connection whose actor runs under `key`. */
function orphanOf(context: Pick<ConnectionManagerContext, 'actors' | 'connections'>, key: string): { hex: string; connection: PeerConnection } | undefined {
  for (const [hex, k] of context.actors) if (k === key) return { hex, connection: context.connections.get(hex)! };
  return undefined;
}

/** The peer-connection actor that owns the connection to `publicKey`, if connected (for embedders: `node.connection(peer)`). */
export function peerConnectionOf(context: Pick<ConnectionManagerContext, 'actors' | 'directory'>, publicKey: PublicKey): PeerConnectionActor | undefined {
  const key = context.actors.get(toHex(publicKey));
  return key === undefined ? undefined : context.directory.get(key);
}

/** The connection-manager state chart (see the module comment). */
export const connectionManagerMachine = setup({
  types: {
    context: {} as ConnectionManagerContext,
    events: {} as ConnectionManagerEvent,
    input: {} as ConnectionManagerInput,
    emitted: {} as ConnectionManagerEmitted,
  },
  actors: {
    peerConnectionHost: callbackActor<HostCommandOf<typeof peerConnectionMachine>, HostInput<typeof peerConnectionMachine>, PeerConnectionCrashed>(
      notProvided('peerConnectionHost', 'connection-manager.logic.ts'),
    ),
    closeConnections: fromPromise<void, PeerConnection[]>(notProvided('closeConnections', 'connection-manager.logic.ts')),
  },
  guards: {
    /**
     * The peer's connection is kept and its actor is active. An actor that is closing, or that
     * ended before its `peer-connection.closed` was handled here, could not open the substream
     * (an ended one would drop the request unanswered): the peer is dialed again instead.
     */
    connected: ({ context, event }) => {
      if (event.type !== 'connection-manager.open-stream') return false;
      const key = context.actors.get(toHex(event.publicKey));
      return key !== undefined && context.directory.get(key)?.getSnapshot().matches('active') === true;
    },
    dialFailed: ({ event }) => event.type === 'dial.reply' && !event.ok,
    /** A dial joined by several requests answers each with the connection kept by the first. */
    alreadyKept: ({ context, event }) => {
      const c = arriving(event);
      return c !== undefined && context.connections.get(toHex(c.peer.publicKey)) === c;
    },
    overLimit: ({ context, event }) => {
      const c = arriving(event);
      return c !== undefined && !context.connections.has(toHex(c.peer.publicKey)) && context.connections.size >= (context.input.maxConnections ?? DEFAULT_CONNECTION_MANAGER_CONFIG.maxConnections);
    },
    /** The simultaneous-dial tie-break keeps the connection already held. */
    existingWins: ({ context, event }) => {
      const c = arriving(event);
      const existing = c && context.connections.get(toHex(c.peer.publicKey));
      return existing !== undefined && tieBreak(context.input.nodeId, c!.peer.nodeId, existing.direction, c!.direction) === 'existing';
    },
    misbehaving: ({ event }) => event.type === 'inbound.rejected' && event.publicKey !== undefined && event.error?.kind === 'protocol',
    /** The crashed actor was the owner of a kept connection. */
    orphaned: ({ context, event }) => event.type === 'peer-connection.crashed' && event.hosted && orphanOf(context, event.key) !== undefined,
    sightingFailed: ({ event }) => event.type === 'peer-manager.reply' && !event.ok && event.requestId.startsWith(SIGHTING),
  },
  actions: {
    /** The dial goes to the dialer, which answers this actor. */
    requestDial: enqueueActions(({ context, event, enqueue, self, system }) => {
      let waiter: Waiter;
      if (event.type === 'connection-manager.dial') waiter = { kind: 'dial', publicKey: event.publicKey, replyTo: event.replyTo };
      else if (event.type === 'connection-manager.open-stream') waiter = { kind: 'open', publicKey: event.publicKey, protocols: event.protocols, replyTo: event.replyTo };
      else return;
      enqueue.assign({ waiting: context.waiting.set(event.requestId, waiter) });
      // (The dialer runs as long as this actor does; its replies, cancellations included, come back here.)
      const dialer = component(system, 'dialer');
      const addresses = event.type === 'connection-manager.dial' ? event.addresses : undefined;
      if (dialer) enqueue.sendTo(dialer, { type: 'dial.request', requestId: event.requestId, publicKey: event.publicKey, ...(addresses ? { addresses } : {}), replyTo: self });
    }),
    /** A substream to a connected peer is opened by its peer-connection actor, which answers the requester. */
    forwardOpen: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'connection-manager.open-stream') return;
      const key = context.actors.get(toHex(event.publicKey))!;
      enqueue.sendTo(context.host, { type: 'host.send', key, event: { type: 'peer-connection.open-substream', requestId: event.requestId, protocols: event.protocols, replyTo: event.replyTo } });
    }),
    /** The connection is not kept (over the limit, or the tie-break keeps the other one): it closes gracefully. */
    closeArriving: ({ event }) => void arriving(event)?.close(),
    /**
     * The connection is kept: a peer-connection actor owns it (the one it replaces, if any, is
     * told to disconnect), and its arrival is told to connectivity and published.
     */
    keepConnection: enqueueActions(({ context, event, enqueue, self, system }) => {
      const incoming = arriving(event);
      if (!incoming) return;
      const hex = toHex(incoming.peer.publicKey);
      const replaced = context.actors.get(hex);
      if (replaced !== undefined) enqueue.sendTo(context.host, { type: 'host.send', key: replaced, event: { type: 'peer-connection.disconnect' } });
      const key = `${hex}:${context.spawned + 1}`;
      enqueue.assign({ connections: context.connections.set(hex, incoming), actors: context.actors.set(hex, key), spawned: context.spawned + 1 });
      enqueue.sendTo(context.host, {
        type: 'host.start',
        key,
        id: `peerConnection:${nodeIdHex(incoming)}`,
        input: { connection: incoming, protocols: context.protocols, ...context.input.peerConnection, owner: self, hostKey: key },
      });
      if (replaced !== undefined) return; // the peer stays connected: nothing new to tell
      const connectivity = component(system, 'connectivity');
      if (connectivity) enqueue.sendTo(connectivity, { type: 'peer.connected', publicKey: incoming.peer.publicKey, connection: incoming });
      enqueue.emit({ type: 'peer.connected', publicKey: incoming.peer.publicKey, direction: incoming.direction, connection: incoming });
    }),
    /** The peer's checked claim goes to the peer manager, unless the same claim was recorded lately. */
    recordSighting: enqueueActions(({ context, event, enqueue, self, system }) => {
      const incoming = arriving(event);
      if (!incoming) return;
      const hex = toHex(incoming.peer.publicKey);
      const signature = toHex(incoming.peer.signature);
      if (context.recorded.get(hex) === signature) return;
      context.recorded.set(hex, signature);
      const peerManager = component(system, 'peerManager');
      if (peerManager) enqueue.sendTo(peerManager, { type: 'peer.add', requestId: SIGHTING + hex, sighting: sightingOf(incoming.peer), replyTo: self });
    }),
    /** A claim the store could not record is recorded again on the next connection. */
    forgetSighting: ({ context, event }) => {
      if (event.type === 'peer-manager.reply') context.recorded.delete(event.requestId.slice(SIGHTING.length));
    },
    answerDial: enqueueActions(({ context, event, enqueue, system }) => {
      if (event.type !== 'dial.reply') return;
      const waiter = context.waiting.get(event.requestId);
      if (!waiter) return;
      enqueue.assign({ waiting: context.waiting.delete(event.requestId) });
      const hex = toHex(waiter.publicKey);
      // A dial that failed while the peer connected the other way (a simultaneous dial whose
      // losing connection the peer closed mid-upgrade) is answered with the connection kept.
      const kept = context.connections.get(hex);
      const error: PlainError | undefined = kept ? undefined : event.ok ? { name: 'ConnectionLimit', message: 'the connection was not kept', kind: 'transport' } : event.error;
      if (error) enqueue.emit({ type: 'peer.connect-failed', publicKey: waiter.publicKey, error });
      // The peer proved its key in the dial, then sent an invalid identity claim: connectivity bans it.
      if (!event.ok && event.error.name === 'IdentityInvalid') {
        const violation = { type: 'peer.violation' as const, publicKey: waiter.publicKey, error: event.error };
        const connectivity = component(system, 'connectivity');
        if (connectivity) enqueue.sendTo(connectivity, violation);
        enqueue.emit(violation);
      }
      if (waiter.kind === 'open') {
        if (error) enqueue.sendTo(waiter.replyTo, { type: 'peer-connection.substream', requestId: event.requestId, ok: false, error });
        else enqueue.sendTo(context.host, { type: 'host.send', key: context.actors.get(hex)!, event: { type: 'peer-connection.open-substream', requestId: event.requestId, protocols: waiter.protocols, replyTo: waiter.replyTo } });
        return;
      }
      const reply: ConnectionManagerReply = error ? { type: 'connection-manager.reply', requestId: event.requestId, ok: false, error } : { type: 'connection-manager.reply', requestId: event.requestId, ok: true, connection: kept! };
      if (waiter.replyTo) enqueue.sendTo(waiter.replyTo, reply);
      else enqueue.emit(reply);
    }),
    /** Dials answered while stopping fail (the connection they made was closed). */
    answerDialStopping: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'dial.reply') return;
      const waiter = context.waiting.get(event.requestId);
      if (!waiter) return;
      enqueue.assign({ waiting: context.waiting.delete(event.requestId) });
      const error: PlainError = { name: 'ConnectionManagerStopped', message: 'the node is stopping', kind: 'aborted' };
      if (waiter.kind === 'open') enqueue.sendTo(waiter.replyTo, { type: 'peer-connection.substream', requestId: event.requestId, ok: false, error });
      else if (waiter.replyTo) enqueue.sendTo(waiter.replyTo, { type: 'connection-manager.reply', requestId: event.requestId, ok: false, error });
      else enqueue.emit({ type: 'connection-manager.reply', requestId: event.requestId, ok: false, error });
    }),
    forgetConnection: enqueueActions(({ context, event, enqueue, system }) => {
      if (event.type !== 'peer-connection.closed') return;
      // The finished actor is let go.
      enqueue.sendTo(context.host, { type: 'host.release', key: event.hostKey });
      const hex = toHex(event.publicKey);
      // A connection replaced by the tie-break closes too: only the kept one counts.
      if (context.connections.get(hex) !== event.connection) return;
      enqueue.assign({ connections: context.connections.delete(hex), actors: context.actors.delete(hex) });
      const connectivity = component(system, 'connectivity');
      if (connectivity) enqueue.sendTo(connectivity, { type: 'peer.disconnected', publicKey: event.publicKey });
      enqueue.emit({ type: 'peer.disconnected', publicKey: event.publicKey, error: event.error });
      if (event.error?.kind === 'protocol') {
        if (connectivity) enqueue.sendTo(connectivity, { type: 'peer.violation', publicKey: event.publicKey, error: event.error });
        enqueue.emit({ type: 'peer.violation', publicKey: event.publicKey, error: event.error });
      }
    }),
    disconnectPeer: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'connection-manager.disconnect') return;
      const key = context.actors.get(toHex(event.publicKey));
      if (key !== undefined) enqueue.sendTo(context.host, { type: 'host.send', key, event: { type: 'peer-connection.disconnect' } });
    }),
    publishRejected: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'inbound.rejected') enqueue.emit({ type: 'connection.rejected', reason: event.reason, remoteAddress: event.remoteAddress, error: event.error });
    }),
    /** A peer that broke a protocol is reported to connectivity (which bans it) and published. */
    reportViolation: enqueueActions(({ event, enqueue, system }) => {
      if ((event.type !== 'peer.misbehaved' && event.type !== 'inbound.rejected') || !event.publicKey || !event.error) return;
      const violation = { type: 'peer.violation' as const, publicKey: event.publicKey, error: event.error };
      const connectivity = component(system, 'connectivity');
      if (connectivity) enqueue.sendTo(connectivity, violation);
      enqueue.emit(violation);
    }),
    /** A peer-connection actor crashed (a bug): reported as a failed child. */
    publishCrash: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'peer-connection.crashed') enqueue.emit({ type: 'connection-manager.child-failed', child: 'peerConnection', error: event.error });
    }),
    /** The crashed actor's connection has no owner left: it is aborted (no orphaned socket). */
    abortOrphan: ({ context, event }) => {
      if (event.type === 'peer-connection.crashed') orphanOf(context, event.key)?.connection.muxer.abort();
    },
    forgetOrphan: enqueueActions(({ context, event, enqueue, system }) => {
      const orphan = event.type === 'peer-connection.crashed' ? orphanOf(context, event.key) : undefined;
      if (!orphan || event.type !== 'peer-connection.crashed') return;
      enqueue.assign({ connections: context.connections.delete(orphan.hex), actors: context.actors.delete(orphan.hex) });
      const connectivity = component(system, 'connectivity');
      if (connectivity) enqueue.sendTo(connectivity, { type: 'peer.disconnected', publicKey: orphan.connection.peer.publicKey });
      enqueue.emit({ type: 'peer.disconnected', publicKey: orphan.connection.peer.publicKey, error: event.error });
    }),
    clearConnections: assign({ connections: PMap.empty<PeerConnection>(), actors: PMap.empty<string>() }),
  },
}).createMachine({
  id: 'connectionManager',
  context: ({ input, spawn }) => {
    // The peer-connection actors, one per kept connection, live in a host of their own (not as
    // children of this machine, whose snapshot copies its children on every spawn and stop: O(n)
    // per connection). It lives as long as this actor; when it stops, actors still running are
    // told to disconnect.
    const directory = new HostDirectory<PeerConnectionActor>();
    return {
      input,
      connections: PMap.empty<PeerConnection>(),
      actors: PMap.empty<string>(),
      spawned: 0,
      waiting: PMap.empty<Waiter>(),
      protocols: input.protocols ?? new ProtocolRegistry(),
      directory,
      host: spawn('peerConnectionHost', { id: 'peerConnections', input: { directory } }),
      recorded: new BoundedMap<string, string>(DEFAULT_CONNECTION_MANAGER_CONFIG.recordedClaims),
    };
  },
  initial: 'running',
  // Kept connections report their close while running and while stopping; the host reports crashes.
  on: {
    'peer-connection.closed': { actions: 'forgetConnection' },
    'peer-connection.crashed': [{ guard: 'orphaned', actions: ['publishCrash', 'abortOrphan', 'forgetOrphan'] }, { actions: 'publishCrash' }],
    'peer-manager.reply': { guard: 'sightingFailed', actions: 'forgetSighting' },
  },
  states: {
    running: {
      description: 'Dialing and accepting; every active connection passes the limit and the tie-break.',
      on: {
        'connection-manager.dial': { actions: 'requestDial' },
        'connection-manager.open-stream': [{ guard: 'connected', actions: 'forwardOpen' }, { actions: 'requestDial' }],
        'connection-manager.disconnect': { actions: 'disconnectPeer' },
        'connection.opened': [
          { guard: 'overLimit', actions: 'closeArriving' },
          { guard: 'existingWins', actions: 'closeArriving' },
          { actions: ['keepConnection', 'recordSighting'] },
        ],
        'dial.reply': [
          { guard: 'dialFailed', actions: 'answerDial' },
          { guard: 'alreadyKept', actions: 'answerDial' },
          { guard: 'overLimit', actions: ['closeArriving', 'answerDial'] },
          { guard: 'existingWins', actions: ['closeArriving', 'answerDial'] },
          { actions: ['keepConnection', 'recordSighting', 'answerDial'] },
        ],
        'inbound.rejected': [{ guard: 'misbehaving', actions: ['publishRejected', 'reportViolation'] }, { actions: 'publishRejected' }],
        'peer.misbehaved': { actions: 'reportViolation' },
        'connection-manager.stop': { target: 'stopping' },
      },
    },
    stopping: {
      description: 'Kept connections close gracefully (GoAway); connections that become active meanwhile are closed.',
      invoke: {
        src: 'closeConnections',
        input: ({ context }) => [...context.connections.values()],
        onDone: { target: 'stopped', actions: 'clearConnections' },
        onError: { target: 'stopped', actions: 'clearConnections' },
      },
      on: {
        'connection.opened': { actions: 'closeArriving' },
        'dial.reply': { actions: ['closeArriving', 'answerDialStopping'] },
      },
    },
    stopped: { type: 'final' },
  },
});
