/**
 * A peer's outbox state chart (pure; opening and writing are in `outbox.logic.ts`).
 *
 * idle -> opening (dial if needed, open the messaging substream) -> open (the writer takes the
 * queue in order and settles each message when its write completed). A lost substream with
 * messages still queued is re-opened once (again after each substream that wrote something); a
 * failed opening fails every queued message. Idle for `idleTimeout`, the outbox tells its
 * owner (the messaging actor), which ends it (`outbox.stop`) when its queue is empty. `outbox.stop` ends it from any
 * state: the writer ends the substream, and messages already taken settle when their writes do.
 */
import { assign, enqueueActions, fromCallback, setup, type AnyActorRef } from 'xstate';
import type { Duplex } from 'node:stream';
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { OutboxEvent, OutboxReport } from './outbox.events.js';
import type { OutboxQueue } from './outbox-queue.js';
import { notProvided as provided } from '../not-provided.js';

/** Defaults of an outbox. */
export const DEFAULT_OUTBOX_CONFIG = Object.freeze({
  /** An outbox with no substream is dropped after this long idle (ms). */
  idleTimeoutMs: 60_000,
  /** Re-openings after a lost substream that wrote nothing, before the queue is failed. */
  maxReopens: 1,
});

/** What an outbox is started with. */
export interface OutboxInput {
  key: string;
  publicKey: PublicKey;
  /** The peer's queue (shared with the sender side). */
  queue: OutboxQueue;
  /** Opens the messaging substream to the peer (dialing it when not connected). */
  openStream: (publicKey: PublicKey, signal: AbortSignal) => Promise<Duplex>;
  /** The actor this outbox reports to (the messaging actor; the outbox runs under its host). */
  owner: AnyActorRef;
  idleTimeoutMs?: number;
}

/** An outbox's context. */
export interface OutboxContext {
  input: OutboxInput;
  stream: Duplex | undefined;
  reopens: number;
}

/** Input of the opener. */
export interface OpenerInput {
  publicKey: PublicKey;
  openStream: OutboxInput['openStream'];
}

/** Input of the writer. */
export interface WriterInput {
  stream: Duplex;
  queue: OutboxQueue;
}

const notProvided = (name: string) => provided(name, 'outbox.logic.ts');

/** The outbox state chart (see the module comment). */
export const outboxMachine = setup({
  types: {
    context: {} as OutboxContext,
    events: {} as OutboxEvent,
    input: {} as OutboxInput,
  },
  actors: {
    openMessagingStream: fromCallback<{ type: 'never' }, OpenerInput>(notProvided('openMessagingStream')),
    writeMessages: fromCallback<{ type: 'never' }, WriterInput>(notProvided('writeMessages')),
  },
  delays: {
    idleTimeout: ({ context }) => context.input.idleTimeoutMs ?? DEFAULT_OUTBOX_CONFIG.idleTimeoutMs,
  },
  guards: {
    hasMessages: ({ context }) => context.input.queue.length > 0,
    mayReopen: ({ context }) => context.input.queue.length > 0 && context.reopens < DEFAULT_OUTBOX_CONFIG.maxReopens,
  },
  actions: {
    keepStream: assign({ stream: ({ event }) => (event.type === 'outbox.opened' ? event.stream : undefined) }),
    resetReopens: assign({ reopens: 0 }),
    countReopen: assign({ reopens: ({ context }) => context.reopens + 1, stream: undefined }),
    failQueue: enqueueActions(({ context, event, enqueue }) => {
      const error: PlainError =
        (event.type === 'outbox.open-failed' || event.type === 'outbox.lost' ? event.error : undefined) ?? { name: 'SubstreamLost', message: 'the messaging substream closed', kind: 'transport' };
      enqueue(() => context.input.queue.fail(error));
      enqueue.assign({ reopens: 0, stream: undefined });
    }),
    forgetStream: assign({ stream: undefined }),
    reportIdle: enqueueActions(({ context, enqueue }) => {
      enqueue.sendTo(context.input.owner, { type: 'outbox.idle', key: context.input.key } satisfies OutboxReport);
    }),
  },
}).createMachine({
  id: 'outbox',
  context: ({ input }) => ({ input, stream: undefined, reopens: 0 }),
  initial: 'idle',
  on: { 'outbox.stop': { target: '.stopped' } },
  states: {
    idle: {
      description: 'No substream; a wake-up (the queue stopped being empty) opens one. Idle long enough, the owner may end this outbox.',
      after: { idleTimeout: { actions: 'reportIdle' } },
      on: { 'outbox.wake': { target: 'opening' } },
    },
    opening: {
      description: 'Dialing the peer if needed and opening the messaging substream.',
      invoke: { id: 'opener', src: 'openMessagingStream', input: ({ context }) => ({ publicKey: context.input.publicKey, openStream: context.input.openStream }) },
      on: {
        'outbox.opened': { target: 'open', actions: 'keepStream' },
        'outbox.open-failed': { target: 'idle', actions: 'failQueue' },
      },
    },
    open: {
      description: 'The writer takes the queue in order; each message is settled when written.',
      invoke: { id: 'writer', src: 'writeMessages', input: ({ context }) => ({ stream: context.stream!, queue: context.input.queue }) },
      on: {
        'outbox.flowing': { actions: 'resetReopens' },
        'outbox.lost': [
          { guard: 'mayReopen', target: 'opening', actions: 'countReopen' },
          { guard: 'hasMessages', target: 'idle', actions: 'failQueue' },
          { target: 'idle', actions: 'forgetStream' },
        ],
      },
    },
    stopped: {
      description: 'Ended by its owner (idle and empty, or messaging stopping).',
      type: 'final',
    },
  },
});
