/**
 * A peer's outbox state chart (pure; the writer is in `outbox.logic.ts`).
 *
 * idle -> opening (the connection manager dials the peer if needed and opens the messaging
 * substream through its peer-connection actor) -> open (the writer takes the queue in order and
 * settles each message when its write completed). A lost substream with messages still queued
 * is re-opened once (again after each substream that wrote something); a failed opening fails
 * every queued message. Idle for `idleTimeout`, the outbox tells its owner (messaging), which
 * ends it (`outbox.stop`) when its queue is empty. `outbox.stop` ends it from any state: the
 * writer ends the substream, and messages already taken settle when their writes do. A
 * substream that arrives after the outbox moved on is closed.
 */
import type { Duplex } from 'node:stream';
import { assign, enqueueActions, setup } from 'xstate';
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import { MESSAGING_PROTOCOL } from '../../protocols/messaging/index.js';
import { callbackActor, type Mailbox } from '../mailbox.js';
import { notProvided } from '../not-provided.js';
import { component } from '../system.js';
import type { OutboxEvent, OutboxReport, WriterReport } from './outbox.events.js';
import type { OutboxQueue } from './outbox-queue.js';

/** Defaults of an outbox. */
export const DEFAULT_OUTBOX_CONFIG = Object.freeze({
  /** An outbox with no substream is dropped after this long idle (ms). */
  idleTimeoutMs: 60_000,
  /** Re-openings after a lost substream that wrote nothing, before the queue is failed. */
  maxReopens: 1,
  /** A dial and a substream opening, at most (ms): the connection manager's dial bound. */
  openTimeoutMs: 120_000,
});

/** What an outbox is started with. */
export interface OutboxInput {
  /** The peer's public key hex. */
  key: string;
  publicKey: PublicKey;
  /** The peer's queue (shared with the sender side). */
  queue: OutboxQueue;
  /** The actor this outbox reports to (the messaging actor; the outbox runs under its host). */
  owner: Mailbox<OutboxReport>;
  idleTimeoutMs?: number;
}

/** An outbox's context. */
export interface OutboxContext {
  input: OutboxInput;
  stream: Duplex | undefined;
  reopens: number;
  /** Substream requests made (the current one's id ends with this count). */
  requests: number;
}

/** Input of the writer. */
export interface WriterInput {
  stream: Duplex;
  queue: OutboxQueue;
}

const requestIdOf = (c: OutboxContext) => `outbox:${c.input.key}:${c.requests}`;
const lostError: PlainError = { name: 'SubstreamLost', message: 'the messaging substream closed', kind: 'transport' };

/** The outbox state chart (see the module comment). */
export const outboxMachine = setup({
  types: {
    context: {} as OutboxContext,
    events: {} as OutboxEvent,
    input: {} as OutboxInput,
  },
  actors: {
    writeMessages: callbackActor<{ type: 'writer.never' }, WriterInput, WriterReport>(notProvided('writeMessages', 'outbox.logic.ts')),
  },
  delays: {
    idleTimeout: ({ context }) => context.input.idleTimeoutMs ?? DEFAULT_OUTBOX_CONFIG.idleTimeoutMs,
    openTimeout: DEFAULT_OUTBOX_CONFIG.openTimeoutMs,
  },
  guards: {
    hasMessages: ({ context }) => context.input.queue.length > 0,
    mayReopen: ({ context }) => context.input.queue.length > 0 && context.reopens < DEFAULT_OUTBOX_CONFIG.maxReopens,
    /** The answer to this outbox's current request, with a substream. */
    opened: ({ context, event }) => event.type === 'peer-connection.substream' && event.requestId === requestIdOf(context) && event.ok,
    openFailed: ({ context, event }) => event.type === 'peer-connection.substream' && event.requestId === requestIdOf(context) && !event.ok,
  },
  actions: {
    /** The connection manager opens the substream (dialing first if needed) and answers this outbox. */
    requestStream: enqueueActions(({ context, enqueue, self, system }) => {
      const requests = context.requests + 1;
      enqueue.assign({ requests });
      const cm = component(system, 'connectionManager');
      const requestId = `outbox:${context.input.key}:${requests}`;
      if (cm) enqueue.sendTo(cm, { type: 'connection-manager.open-stream', requestId, publicKey: context.input.publicKey, protocols: [MESSAGING_PROTOCOL], replyTo: self });
      else enqueue.raise({ type: 'peer-connection.substream', requestId, ok: false, error: { name: 'ConnectionManagerStopped', message: 'the node has no running connection manager', kind: 'aborted' } });
    }),
    keepStream: assign({ stream: ({ event }) => (event.type === 'peer-connection.substream' && event.ok ? event.stream : undefined) }),
    /** A substream that came after this outbox moved on (a late answer) is closed. */
    closeLateStream: ({ event }) => {
      if (event.type === 'peer-connection.substream' && event.ok) event.stream.destroy();
    },
    resetReopens: assign({ reopens: 0 }),
    countReopen: assign({ reopens: ({ context }) => context.reopens + 1, stream: undefined }),
    /** Every queued message fails with the reason the substream could not be had. */
    failQueue: ({ context, event }) => {
      const error: PlainError =
        (event.type === 'peer-connection.substream' && !event.ok ? event.error : event.type === 'outbox.lost' ? event.error : undefined) ?? lostError;
      context.input.queue.fail(error);
    },
    failQueueTimedOut: ({ context }) => context.input.queue.fail({ name: 'OpenTimeout', message: 'the messaging substream was not opened in time', kind: 'timeout' }),
    forgetStream: assign({ stream: undefined, reopens: 0 }),
    reportIdle: enqueueActions(({ context, enqueue }) => enqueue.sendTo(context.input.owner, { type: 'outbox.idle', key: context.input.key })),
    reportEnded: enqueueActions(({ context, enqueue }) => enqueue.sendTo(context.input.owner, { type: 'outbox.ended', key: context.input.key })),
  },
}).createMachine({
  id: 'outbox',
  context: ({ input }) => ({ input, stream: undefined, reopens: 0, requests: 0 }),
  initial: 'idle',
  on: {
    'outbox.stop': { target: '.stopped' },
    'peer-connection.substream': { actions: 'closeLateStream' },
  },
  states: {
    idle: {
      description: 'No substream; a wake-up (the queue stopped being empty) opens one. Idle long enough, the owner may end this outbox.',
      after: { idleTimeout: { actions: 'reportIdle' } },
      on: { 'outbox.wake': { target: 'opening' } },
    },
    opening: {
      description: 'The connection manager dials the peer if needed and opens the messaging substream.',
      entry: 'requestStream',
      on: {
        'peer-connection.substream': [
          { guard: 'opened', target: 'open', actions: 'keepStream' },
          { guard: 'openFailed', target: 'idle', actions: ['failQueue', 'forgetStream'] },
          { actions: 'closeLateStream' },
        ],
      },
      after: { openTimeout: { target: 'idle', actions: ['failQueueTimedOut', 'forgetStream'] } },
    },
    open: {
      description: 'The writer takes the queue in order; each message is settled when written.',
      invoke: { id: 'writer', src: 'writeMessages', input: ({ context }) => ({ stream: context.stream!, queue: context.input.queue }) },
      on: {
        'outbox.flowing': { actions: 'resetReopens' },
        'outbox.lost': [
          { guard: 'mayReopen', target: 'opening', actions: 'countReopen' },
          { guard: 'hasMessages', target: 'idle', actions: ['failQueue', 'forgetStream'] },
          { target: 'idle', actions: 'forgetStream' },
        ],
      },
    },
    stopped: {
      description: 'Ended by its owner (idle and empty, or messaging stopping).',
      type: 'final',
      entry: 'reportEnded',
    },
  },
});
