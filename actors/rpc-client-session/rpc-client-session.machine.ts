/**
 * A client RPC session's state chart (pure; the I/O is in `rpc-client-session.logic.ts`). One
 * actor per substream this node opens for an RPC protocol (`rpcClientSession:<NodeId hex>:<n>`),
 * run by the RPC client pool's host.
 *
 * opening (the connection manager dials the peer if need be and opens the substream) -> open:
 * handshake (10 s for the reply) -> idle (the pool's call, or a ping) <-> inCall (each frame
 * within `deadline_ms` + 60 s) <-> streaming, cancelling (2 s for the call's FIN), pinging (10 s)
 * -> closing (this side's FIN: 10 s for the server's) -> closed. These mirror the sans-I/O
 * core's states (PROTOCOL.md section 8); the core's waits are the chart's named delays, and a
 * report of `rpc.rearm` (the timer fired before the core's deadline, which a stream item moved)
 * re-arms the state's timer. As a call ends, the session takes the next call waiting in the
 * pool's queue; with none, it is idle and tells the pool, which gives it the next call. A call
 * that reaches it once it is no longer idle goes back to the pool. A unary call that ends takes
 * the next waiting call in the I/O itself (the data path: no event; the session stays inCall):
 * the new call's deadline is told (`rpc.rearm`) only when it is earlier than the one the timer
 * waits for, so the timer is never later than the core's deadline.
 *
 * A session idle for `idleTimeoutMs` (no call, no ping; default 30 s, 0 = never) closes itself:
 * the named delay `idleTimeout` of `idle` takes it to `closing` at once (this side's FIN, as
 * `rpc-client-session.close` does), so a call that reaches it afterwards is bounced to the pool
 * like any call reaching a session no longer idle; the pool forgets it when it has ended, and the
 * next call to the peer opens a new session.
 */
import { assign, enqueueActions, setup } from 'xstate';
import { toHex } from '../../core/bytes.js';
import type { PlainError } from '../../core/errors.js';
import { nodeIdOf, type PublicKey } from '../../core/keys.js';
import type { YamuxStream } from '../../channels/yamux/stream.js';
import { callbackActor, type Mailbox } from '../mailbox.js';
import { notProvided } from '../not-provided.js';
import { msUntil } from '../rpc-session/rpc-session.machine.js';
import type { CallQueue } from '../rpc-client/pools.js';
import type { RpcClientCall } from '../rpc-client/call.js';
import { CLIENT_DEADLINE_GRACE_MS, DEFAULT_CLIENT_DEADLINE_MS } from '../../protocols/rpc/index.js';
import { component } from '../system.js';
import type { ClientIoCommand, ClientIoReport, RpcClientSessionEmitted, RpcClientSessionEvent, RpcClientSessionReport, RpcPingReply } from './rpc-client-session.events.js';

/** The waits of a client session (ms); each defaults to section 8's. */
export interface RpcClientSessionTimeouts {
  /** For the handshake reply (10 s). */
  handshakeTimeoutMs?: number;
  /** For a ping's answer (10 s). */
  pingTimeoutMs?: number;
  /** For a cancelled call's FIN (2 s). */
  cancelTimeoutMs?: number;
  /** For the server's FIN after this side's (10 s). */
  closeTimeoutMs?: number;
  /** For the substream: a dial and a negotiation (120 s). */
  openTimeoutMs?: number;
  /** Idle (no call, no ping) this long, the session closes itself (30 s; 0 = never). */
  idleTimeoutMs?: number;
}

/** Defaults of a client session. */
export const DEFAULT_RPC_CLIENT_SESSION_CONFIG = Object.freeze({
  /** A dial (rounds over the peer's addresses) and the substream's negotiation, at most (ms). */
  openTimeoutMs: 120_000,
  /**
   * Idle this long (no call, no ping), a session closes itself (ms; 0 = never). 30 s: well under
   * the server's 120 s idle close, so it is the client that ends an idle session (its FIN is
   * written between calls by the side that makes them; the server's can cross a call being
   * written); long enough for a burst of calls seconds apart (a sync's rounds, DHT queries) to
   * reuse one session, while a session used once (the peer sync on connect) stops holding its
   * actors, its substream and the server's session slot after half a minute. Reopening costs a
   * substream negotiation and one handshake round trip.
   */
  idleTimeoutMs: 30_000,
});

/** The longest delay a timer takes (2^31 - 1 ms); an idle timeout of 0 waits this long and closes nothing. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** What a client session is started with. */
export interface RpcClientSessionInput extends RpcClientSessionTimeouts {
  /** Its key in the pool's host. */
  key: string;
  /** The server. */
  publicKey: PublicKey;
  /** The service's protocol id. */
  protocol: string;
  /** The pool's calls waiting for a session of this peer and protocol: the next is taken at the end of each call. */
  queue: CallQueue;
  /** The pool: idle, ended, violations. */
  owner: Mailbox<RpcClientSessionReport>;
  /** The node's clock (ms). */
  now: () => number;
}

/** What the session's I/O counts as it goes (read by inspection and tests; no decision uses it). */
export interface RpcClientSessionStats {
  /** Calls made on this session (those it took back to back in its I/O included). */
  calls: number;
}

/** Input of the session's I/O. */
export interface ClientIoInput extends Omit<RpcClientSessionTimeouts, 'openTimeoutMs'> {
  stream: YamuxStream;
  now: () => number;
  /** The pool's waiting calls: a unary call that ends takes the next one here. */
  queue: CallQueue;
  stats: RpcClientSessionStats;
}

/** A client session's context. */
export interface RpcClientSessionContext {
  input: RpcClientSessionInput;
  stream: YamuxStream | undefined;
  /** The core's next deadline (node clock, ms), as last reported. */
  dueAt: number | undefined;
  /** The server accepted the session. */
  established: boolean;
  /** Asked to close while the substream was being opened. */
  closeRequested: boolean;
  /** What the I/O counts (calls made). */
  stats: RpcClientSessionStats;
  /** The method of the call the chart last gave the I/O (`Echo`). */
  method: string | undefined;
  /** Openings asked for again because the connection went under the first. */
  reopens: number;
  /** Who waits for the ping in flight. */
  pinger: { requestId: string; replyTo: Mailbox<RpcPingReply> | undefined } | undefined;
  error: PlainError | undefined;
  rejectReason: number | undefined;
  /** The pool was told the session is over (a rejected one is told at once, before the FINs are exchanged). */
  reported: boolean;
}

/** When the first frame of `call` is due at the latest (`deadline_ms` + 60 s, section 8). */
const callDue = (c: RpcClientSessionContext, call: RpcClientCall) => c.input.now() + (call.deadlineMs ?? DEFAULT_CLIENT_DEADLINE_MS) + CLIENT_DEADLINE_GRACE_MS;

/** The session's idle timeout (ms; 0 = never). */
const idleTimeoutOf = (context: RpcClientSessionContext) => context.input.idleTimeoutMs ?? DEFAULT_RPC_CLIENT_SESSION_CONFIG.idleTimeoutMs;

const requestIdOf = (c: RpcClientSessionContext) => `rpc:${c.input.key}:${c.reopens}`;
/** Failures of an opening that mean the peer's connection was going (a new one may be dialed). */
const CONNECTION_WENT = new Set(['ConnectionClosed', 'ConnectionClosing', 'MuxerClosed']);
/** Openings asked for again after such a failure. */
const MAX_REOPENS = 1;
const dueOf = (event: RpcClientSessionEvent, fallback: number | undefined) => ('dueAt' in event ? event.dueAt : fallback);

/** The client session state chart (see the module comment). */
export const rpcClientSessionMachine = setup({
  types: {
    context: {} as RpcClientSessionContext,
    events: {} as RpcClientSessionEvent,
    input: {} as RpcClientSessionInput,
    emitted: {} as RpcClientSessionEmitted,
  },
  actors: {
    clientIo: callbackActor<ClientIoCommand, ClientIoInput, ClientIoReport>(notProvided('clientIo', 'rpc-client-session.logic.ts')),
  },
  delays: {
    /** The core's deadline of the state: the reply, a call's next frame, the cancel, the ping, the server's FIN. */
    coreDeadline: ({ context }) => msUntil(context.dueAt, context.input.now),
    openTimeout: ({ context }) => context.input.openTimeoutMs ?? DEFAULT_RPC_CLIENT_SESSION_CONFIG.openTimeoutMs,
    /** Idle this long, the session closes itself (0: never; the timer then waits the longest and the guard refuses). */
    idleTimeout: ({ context }) => idleTimeoutOf(context) || MAX_DELAY_MS,
  },
  guards: {
    /** The answer to this session's substream request, with a substream. */
    opened: ({ context, event }) => event.type === 'peer-connection.substream' && event.requestId === requestIdOf(context) && event.ok,
    openFailed: ({ context, event }) => event.type === 'peer-connection.substream' && event.requestId === requestIdOf(context) && !event.ok,
    closeRequested: ({ context }) => context.closeRequested,
    /**
     * The opening failed because the peer's connection was going (a connection that dropped is
     * replaced by a new dial): asked for once more.
     */
    mayReopen: ({ context, event }) =>
      event.type === 'peer-connection.substream' && event.requestId === requestIdOf(context) && !event.ok && CONNECTION_WENT.has(event.error.name) && context.reopens < MAX_REOPENS,
    /** A call waits in the pool's queue: this session takes it as its call ends. */
    callWaiting: ({ context }) => context.input.queue.hasWaiting(),
    /** An idle timeout is set (not 0): an idle session closes itself when it runs out. */
    closesWhenIdle: ({ context }) => idleTimeoutOf(context) > 0,
  },
  actions: {
    /** The connection manager opens the substream (dialing first when needed) and answers this session. */
    requestStream: enqueueActions(({ context, enqueue, self, system }) => {
      const cm = component(system, 'connectionManager');
      const requestId = requestIdOf(context);
      if (cm) enqueue.sendTo(cm, { type: 'connection-manager.open-stream', requestId, publicKey: context.input.publicKey, protocols: [context.input.protocol], replyTo: self });
      else enqueue.raise({ type: 'peer-connection.substream', requestId, ok: false, error: { name: 'ConnectionManagerStopped', message: 'the node has no running connection manager', kind: 'aborted' } });
    }),
    keepStream: assign({ stream: ({ event }) => (event.type === 'peer-connection.substream' && event.ok ? event.stream : undefined) }),
    /** A substream this session no longer wants (asked to close meanwhile, or not its own) is reset. */
    closeLateStream: ({ event }) => {
      if (event.type === 'peer-connection.substream' && event.ok) event.stream.destroy();
    },
    countReopen: assign(({ context }) => ({ reopens: context.reopens + 1 })),
    recordOpenFailure: assign(({ event }) => ({ error: event.type === 'peer-connection.substream' && !event.ok ? event.error : undefined })),
    recordOpenTimeout: assign({ error: { name: 'RpcOpenTimeout', message: 'the rpc substream was not opened in time', kind: 'timeout' } as PlainError }),
    recordCloseRequest: assign({ closeRequested: true }),
    recordAbort: assign(({ context }) => ({ error: context.error ?? ({ name: 'RpcClientStopped', message: 'the rpc client stopped', kind: 'aborted' } as PlainError) })),
    keepDue: assign(({ context, event }) => ({ dueAt: dueOf(event, context.dueAt) })),
    markEstablished: assign(({ event }) => ({ established: true, dueAt: dueOf(event, undefined) })),
    /** The call given by the pool goes to the I/O, which writes its request. */
    startCall: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'rpc-client-session.call') return;
      enqueue.assign({ method: event.call.method.name, dueAt: callDue(context, event.call) });
      enqueue.sendTo('io', { type: 'io.call', call: event.call });
    }),
    /** The next call waiting in the pool's queue goes to the I/O (none left after all: idle). */
    takeNextCall: enqueueActions(({ context, enqueue }) => {
      const call = context.input.queue.next();
      if (!call) return void enqueue.raise({ type: 'rpc.call-ended', dueAt: undefined });
      enqueue.assign({ method: call.method.name, dueAt: callDue(context, call) });
      enqueue.sendTo('io', { type: 'io.call', call });
    }),
    reportIdle: enqueueActions(({ context, enqueue }) => enqueue.sendTo(context.input.owner, { type: 'rpc-client-session.idle', key: context.input.key })),
    bounceCall: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'rpc-client-session.call') enqueue.sendTo(context.input.owner, { type: 'rpc-client-session.bounced', key: context.input.key, call: event.call });
    }),
    forwardPing: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'rpc-client-session.ping') return;
      enqueue.assign({ pinger: { requestId: event.requestId, replyTo: event.replyTo } });
      enqueue.sendTo('io', { type: 'io.ping' });
    }),
    refusePing: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'rpc-client-session.ping') return;
      const reply: RpcPingReply = { type: 'rpc-client-session.pong', requestId: event.requestId, ok: false, error: { name: 'RpcSessionBusy', message: 'the session is not between calls', kind: 'transport' } };
      if (event.replyTo) enqueue.sendTo(event.replyTo, reply);
      else enqueue.emit(reply);
    }),
    replyPing: enqueueActions(({ context, event, enqueue }) => {
      const p = context.pinger;
      if (!p) return;
      enqueue.assign({ pinger: undefined });
      const ok = event.type === 'rpc.ping-ended' && event.ok;
      const reply: RpcPingReply = ok
        ? { type: 'rpc-client-session.pong', requestId: p.requestId, ok: true }
        : { type: 'rpc-client-session.pong', requestId: p.requestId, ok: false, error: context.error ?? { name: 'RpcSessionBusy', message: 'the ping was not answered', kind: 'transport' } };
      if (p.replyTo) enqueue.sendTo(p.replyTo, reply);
      else enqueue.emit(reply);
    }),
    feedTimeout: enqueueActions(({ enqueue }) => enqueue.sendTo('io', { type: 'io.timeout' })),
    closeSession: enqueueActions(({ enqueue }) => enqueue.sendTo('io', { type: 'io.close' })),
    reportViolation: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'rpc.violation') enqueue.sendTo(context.input.owner, { type: 'rpc-client.violation', publicKey: context.input.publicKey, error: event.error });
    }),
    recordEnd: assign(({ context, event }) => (event.type === 'rpc.closed' ? { error: event.error ?? context.error, rejectReason: event.rejectReason, dueAt: undefined } : {})),
    recordRejection: assign(({ context, event }) =>
      event.type === 'rpc.rejected'
        ? { rejectReason: event.reason, dueAt: event.dueAt, error: { name: 'RpcSessionRejected', message: `the server rejected the rpc session (reason ${event.reason})`, kind: 'transport' } as PlainError }
        : { dueAt: context.dueAt },
    ),
    /** The pool hears of the end once (a rejected session is over for it before its FINs are exchanged). */
    reportEnded: enqueueActions(({ context, enqueue }) => {
      if (context.reported) return;
      enqueue.assign({ reported: true });
      enqueue.sendTo(context.input.owner, { type: 'rpc-client-session.ended', key: context.input.key, established: context.established, error: context.error, rejectReason: context.rejectReason });
    }),
  },
}).createMachine({
  id: 'rpcClientSession',
  context: ({ input }) => ({ input, stream: undefined, dueAt: undefined, established: false, closeRequested: false, stats: { calls: 0 }, method: undefined, reopens: 0, pinger: undefined, error: undefined, rejectReason: undefined, reported: false }),
  initial: 'opening',
  on: {
    'rpc-client-session.call': { actions: 'bounceCall' },
    'rpc-client-session.ping': { actions: 'refusePing' },
    'rpc-client-session.abort': { target: '.closed', actions: 'recordAbort' },
    'peer-connection.substream': { actions: 'closeLateStream' },
  },
  states: {
    opening: {
      description: 'The connection manager dials the peer if need be and opens the substream (once more if the connection went meanwhile).',
      entry: 'requestStream',
      on: {
        'peer-connection.substream': [
          { guard: 'closeRequested', target: 'closed', actions: 'closeLateStream' },
          { guard: 'opened', target: 'open', actions: 'keepStream' },
          { guard: 'mayReopen', target: 'opening', reenter: true, actions: 'countReopen' },
          { guard: 'openFailed', target: 'closed', actions: 'recordOpenFailure' },
          { actions: 'closeLateStream' },
        ],
        'rpc-client-session.close': { actions: 'recordCloseRequest' },
      },
      after: { openTimeout: { target: 'closed', actions: 'recordOpenTimeout' } },
    },
    open: {
      invoke: { id: 'io', src: 'clientIo', input: ({ context }) => ioInput(context) },
      initial: 'handshake',
      on: {
        'rpc.closing': { target: '.closing', actions: 'keepDue' },
        'rpc.closed': { target: 'closed', actions: 'recordEnd' },
        'rpc.violation': { actions: 'reportViolation' },
        'rpc-client-session.close': { actions: 'closeSession' },
      },
      states: {
        handshake: {
          description: 'RpcSession written; the reply is due within 10 s.',
          after: { coreDeadline: { actions: 'feedTimeout' } },
          on: {
            'rpc.handshaking': { target: 'handshake', reenter: true, actions: 'keepDue' },
            'rpc.rearm': { target: 'handshake', reenter: true, actions: 'keepDue' },
            'rpc.accepted': { target: 'idle', actions: 'markEstablished' },
            'rpc.rejected': { target: 'closing', actions: ['recordRejection', 'reportEnded'] },
          },
        },
        idle: {
          description: 'Between calls, nothing waiting: the pool is told, and gives the next call; pings are made here. Idle for idleTimeoutMs (30 s; 0 = never), the session closes itself (FIN).',
          entry: 'reportIdle',
          on: {
            'rpc-client-session.call': { target: 'inCall', actions: 'startCall' },
            'rpc-client-session.ping': { actions: 'forwardPing' },
            'rpc.pinging': { target: 'pinging', actions: 'keepDue' },
            'rpc.ping-ended': { actions: 'replyPing' },
          },
          after: { idleTimeout: { guard: 'closesWhenIdle', target: 'closing', actions: 'closeSession' } },
        },
        inCall: {
          description: 'A request written; each of its frames is due within deadline_ms + 60 s. At its end the next waiting call is taken.',
          after: { coreDeadline: { actions: 'feedTimeout' } },
          on: {
            'rpc.streaming': { target: 'streaming', actions: 'keepDue' },
            'rpc.cancelling': { target: 'cancelling', actions: 'keepDue' },
            'rpc.call-ended': [{ guard: 'callWaiting', target: 'inCall', reenter: true, actions: 'takeNextCall' }, { target: 'idle', actions: 'keepDue' }],
            'rpc.rearm': { target: 'inCall', reenter: true, actions: 'keepDue' },
          },
        },
        streaming: {
          description: 'Stream items arrive; each next one is due within deadline_ms + 60 s.',
          after: { coreDeadline: { actions: 'feedTimeout' } },
          on: {
            'rpc.cancelling': { target: 'cancelling', actions: 'keepDue' },
            'rpc.call-ended': [{ guard: 'callWaiting', target: 'inCall', actions: 'takeNextCall' }, { target: 'idle', actions: 'keepDue' }],
            'rpc.rearm': { target: 'streaming', reenter: true, actions: 'keepDue' },
          },
        },
        cancelling: {
          description: "The call was cancelled (FIN request); its frames are dropped up to its FIN, due within 2 s.",
          after: { coreDeadline: { actions: 'feedTimeout' } },
          on: {
            'rpc.call-ended': [{ guard: 'callWaiting', target: 'inCall', actions: 'takeNextCall' }, { target: 'idle', actions: 'keepDue' }],
            'rpc.rearm': { target: 'cancelling', reenter: true, actions: 'keepDue' },
          },
        },
        pinging: {
          description: 'A ping written; its answer is due within 10 s.',
          after: { coreDeadline: { actions: 'feedTimeout' } },
          on: {
            'rpc.ping-ended': { target: 'idle', actions: ['replyPing', 'keepDue'] },
            'rpc.rearm': { target: 'pinging', reenter: true, actions: 'keepDue' },
          },
        },
        closing: {
          description: "This side wrote its FIN; the server's is due within 10 s.",
          after: { coreDeadline: { actions: 'feedTimeout' } },
          on: {
            // Entered before the I/O told the deadline (the idle timeout): the timer waits for it.
            'rpc.closing': { target: 'closing', reenter: true, actions: 'keepDue' },
            'rpc.rearm': { target: 'closing', reenter: true, actions: 'keepDue' },
            'rpc.call-ended': { actions: 'keepDue' },
          },
        },
      },
    },
    closed: {
      description: 'Over: never opened, rejected, closed both ways, or reset.',
      type: 'final',
      entry: ['replyPing', 'reportEnded'],
    },
  },
});

function ioInput(context: RpcClientSessionContext): ClientIoInput {
  const { now, queue, handshakeTimeoutMs, pingTimeoutMs, cancelTimeoutMs, closeTimeoutMs } = context.input;
  return { stream: context.stream!, now, queue, stats: context.stats, handshakeTimeoutMs, pingTimeoutMs, cancelTimeoutMs, closeTimeoutMs };
}

/** The readable id of a client session actor. */
export const clientSessionActorId = (publicKey: PublicKey, n: number) => `rpcClientSession:${toHex(nodeIdOf(publicKey))}:${n}`;
