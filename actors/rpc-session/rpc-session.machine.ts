/**
 * A server RPC session's state chart (pure; the I/O is in `rpc-session.logic.ts`). One actor
 * per substream a peer opened for an RPC protocol (`rpcSession:<NodeId hex>:<n>`), run by the
 * RPC server's host. Its states mirror the sans-I/O core's (PROTOCOL.md section 8):
 *
 * handshake (15 s for `RpcSession`) -> admitting (the server decides its limits: 100 sessions in
 * all, 10 per peer; PROTOCOL_NOT_SUPPORTED with no service behind the id) -> idle (120 s without
 * a call: the server closes) <-> inCall (the handler runs; `deadline_ms` for its first frame)
 * <-> streaming (each item within `deadline_ms` of the last) -> closing (this side wrote its FIN:
 * 10 s for the client's) -> closed.
 *
 * The timers are the chart's (one named delay per waiting state, at the core's deadline); the
 * session's I/O feeds the core and reports where it went. A report of `rpc.rearm` (the timer
 * fired before the core's deadline, which a stream item moved) re-arms the state's timer, so a
 * stream of items costs no event per item. The I/O reports a turn's calls once the turn is over
 * (their net change): a call answered within the turn it arrived in (a fast unary handler) costs
 * no event; it only moves the core's idle deadline later, which the timer finds when it fires
 * (`rpc.rearm`). The chart's timer is never later than the core's deadline. A frame over 4 MiB
 * is reported to the server, which reports the peer to the connection manager.
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { PlainError } from '../../core/errors.js';
import { toHex } from '../../core/bytes.js';
import type { NodeId, PublicKey } from '../../core/keys.js';
import type { YamuxStream } from '../../channels/yamux/stream.js';
import type { RpcPeer } from '../../protocols/rpc/index.js';
import { callbackActor, type Mailbox } from '../mailbox.js';
import { notProvided } from '../not-provided.js';
import type { ServedRpcService } from '../rpc-server/services.js';
import type { RpcSessionEvent, RpcSessionReport, SessionIoCommand, SessionIoReport } from './rpc-session.events.js';

/** The waits of a server session (ms); each defaults to section 8's. */
export interface RpcSessionTimeouts {
  /** For `RpcSession` after the substream was accepted (15 s). */
  handshakeTimeoutMs?: number;
  /** Without a call before the server closes (120 s). */
  idleTimeoutMs?: number;
  /** For the client's FIN after this side's (10 s). */
  closeTimeoutMs?: number;
}

/** What the session's I/O counts as it goes (read by inspection and tests; no decision uses it). */
export interface RpcSessionStats {
  /** Calls started on this session (those answered within one turn included). */
  calls: number;
}

/** What a server session is started with. */
export interface RpcSessionInput extends RpcSessionTimeouts {
  /** Its key in the server's host. */
  key: string;
  /** The negotiated substream. */
  stream: YamuxStream;
  /** The negotiated protocol id. */
  protocol: string;
  /** The peer (its key and NodeId, as its identity proved them). */
  peer: { publicKey: PublicKey; nodeId: NodeId };
  /** The service behind the id (undefined: none; the session is refused). */
  service: ServedRpcService | undefined;
  /** The RPC server: admission, violations, the end. */
  owner: Mailbox<RpcSessionReport>;
  /** The node's clock (ms). */
  now: () => number;
}

/** Input of the session's I/O. */
export type SessionIoInput = Omit<RpcSessionInput, 'key' | 'owner' | 'protocol'> & { stats: RpcSessionStats };

/** A server session's context. */
export interface RpcSessionContext {
  input: RpcSessionInput;
  /** The core's next deadline (node clock, ms), as last reported. */
  dueAt: number | undefined;
  /** What the I/O counts (calls started). */
  stats: RpcSessionStats;
  /** The method of the call in flight, or of the last one the session saw in flight. */
  method: string | undefined;
  /** Why the session ended, if it ended badly. */
  error: PlainError | undefined;
}

/** The longest `setTimeout` delay: a peer may ask for a `deadline_ms` of 2^64-1. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Milliseconds until `dueAt` on the node's clock (0 when past; no deadline waits the longest delay). */
export function msUntil(dueAt: number | undefined, now: () => number): number {
  if (dueAt === undefined) return MAX_DELAY_MS;
  return Math.min(MAX_DELAY_MS, Math.max(0, dueAt - now()));
}

/** What the I/O needs of the session's input. */
function ioInput(input: RpcSessionInput, stats: RpcSessionStats): SessionIoInput {
  const { stream, peer, service, now, handshakeTimeoutMs, idleTimeoutMs, closeTimeoutMs } = input;
  return { stream, peer, service, now, handshakeTimeoutMs, idleTimeoutMs, closeTimeoutMs, stats };
}

const dueOf = (event: RpcSessionEvent, fallback: number | undefined) => ('dueAt' in event ? event.dueAt : fallback);

/** The server session state chart (see the module comment). */
export const rpcSessionMachine = setup({
  types: {
    context: {} as RpcSessionContext,
    events: {} as RpcSessionEvent,
    input: {} as RpcSessionInput,
  },
  actors: {
    sessionIo: callbackActor<SessionIoCommand, SessionIoInput, SessionIoReport>(notProvided('sessionIo', 'rpc-session.logic.ts')),
  },
  delays: {
    /** The core's deadline of the state: the handshake, idle, a call's frame, or the client's FIN. */
    coreDeadline: ({ context }) => msUntil(context.dueAt, context.input.now),
  },
  actions: {
    keepDue: assign(({ context, event }) => ({ dueAt: dueOf(event, context.dueAt) })),
    recordCall: assign(({ event }) => (event.type === 'rpc.call-started' ? { method: event.method, dueAt: event.dueAt } : {})),
    askAdmission: enqueueActions(({ context, enqueue }) => enqueue.sendTo(context.input.owner, { type: 'rpc-server.admit', key: context.input.key })),
    forwardAdmission: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'rpc-session.admitted') enqueue.sendTo('io', { type: 'io.admit', decision: event.decision });
    }),
    feedTimeout: enqueueActions(({ enqueue }) => enqueue.sendTo('io', { type: 'io.timeout' })),
    closeSession: enqueueActions(({ enqueue }) => enqueue.sendTo('io', { type: 'io.close' })),
    reportViolation: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'rpc.violation') enqueue.sendTo(context.input.owner, { type: 'rpc-server.violation', key: context.input.key, publicKey: context.input.peer.publicKey, error: event.error });
    }),
    recordEnd: assign(({ context, event }) => ({ error: event.type === 'rpc.closed' ? event.error : context.error, dueAt: undefined })),
    recordAbort: assign({ error: { name: 'RpcServerStopped', message: 'the rpc server stopped', kind: 'aborted' } as PlainError }),
    reportEnded: enqueueActions(({ context, enqueue }) => enqueue.sendTo(context.input.owner, { type: 'rpc-session.ended', key: context.input.key, error: context.error })),
  },
}).createMachine({
  id: 'rpcSession',
  context: ({ input }) => ({ input, dueAt: input.now() + (input.handshakeTimeoutMs ?? 15_000), stats: { calls: 0 }, method: undefined, error: undefined }),
  initial: 'handshake',
  invoke: {
    id: 'io',
    src: 'sessionIo',
    input: ({ context }) => ioInput(context.input, context.stats),
  },
  on: {
    'rpc.closing': { target: '.closing', actions: 'keepDue' },
    'rpc.closed': { target: '.closed', actions: 'recordEnd' },
    'rpc.violation': { actions: 'reportViolation' },
    'rpc-session.close': { actions: 'closeSession' },
    'rpc-session.abort': { target: '.closed', actions: 'recordAbort' },
  },
  states: {
    handshake: {
      description: 'Waiting for RpcSession (15 s, then reset).',
      after: { coreDeadline: { actions: 'feedTimeout' } },
      on: {
        'rpc.admission': { target: 'admitting' },
        'rpc.rearm': { target: 'handshake', reenter: true, actions: 'keepDue' },
      },
    },
    admitting: {
      description: 'Version 1 offered: the server decides its limits (accepted, or rejected and closed).',
      entry: 'askAdmission',
      on: {
        'rpc-session.admitted': { actions: 'forwardAdmission' },
        'rpc.accepted': { target: 'idle', actions: 'keepDue' },
      },
    },
    idle: {
      description: 'Between calls; pings are answered here. 120 s without a call: the server closes.',
      after: { coreDeadline: { actions: 'feedTimeout' } },
      on: {
        'rpc.call-started': { target: 'inCall', actions: 'recordCall' },
        'rpc.rearm': { target: 'idle', reenter: true, actions: 'keepDue' },
      },
    },
    inCall: {
      description: 'The handler runs; its first frame is due within deadline_ms (else Timeout).',
      after: { coreDeadline: { actions: 'feedTimeout' } },
      on: {
        'rpc.streaming': { target: 'streaming', actions: 'keepDue' },
        'rpc.call-ended': { target: 'idle', actions: 'keepDue' },
        'rpc.rearm': { target: 'inCall', reenter: true, actions: 'keepDue' },
      },
    },
    streaming: {
      description: 'A stream call wrote items; each next one is due within deadline_ms of the last.',
      after: { coreDeadline: { actions: 'feedTimeout' } },
      on: {
        'rpc.call-ended': { target: 'idle', actions: 'keepDue' },
        'rpc.rearm': { target: 'streaming', reenter: true, actions: 'keepDue' },
      },
    },
    closing: {
      description: 'This side wrote its FIN; the client has 10 s to answer with its own, then reset.',
      after: { coreDeadline: { actions: 'feedTimeout' } },
      on: {
        'rpc.closing': { actions: 'keepDue' },
        'rpc.rearm': { target: 'closing', reenter: true, actions: 'keepDue' },
        'rpc.call-ended': { actions: 'keepDue' },
      },
    },
    closed: {
      description: 'Closed both ways, or reset: the slot is free.',
      type: 'final',
      entry: 'reportEnded',
    },
  },
});

/** The peer's NodeId in hex, for actor ids. */
export const sessionActorId = (peer: RpcPeer, n: number) => `rpcSession:${toHex(peer.nodeId)}:${n}`;
