/**
 * The messaging state chart (pure): `messaging.wake` starts the peer's outbox
 * (`outbox:<public key hex>`) in the outbox host or wakes it; an outbox that reports itself idle
 * with an empty queue is ended and forgotten. The outboxes run in a host (`actors/host.ts`), not
 * as spawned children, so starting the n-th one costs the same as the first.
 */
import { enqueueActions, fromCallback, setup } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { PMap } from '../../core/pmap.js';
import type { HostCommandOf, HostInput } from '../host.js';
import { notProvided } from '../not-provided.js';
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
  /** Public key hex -> the queue of the peer's running outbox (`outbox:<key>` in the host). */
  outboxes: PMap<OutboxQueue>;
}

/** What the outbox host takes. */
export type OutboxHostCommand = HostCommandOf<typeof outboxMachine>;

const OUTBOX_PREFIX = 'outbox:';
const outboxId = (key: string) => OUTBOX_PREFIX + key;

/** The messaging state chart (see the module comment). */
export const messagingMachine = setup({
  types: {
    context: {} as MessagingContext,
    events: {} as MessagingEvent,
    input: {} as MessagingInput,
    emitted: {} as MessagingEmitted,
  },
  actors: {
    outboxHost: fromCallback<OutboxHostCommand, HostInput>(notProvided('outboxHost', 'messaging.logic.ts')),
  },
  actions: {
    wakeOutbox: enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'messaging.wake') return;
      const key = toHex(event.publicKey);
      const id = outboxId(key);
      if (!context.outboxes.has(key)) {
        const input: OutboxInput = {
          key,
          publicKey: event.publicKey,
          queue: event.queue,
          openStream: context.input.openStream,
          owner: self,
          ...(context.input.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: context.input.idleTimeoutMs }),
        };
        enqueue.sendTo('outboxes', { type: 'host.start', id, input } satisfies OutboxHostCommand);
        enqueue.assign({ outboxes: context.outboxes.set(key, event.queue) });
      }
      enqueue.sendTo('outboxes', { type: 'host.send', id, event: { type: 'outbox.wake' } } satisfies OutboxHostCommand);
    }),
    dropOutbox: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'outbox.idle') return;
      const queue = context.outboxes.get(event.key);
      // Messages arrived since it reported: keep it (they have woken it).
      if (!queue || queue.length > 0) return;
      const id = outboxId(event.key);
      enqueue.sendTo('outboxes', { type: 'host.send', id, event: { type: 'outbox.stop' } } satisfies OutboxHostCommand);
      enqueue.sendTo('outboxes', { type: 'host.release', id } satisfies OutboxHostCommand);
      enqueue.assign({ outboxes: context.outboxes.delete(event.key) });
      enqueue.emit({ type: 'messaging.outbox-dropped', key: event.key });
    }),
    forgetCrashed: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'outbox.crashed') return;
      const key = event.id.slice(OUTBOX_PREFIX.length);
      // One ended already (it crashed while ending) leaves the peer's newer outbox alone.
      const queueLost = event.hosted && context.outboxes.has(key);
      if (queueLost) enqueue.assign({ outboxes: context.outboxes.delete(key) });
      enqueue.emit({ type: 'messaging.outbox-crashed', key, queueLost, error: event.error });
    }),
  },
}).createMachine({
  id: 'messaging',
  context: ({ input }) => ({ input, outboxes: PMap.empty() }),
  invoke: { id: 'outboxes', src: 'outboxHost', input: ({ self }) => ({ parent: self }) },
  initial: 'running',
  states: {
    running: {
      description: 'One outbox per peer with messages; idle ones are ended.',
      on: {
        'messaging.wake': { actions: 'wakeOutbox' },
        'outbox.idle': { actions: 'dropOutbox' },
        'outbox.crashed': { actions: 'forgetCrashed' },
      },
    },
  },
});
