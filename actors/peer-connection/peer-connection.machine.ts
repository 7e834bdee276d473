/**
 * A peer connection's state chart (pure; the connection watching, substream opening and close
 * are in `peer-connection.logic.ts`).
 *
 * active -> closing -> closed. The watcher (invoked for the actor's whole life) routes inbound
 * substreams, after negotiation against the registry, to their handlers, and reports pongs and
 * the end of the connection. While active, a keepalive Ping goes out every
 * `keepaliveInterval`; a ping unanswered when the next is due is missed, and `keepaliveMaxMissed`
 * misses in a row abort the connection (no GoAway: the peer is presumed gone, PROTOCOL.md
 * section 3). `closed` is reached only when the connection really ended.
 */
import { assign, enqueueActions, fromCallback, fromPromise, setup, type EventObject } from 'xstate';
import { KeepaliveTimeout } from '../../protocols/yamux/errors.js';
import type { PlainError } from '../../core/errors.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import type { ProtocolRegistry } from '../../channels/protocol-registry.js';
import type { YamuxStream } from '../../channels/yamux/stream.js';
import { callbackActor, type Mailbox } from '../mailbox.js';
import { notProvided as provided } from '../not-provided.js';
import type { OpeningReport, PeerConnectionClosed, PeerConnectionEmitted, PeerConnectionEvent, SubstreamReply, WatchReport } from './peer-connection.events.js';

/** Defaults of a peer connection; each is the PROTOCOL.md value. */
export const DEFAULT_PEER_CONNECTION_CONFIG = Object.freeze({
  /** Keepalive Ping period (section 3: 30 s); 0 turns keepalive off. */
  keepaliveIntervalMs: 30_000,
  /** Missed pings in a row that end the connection (section 3: 3). */
  keepaliveMaxMissed: 3,
  /** A whole substream negotiation (section 4: 10 s). */
  negotiationTimeoutMs: 10_000,
});

/** What a peer-connection actor is started with. */
export interface PeerConnectionInput {
  connection: PeerConnection;
  protocols: ProtocolRegistry;
  keepaliveIntervalMs?: number;
  keepaliveMaxMissed?: number;
  negotiationTimeoutMs?: number;
  /** Told `peer-connection.closed` (the connection manager). */
  owner?: Mailbox<PeerConnectionClosed>;
  /** This actor's key in its host (echoed in `peer-connection.closed`). */
  hostKey?: string;
}

/** A peer-connection actor's context. */
export interface PeerConnectionContext {
  input: PeerConnectionInput;
  connection: PeerConnection;
  /** A keepalive ping is out and unanswered. */
  pingOutstanding: boolean;
  /** Pings missed in a row. */
  missed: number;
  error: PlainError | undefined;
  /** Substream openings started (each opening's child is `open:<n>`). */
  openings: number;
}

/** Input of the connection watcher. */
export interface WatchInput {
  connection: PeerConnection;
  protocols: ProtocolRegistry;
  negotiationTimeoutMs: number;
}

/** Input of one substream opening. */
export interface OpenSubstreamInput {
  connection: PeerConnection;
  requestId: string;
  protocols: readonly string[];
  negotiationTimeoutMs: number;
  replyTo: Mailbox<SubstreamReply> | undefined;
  /** The peer-connection actor, told the outcome. */
  parent: Mailbox<OpeningReport>;
}

const notProvided = (name: string) => provided(name, 'peer-connection.logic.ts');

const maxMissed = (c: PeerConnectionContext) => c.input.keepaliveMaxMissed ?? DEFAULT_PEER_CONNECTION_CONFIG.keepaliveMaxMissed;
const negotiationTimeout = (c: PeerConnectionContext) => c.input.negotiationTimeoutMs ?? DEFAULT_PEER_CONNECTION_CONFIG.negotiationTimeoutMs;
const closedError: PlainError = { name: 'ConnectionClosing', message: 'the connection is closing', kind: 'transport' };

/** The peer-connection state chart (see the module comment). */
export const peerConnectionMachine = setup({
  types: {
    context: {} as PeerConnectionContext,
    events: {} as PeerConnectionEvent,
    input: {} as PeerConnectionInput,
    emitted: {} as PeerConnectionEmitted,
  },
  actors: {
    watchConnection: callbackActor<{ type: 'watch.never' }, WatchInput, WatchReport>(notProvided('watchConnection')),
    openSubstream: fromPromise<void, OpenSubstreamInput>(notProvided('openSubstream')),
    closeConnection: fromCallback<EventObject, PeerConnection>(notProvided('closeConnection')),
  },
  delays: {
    keepaliveInterval: ({ context }) => context.input.keepaliveIntervalMs ?? DEFAULT_PEER_CONNECTION_CONFIG.keepaliveIntervalMs,
  },
  guards: {
    /** The requester of a substream has ended (an outbox stopped meanwhile): nobody would take it. */
    requesterGone: ({ event }) => event.type === 'substream.opened' && event.replyTo !== undefined && event.replyTo.getSnapshot().status !== 'active',
    keepaliveOn: ({ context }) => (context.input.keepaliveIntervalMs ?? DEFAULT_PEER_CONNECTION_CONFIG.keepaliveIntervalMs) > 0,
    keepaliveExhausted: ({ context }) => context.pingOutstanding && context.missed + 1 >= maxMissed(context),
  },
  actions: {
    startOpening: enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'peer-connection.open-substream') return;
      // Numbered by this actor, not by the requester's id: ids of different requesters may
      // meet, and the end of one opening stops the child of its id (forgetOpening).
      const openings = context.openings + 1;
      enqueue.assign({ openings });
      enqueue.spawnChild('openSubstream', {
        id: `open:${openings}`,
        input: {
          connection: context.connection,
          requestId: event.requestId,
          protocols: event.protocols,
          negotiationTimeoutMs: negotiationTimeout(context),
          replyTo: event.replyTo,
          parent: self,
        },
      });
    }),
    /** An opening that ended (it answered before it did) leaves the children. */
    forgetOpening: enqueueActions(({ event, enqueue }) => {
      if ('actorId' in event && typeof event.actorId === 'string' && event.actorId.startsWith('open:')) enqueue.stopChild(event.actorId);
    }),
    answerOpening: enqueueActions(({ context, event, enqueue }) => {
      let reply: SubstreamReply;
      if (event.type === 'substream.opened') reply = { type: 'peer-connection.substream', requestId: event.requestId, ok: true, stream: event.stream, protocol: event.protocol };
      else if (event.type === 'substream.open-failed') reply = { type: 'peer-connection.substream', requestId: event.requestId, ok: false, error: event.error };
      else if (event.type === 'peer-connection.open-substream') reply = { type: 'peer-connection.substream', requestId: event.requestId, ok: false, error: context.error ?? closedError };
      else return;
      if (event.replyTo) enqueue.sendTo(event.replyTo, reply);
      else enqueue.emit(reply);
    }),
    /** A substream its requester can no longer take is closed (never left open unowned). */
    closeUnwantedStream: ({ event }) => {
      if (event.type === 'substream.opened') event.stream.destroy();
    },
    /** The negotiated substream goes to its protocol's handler (an unregistered one is refused); published as `substream.inbound`. */
    serveSubstream: ({ context, event }) => {
      if (event.type !== 'substream.negotiated') return;
      serve(context, event.stream, event.protocol);
    },
    publishSubstream: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'substream.negotiated') enqueue.emit({ type: 'substream.inbound', publicKey: context.connection.peer.publicKey, protocol: event.protocol });
    }),
    countPing: assign(({ context }) => ({ missed: context.pingOutstanding ? context.missed + 1 : 0, pingOutstanding: true })),
    sendPing: ({ context }) => {
      if (!context.connection.muxer.closed) context.connection.muxer.sendPing();
    },
    keepaliveAnswered: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'keepalive.answered') return;
      enqueue.assign({ pingOutstanding: false, missed: 0 });
      enqueue.emit({ type: 'peer-connection.rtt', publicKey: context.connection.peer.publicKey, ms: event.ms });
    }),
    recordKeepaliveTimeout: assign(({ context }) => ({ error: new KeepaliveTimeout(context.missed + 1).toPlain() })),
    /** Three missed pings: the peer is presumed gone (no GoAway, section 3). */
    abortConnection: ({ context }) => context.connection.muxer.abort(new KeepaliveTimeout(context.missed + 1)),
    recordEnd: assign({
      error: ({ context, event }) => (event.type === 'connection.ended' ? (context.error ?? event.error) : context.error),
    }),
    publishClosed: enqueueActions(({ context, enqueue }) => {
      const fact: PeerConnectionClosed = {
        type: 'peer-connection.closed',
        publicKey: context.connection.peer.publicKey,
        connection: context.connection,
        error: context.error,
        hostKey: context.input.hostKey ?? '',
      };
      enqueue.emit(fact);
      if (context.input.owner) enqueue.sendTo(context.input.owner, fact);
    }),
  },
}).createMachine({
  id: 'peerConnection',
  context: ({ input }) => ({ input, connection: input.connection, pingOutstanding: false, missed: 0, error: undefined, openings: 0 }),
  initial: 'active',
  invoke: {
    id: 'watcher',
    src: 'watchConnection',
    input: ({ context }) => ({ connection: context.connection, protocols: context.input.protocols, negotiationTimeoutMs: negotiationTimeout(context) }),
  },
  on: {
    'connection.ended': { target: '.closed', actions: 'recordEnd' },
    'substream.opened': [{ guard: 'requesterGone', actions: 'closeUnwantedStream' }, { actions: 'answerOpening' }],
    'substream.open-failed': { actions: 'answerOpening' },
    // A spawned child stays among the children until stopped: each opening, once it has
    // answered and ended, is forgotten (else a long-lived connection kept one per substream).
    'xstate.done.actor.*': { actions: 'forgetOpening' },
  },
  states: {
    active: {
      description: 'Substreams open both ways; keepalive pings go out while keepalive is on.',
      initial: 'choosing',
      on: {
        'peer-connection.open-substream': { actions: 'startOpening' },
        'substream.negotiated': { actions: ['serveSubstream', 'publishSubstream'] },
        'keepalive.answered': { actions: 'keepaliveAnswered' },
        'peer-connection.disconnect': { target: 'closing' },
      },
      states: {
        choosing: {
          always: [{ guard: 'keepaliveOn', target: 'pinging' }, { target: 'quiet' }],
        },
        pinging: {
          description: 'A Ping each interval; a ping still unanswered at the next tick is missed.',
          after: {
            keepaliveInterval: [
              { guard: 'keepaliveExhausted', target: '#peerConnection.closing', actions: ['recordKeepaliveTimeout', 'abortConnection'] },
              { target: 'pinging', reenter: true, actions: ['countPing', 'sendPing'] },
            ],
          },
        },
        quiet: {},
      },
    },
    closing: {
      description: 'GoAway(0), then open substreams get the grace period; closed when the connection ends.',
      invoke: { src: 'closeConnection', input: ({ context }) => context.connection },
      on: {
        'peer-connection.open-substream': { actions: 'answerOpening' },
        'substream.negotiated': { actions: ['serveSubstream', 'publishSubstream'] },
      },
    },
    closed: {
      type: 'final',
      entry: 'publishClosed',
    },
  },
});

/** Hands `stream` to the handler of `protocol`; a missing handler or a throw resets the stream only. */
function serve(context: PeerConnectionContext, stream: YamuxStream, protocol: string): void {
  const handler = context.input.protocols.get(protocol);
  // Unregistered since negotiation: refuse the stream.
  if (!handler) return void stream.destroy();
  const peer = context.connection.peer;
  try {
    void Promise.resolve(handler(stream, { protocol, peer, memory: context.connection.memory, connection: context.connection })).catch((err: unknown) => stream.destroy(err instanceof Error ? err : undefined));
  } catch (err) {
    stream.destroy(err instanceof Error ? err : undefined);
  }
}
