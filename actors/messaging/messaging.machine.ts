/**
 * The messaging state chart (pure): running -> stopping -> stopped.
 *
 * running: `messaging.wake` starts the peer's outbox (`outbox:<NodeId hex>`) in the outbox host
 * or wakes it; an outbox that reports itself idle with an empty queue is ended and forgotten; a
 * crashed one is forgotten and reported. The inbound side's reports become a violation told to
 * the connection manager (which has connectivity ban the peer) and a published fact.
 * stopping: every outbox is told to end; once all have (or after `stopTimeout`), stopped.
 *
 * The outboxes run in a host (`actors/host.ts`), not as spawned children, so starting the n-th
 * one costs the same as the first.
 */
import { assign, enqueueActions, setup, type Actor } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { nodeIdOf } from '../../core/keys.js';
import { PMap } from '../../core/pmap.js';
import { HostDirectory, type HostCommandOf, type HostInput } from '../host.js';
import { callbackActor, type Mailbox } from '../mailbox.js';
import { notProvided } from '../not-provided.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../../protocols/messaging/index.js';
import { component } from '../system.js';
import { outboxMachine, type OutboxInput } from '../outbox/outbox.machine.js';
import type { OutboxQueue } from '../outbox/outbox-queue.js';
import type { MessagingEmitted, MessagingEvent, OutboxCrashed } from './messaging.events.js';

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
  /** Stopping waits this long at most for the outboxes to end (ms). */
  stopTimeoutMs: 5_000,
});

/** What the messaging actor is started with. */
export interface MessagingInput {
  idleTimeoutMs?: number;
}

/** The messaging actor's context. */
export interface MessagingContext {
  input: MessagingInput;
  /** Public key hex -> the queue of the peer's running outbox (`outbox:<NodeId hex>` in the host, keyed by public key hex). */
  outboxes: PMap<OutboxQueue>;
  /** The outboxes by key (kept by the host). */
  directory: HostDirectory<Actor<typeof outboxMachine>>;
  host: Mailbox<OutboxHostCommand>;
}

/** What the outbox host takes. */
export type OutboxHostCommand = HostCommandOf<typeof outboxMachine>;

/** The messaging state chart (see the module comment). */
export const messagingMachine = setup({
  types: {
    context: {} as MessagingContext,
    events: {} as MessagingEvent,
    input: {} as MessagingInput,
    emitted: {} as MessagingEmitted,
  },
  actors: {
    outboxHost: callbackActor<OutboxHostCommand, HostInput<typeof outboxMachine>, OutboxCrashed>(notProvided('outboxHost', 'messaging.logic.ts')),
  },
  delays: {
    stopTimeout: DEFAULT_MESSAGING_CONFIG.stopTimeoutMs,
  },
  guards: {
    outboxRunning: ({ context, event }) => event.type === 'messaging.wake' && context.outboxes.has(toHex(event.publicKey)),
    /** An idle outbox whose queue is still empty (messages that arrived since it reported have woken it). */
    idleAndEmpty: ({ context, event }) => event.type === 'outbox.idle' && context.outboxes.get(event.key)?.length === 0,
    /** Every outbox told to end has ended (or crashed). */
    allEnded: ({ context }) => context.outboxes.size === 0,
  },
  actions: {
    startOutbox: enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'messaging.wake') return;
      const key = toHex(event.publicKey);
      const input: OutboxInput = {
        key,
        publicKey: event.publicKey,
        queue: event.queue,
        owner: self,
        ...(context.input.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: context.input.idleTimeoutMs }),
      };
      enqueue.sendTo(context.host, { type: 'host.start', key, id: `outbox:${toHex(nodeIdOf(event.publicKey))}`, input });
      enqueue.assign({ outboxes: context.outboxes.set(key, event.queue) });
    }),
    wakeOutbox: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'messaging.wake') enqueue.sendTo(context.host, { type: 'host.send', key: toHex(event.publicKey), event: { type: 'outbox.wake' } });
    }),
    dropOutbox: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'outbox.idle') return;
      enqueue.sendTo(context.host, { type: 'host.send', key: event.key, event: { type: 'outbox.stop' } });
      enqueue.sendTo(context.host, { type: 'host.release', key: event.key });
      enqueue.assign({ outboxes: context.outboxes.delete(event.key) });
      enqueue.emit({ type: 'messaging.outbox-dropped', key: event.key });
    }),
    forgetCrashed: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'outbox.crashed') return;
      // One ended already (it crashed while ending) leaves the peer's newer outbox alone.
      const queueLost = event.hosted && context.outboxes.has(event.key);
      if (queueLost) enqueue.assign({ outboxes: context.outboxes.delete(event.key) });
      enqueue.emit({ type: 'messaging.outbox-crashed', key: event.key, queueLost, error: event.error });
    }),
    /** An oversized frame: the connection manager hears of the violation (connectivity bans the peer). */
    reportViolation: enqueueActions(({ event, enqueue, system }) => {
      if (event.type !== 'messaging.violation') return;
      const cm = component(system, 'connectionManager');
      if (cm) enqueue.sendTo(cm, { type: 'peer.misbehaved', publicKey: event.publicKey, error: event.error });
    }),
    publishTruncated: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'messaging.truncated') enqueue.emit({ type: 'message.truncated', from: event.publicKey, lostBytes: event.lostBytes });
    }),
    /** Every outbox is told to end (its writer ends its substream); each reports `outbox.ended`. */
    endOutboxes: enqueueActions(({ context, enqueue }) => {
      for (const key of context.outboxes.keys()) enqueue.sendTo(context.host, { type: 'host.send', key, event: { type: 'outbox.stop' } });
    }),
    forgetEnded: assign(({ context, event }) => (event.type === 'outbox.ended' ? { outboxes: context.outboxes.delete(event.key) } : {})),
  },
}).createMachine({
  id: 'messaging',
  context: ({ input, spawn }) => {
    const directory = new HostDirectory<Actor<typeof outboxMachine>>();
    return { input, outboxes: PMap.empty(), directory, host: spawn('outboxHost', { id: 'outboxes', input: { directory } }) };
  },
  initial: 'running',
  on: {
    'messaging.violation': { actions: 'reportViolation' },
    'messaging.truncated': { actions: 'publishTruncated' },
    'outbox.crashed': { actions: 'forgetCrashed' },
  },
  states: {
    running: {
      description: 'One outbox per peer with messages; idle ones are ended.',
      on: {
        'messaging.wake': [{ guard: 'outboxRunning', actions: 'wakeOutbox' }, { actions: ['startOutbox', 'wakeOutbox'] }],
        'outbox.idle': { guard: 'idleAndEmpty', actions: 'dropOutbox' },
        'messaging.stop': { target: 'stopping' },
      },
    },
    stopping: {
      description: 'Every outbox is told to end; stopped once all have, or after the stop timeout.',
      entry: 'endOutboxes',
      always: { guard: 'allEnded', target: 'stopped' },
      on: { 'outbox.ended': { actions: 'forgetEnded' } },
      after: { stopTimeout: { target: 'stopped' } },
    },
    stopped: { type: 'final' },
  },
});
