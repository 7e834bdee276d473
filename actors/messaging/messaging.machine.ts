/**
 * The messaging state chart (pure): each `messaging.send` is checked against the bounds (body
 * size, messages and bytes queued in total) and handed to the peer's outbox child
 * (`outbox:<public key hex>`, spawned on demand, stopped when idle); each outbox report settles
 * one message and answers its sender.
 */
import { enqueueActions, setup, type AnyActorRef } from 'xstate';
import { toHex } from '../../core/bytes.js';
import type { PlainError } from '../../core/errors.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../../protocols/messaging/index.js';
import { outboxMachine, type OutboxInput } from '../outbox/outbox.machine.js';
import type { MessageOutcome, MessagingEmitted, MessagingEvent } from './messaging.events.js';

/** Defaults of the messaging actor. */
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
  maxMessageBytes?: number;
  maxQueued?: number;
  maxQueuedBytes?: number;
  maxQueuedPerPeer?: number;
  idleTimeoutMs?: number;
}

interface Waiter {
  replyTo: AnyActorRef | undefined;
  bytes: number;
  /** The outbox's public key hex. */
  key: string;
}

/** The messaging actor's context. */
export interface MessagingContext {
  input: MessagingInput;
  /** Public key hex -> outbox child id. */
  outboxes: Record<string, string>;
  /** Request id -> who waits, and the bytes it holds in the queue. */
  waiting: Record<string, Waiter>;
  queued: number;
  queuedBytes: number;
}

const cfg = <K extends keyof typeof DEFAULT_MESSAGING_CONFIG>(c: MessagingContext, k: K): number => (c.input[k] as number | undefined) ?? DEFAULT_MESSAGING_CONFIG[k];

/** Why a send is refused before queueing, or undefined. */
function refusal(c: MessagingContext, bytes: number): PlainError | undefined {
  if (bytes > cfg(c, 'maxMessageBytes')) return { name: 'MessageTooLarge', message: `a message of ${bytes} bytes is above the maximum of ${cfg(c, 'maxMessageBytes')}`, kind: 'config' };
  if (c.queued >= cfg(c, 'maxQueued') || c.queuedBytes + bytes > cfg(c, 'maxQueuedBytes')) {
    return { name: 'QueueFull', message: `the messaging queue is full (${c.queued} messages, ${c.queuedBytes} bytes)`, kind: 'transport' };
  }
  return undefined;
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
    accept: enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'messaging.send') return;
      const refused = refusal(context, event.body.length);
      if (refused) {
        const reply: MessageOutcome = { type: 'messaging.outcome', requestId: event.requestId, ok: false, error: refused };
        if (event.replyTo) enqueue.sendTo(event.replyTo, reply);
        else enqueue.emit(reply);
        return;
      }
      const key = toHex(event.publicKey);
      let id = context.outboxes[key];
      if (!id) {
        id = `outbox:${key}`;
        const input: OutboxInput = {
          key,
          publicKey: event.publicKey,
          openStream: context.input.openStream,
          parent: self,
          maxQueue: cfg(context, 'maxQueuedPerPeer'),
          ...(context.input.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: context.input.idleTimeoutMs }),
        };
        enqueue.spawnChild('outbox', { id, input });
      }
      enqueue.assign({
        outboxes: { ...context.outboxes, [key]: id },
        waiting: { ...context.waiting, [event.requestId]: { replyTo: event.replyTo, bytes: event.body.length, key } },
        queued: context.queued + 1,
        queuedBytes: context.queuedBytes + event.body.length,
      });
      enqueue.sendTo(id, { type: 'outbox.enqueue', message: { requestId: event.requestId, body: event.body } });
    }),
    settle: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'outbox.settled') return;
      const waiter = context.waiting[event.requestId];
      if (!waiter) return;
      const { [event.requestId]: _done, ...waiting } = context.waiting;
      enqueue.assign({ waiting, queued: context.queued - 1, queuedBytes: context.queuedBytes - waiter.bytes });
      const reply: MessageOutcome = event.ok
        ? { type: 'messaging.outcome', requestId: event.requestId, ok: true }
        : { type: 'messaging.outcome', requestId: event.requestId, ok: false, error: event.error };
      if (waiter.replyTo) enqueue.sendTo(waiter.replyTo, reply);
      else enqueue.emit(reply);
    }),
    dropOutbox: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'outbox.idle') return;
      const id = context.outboxes[event.key];
      if (!id) return;
      // A message sent before the idle report reached us is on its way to the outbox: keep it.
      if (Object.values(context.waiting).some((w) => w.key === event.key)) return;
      enqueue.stopChild(id);
      const { [event.key]: _gone, ...outboxes } = context.outboxes;
      enqueue.assign({ outboxes });
    }),
  },
}).createMachine({
  id: 'messaging',
  context: ({ input }) => ({ input, outboxes: {}, waiting: {}, queued: 0, queuedBytes: 0 }),
  initial: 'running',
  states: {
    running: {
      description: 'Sends go to per-peer outboxes; their reports answer the senders.',
      on: {
        'messaging.send': { actions: 'accept' },
        'outbox.settled': { actions: 'settle' },
        'outbox.idle': { actions: 'dropOutbox' },
      },
    },
  },
});
