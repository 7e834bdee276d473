/**
 * A peer's outbox state chart (pure; opening and writing are in `outbox.logic.ts`).
 *
 * idle -> opening (dial if needed, open the messaging substream) -> open (the writer writes the
 * queue in order, each message acknowledged when its write completed). A lost substream with
 * messages still queued is re-opened once; a failed opening fails every queued message. Idle
 * for `idleTimeout` with nothing queued, the outbox tells its parent, which stops it.
 */
import { assign, enqueueActions, fromCallback, setup, type AnyActorRef } from 'xstate';
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { Duplex } from 'node:stream';
import type { OutboxEvent, OutboxMessage, OutboxReport, WriterEvent } from './outbox.events.js';

/** Defaults of an outbox. */
export const DEFAULT_OUTBOX_CONFIG = Object.freeze({
  /** Messages queued for one peer at most; more fail at once with `QueueFull`. */
  maxQueue: 1024,
  /** An empty outbox with no substream is dropped after this long (ms). */
  idleTimeoutMs: 60_000,
  /** Re-openings after a lost substream before the queue is failed. */
  maxReopens: 1,
});

/** What an outbox is started with. */
export interface OutboxInput {
  key: string;
  publicKey: PublicKey;
  /** Opens the messaging substream to the peer (dialing it when not connected). */
  openStream: (publicKey: PublicKey, signal: AbortSignal) => Promise<Duplex>;
  parent: AnyActorRef;
  maxQueue?: number;
  idleTimeoutMs?: number;
}

/** An outbox's context. */
export interface OutboxContext {
  input: OutboxInput;
  /** Accepted and not yet written, in order. */
  queue: OutboxMessage[];
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
  queue: OutboxMessage[];
}

const notProvided = (name: string) => () => {
  throw new Error(`${name} is provided by outbox.logic.ts`);
};

const queueFull = (max: number): PlainError => ({ name: 'QueueFull', message: `${max} messages are already queued for this peer`, kind: 'transport' });

/** The outbox state chart (see the module comment). */
export const outboxMachine = setup({
  types: {
    context: {} as OutboxContext,
    events: {} as OutboxEvent,
    input: {} as OutboxInput,
  },
  actors: {
    openMessagingStream: fromCallback<{ type: 'never' }, OpenerInput>(notProvided('openMessagingStream')),
    writeMessages: fromCallback<WriterEvent, WriterInput>(notProvided('writeMessages')),
  },
  delays: {
    idleTimeout: ({ context }) => context.input.idleTimeoutMs ?? DEFAULT_OUTBOX_CONFIG.idleTimeoutMs,
  },
  guards: {
    queueFull: ({ context }) => context.queue.length >= (context.input.maxQueue ?? DEFAULT_OUTBOX_CONFIG.maxQueue),
    mayReopen: ({ context }) => context.queue.length > 0 && context.reopens < DEFAULT_OUTBOX_CONFIG.maxReopens,
  },
  actions: {
    refuse: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'outbox.enqueue') return;
      const report: OutboxReport = { type: 'outbox.settled', requestId: event.message.requestId, ok: false, error: queueFull(context.input.maxQueue ?? DEFAULT_OUTBOX_CONFIG.maxQueue) };
      enqueue.sendTo(context.input.parent, report);
    }),
    queue: assign({ queue: ({ context, event }) => (event.type === 'outbox.enqueue' ? [...context.queue, event.message] : context.queue) }),
    forwardToWriter: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'outbox.enqueue') enqueue.sendTo('writer', { type: 'write', message: event.message } as WriterEvent);
    }),
    keepStream: assign({ stream: ({ event }) => (event.type === 'outbox.opened' ? event.stream : undefined) }),
    acknowledge: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'outbox.written') return;
      enqueue.assign({ queue: context.queue.filter((m) => m.requestId !== event.requestId), reopens: 0 });
      enqueue.sendTo(context.input.parent, { type: 'outbox.settled', requestId: event.requestId, ok: true } satisfies OutboxReport);
    }),
    failQueue: enqueueActions(({ context, event, enqueue }) => {
      const error: PlainError =
        (event.type === 'outbox.open-failed' || event.type === 'outbox.lost' ? event.error : undefined) ?? { name: 'SubstreamLost', message: 'the messaging substream closed', kind: 'transport' };
      for (const m of context.queue) enqueue.sendTo(context.input.parent, { type: 'outbox.settled', requestId: m.requestId, ok: false, error } satisfies OutboxReport);
      enqueue.assign({ queue: [], reopens: 0, stream: undefined });
    }),
    countReopen: assign({ reopens: ({ context }) => context.reopens + 1, stream: undefined }),
    forgetStream: assign({ stream: undefined }),
    reportIdle: enqueueActions(({ context, enqueue }) => {
      enqueue.sendTo(context.input.parent, { type: 'outbox.idle', key: context.input.key } satisfies OutboxReport);
    }),
  },
}).createMachine({
  id: 'outbox',
  context: ({ input }) => ({ input, queue: [], stream: undefined, reopens: 0 }),
  initial: 'idle',
  states: {
    idle: {
      description: 'No substream and nothing queued; after the idle timeout the parent drops this outbox.',
      after: { idleTimeout: { actions: 'reportIdle' } },
      on: { 'outbox.enqueue': { target: 'opening', actions: 'queue' } },
    },
    opening: {
      description: 'Dialing the peer if needed and opening the messaging substream.',
      invoke: { id: 'opener', src: 'openMessagingStream', input: ({ context }) => ({ publicKey: context.input.publicKey, openStream: context.input.openStream }) },
      on: {
        'outbox.enqueue': [{ guard: 'queueFull', actions: 'refuse' }, { actions: 'queue' }],
        'outbox.opened': { target: 'open', actions: 'keepStream' },
        'outbox.open-failed': { target: 'idle', actions: 'failQueue' },
      },
    },
    open: {
      description: 'The writer writes the queue in order; each message is settled when written.',
      invoke: { id: 'writer', src: 'writeMessages', input: ({ context }) => ({ stream: context.stream!, queue: context.queue }) },
      on: {
        'outbox.enqueue': [{ guard: 'queueFull', actions: 'refuse' }, { actions: ['queue', 'forwardToWriter'] }],
        'outbox.written': { actions: 'acknowledge' },
        'outbox.lost': [
          { guard: 'mayReopen', target: 'opening', actions: 'countReopen' },
          { target: 'idle', actions: 'failQueue' },
        ],
      },
    },
  },
});
