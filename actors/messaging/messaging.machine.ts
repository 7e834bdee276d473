/**
 * The messaging state chart (pure): `messaging.wake` spawns the peer's outbox
 * (`outbox:<public key hex>`) or wakes it; an outbox that reports itself idle with an empty
 * queue is stopped and forgotten.
 */
import { enqueueActions, setup } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../../protocols/messaging/index.js';
import { outboxMachine, type OutboxInput } from '../outbox/outbox.machine.js';
import type { OutboxQueue } from '../outbox/outbox-queue.js';
import type { MessagingEmitted, MessagingEvent } from './messaging.events.js';

/** Defaults of messaging. */
export const DEFAULT_MESSAGING_CONFIG = Object.freeze({
  /** Largest body sent or received (PROTOCOL.md section 6: 8 MiB). */
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  /** Messages queued across all peers at most. */
  maxQueued: 16_384,
  /** Bytes of bodies queued across all peers at most (256 MiB). */
  maxQueuedBytes: 256 * 1024 * 1024,
  /** Messages queued for one peer at most. */
  maxQueuedPerPeer: 1024,
});

/** What the messaging actor is started with. */
export interface MessagingInput {
  openStream: OutboxInput['openStream'];
  idleTimeoutMs?: number;
}

/** The messaging actor's context. */
export interface MessagingContext {
  input: MessagingInput;
  /** Public key hex -> the running outbox's id and queue. */
  outboxes: Record<string, { id: string; queue: OutboxQueue }>;
}

/** The messaging state chart (see the module comment). */
export const messagingMachine = setup({
  types: {
    context: {} as MessagingContext,
    events: {} as MessagingEvent,
    input: {} as MessagingInput,
    emitted: {} as MessagingEmitted,
  },
  actors: { outbox: outboxMachine },
  actions: {
    wakeOutbox: enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'messaging.wake') return;
      const key = toHex(event.publicKey);
      const running = context.outboxes[key];
      if (running) {
        enqueue.sendTo(running.id, { type: 'outbox.wake' });
        return;
      }
      const id = `outbox:${key}`;
      const input: OutboxInput = {
        key,
        publicKey: event.publicKey,
        queue: event.queue,
        openStream: context.input.openStream,
        parent: self,
        ...(context.input.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: context.input.idleTimeoutMs }),
      };
      enqueue.spawnChild('outbox', { id, input });
      enqueue.assign({ outboxes: { ...context.outboxes, [key]: { id, queue: event.queue } } });
      enqueue.sendTo(id, { type: 'outbox.wake' });
    }),
    dropOutbox: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'outbox.idle') return;
      const running = context.outboxes[event.key];
      // Messages arrived since it reported: keep it (they have woken it).
      if (!running || running.queue.length > 0) return;
      enqueue.stopChild(running.id);
      const { [event.key]: _gone, ...outboxes } = context.outboxes;
      enqueue.assign({ outboxes });
      enqueue.emit({ type: 'messaging.outbox-dropped', key: event.key });
    }),
  },
}).createMachine({
  id: 'messaging',
  context: ({ input }) => ({ input, outboxes: {} }),
  initial: 'running',
  states: {
    running: {
      description: 'One outbox per peer with messages; idle ones are dropped.',
      on: {
        'messaging.wake': { actions: 'wakeOutbox' },
        'outbox.idle': { actions: 'dropOutbox' },
      },
    },
  },
});
