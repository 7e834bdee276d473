/**
 * Messaging's real side: the actor with its hosted outboxes; the sending side for code that is
 * not an actor (bounds, the outbound middleware, the per-peer queues: the data path stays out
 * of the mailboxes); and the inbound protocol handler (frames decoded, the inbound middleware,
 * a bounded inbox whose fullness stops reading the substream, so the yamux window pushes back
 * on the sender).
 */
import { BoundedInbox } from '../../core/bounded-inbox.js';
import type { ActorRefFrom } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { InternalError, toPlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { ProtocolHandler } from '../../channels/protocol-registry.js';
import type { YamuxStream } from '../../channels/yamux/stream.js';
import { MessageFrameDecoder, MessageTooLarge } from '../../protocols/messaging/index.js';
import { actorHost } from '../host.js';
import type { Mailbox } from '../mailbox.js';
import { outboxLogic } from '../outbox/outbox.logic.js';
import { OutboxQueue, type SendOutcome } from '../outbox/outbox-queue.js';
import type { MessagingInbox, OutboxCrashed } from './messaging.events.js';
import { DEFAULT_MESSAGING_CONFIG, messagingMachine } from './messaging.machine.js';

/**
 * Runs the outboxes (`actors/host.ts`). A crashed outbox is reported as `outbox.crashed`; when
 * the host stops with messaging, each outbox still running is ended (`outbox.stop`).
 */
export const outboxHost = actorHost(outboxLogic, {
  onHostStop: { type: 'outbox.stop' },
  crashed: (key, err, hosted): OutboxCrashed => ({ type: 'outbox.crashed', key, hosted, error: { name: 'OutboxCrashed', message: String(err), kind: 'internal' } }),
});

/** The messaging machine with its real outboxes. */
export const messagingLogic = messagingMachine.provide({ actors: { outboxHost } });
/** A messaging actor (the node's `messaging` component). */
export type MessagingRef = ActorRefFrom<typeof messagingLogic>;

/** A message on its way out, as the outbound middleware sees it. */
export interface OutboundMessage {
  to: PublicKey;
  body: Uint8Array;
}
/** A message received, as the inbound middleware and the application see it. */
export interface InboundMessage {
  from: PublicKey;
  body: Uint8Array;
}
/** Outbound middleware: returns the message to send (maybe changed), or undefined to drop it. */
export type OutboundMiddleware = (message: OutboundMessage) => OutboundMessage | undefined | Promise<OutboundMessage | undefined>;
/** Inbound middleware: returns the message to deliver (maybe changed), or undefined to drop it. */
export type InboundMiddleware = (message: InboundMessage) => InboundMessage | undefined | Promise<InboundMessage | undefined>;

/** Runs middleware in order; undefined as soon as one drops the message. */
export async function runPipeline<M>(message: M, middleware: ReadonlyArray<(m: M) => M | undefined | Promise<M | undefined>>): Promise<M | undefined> {
  let current: M | undefined = message;
  for (const step of middleware) {
    if (current === undefined) return undefined;
    current = await step(current);
  }
  return current;
}

/** Construction options of {@link Messaging}. */
export interface MessagingInit {
  maxMessageBytes?: number;
  maxQueued?: number;
  maxQueuedBytes?: number;
  maxQueuedPerPeer?: number;
  outbound?: readonly OutboundMiddleware[];
  /** Where a crashed outbox is reported (default: stderr). */
  onError?: (err: unknown) => void;
}

/**
 * The sending side: bounds checked at once (body size, messages and bytes in total, messages
 * per peer), the message queued for its peer, and the messaging actor woken when a peer's queue
 * stops being empty. Every accepted message settles exactly once: written, or failed with a
 * reason. It sends to the messaging actor once {@link attach}ed to it.
 */
export class Messaging {
  readonly #queues = new Map<string, OutboxQueue>();
  readonly #init: MessagingInit;
  /** The bounds, resolved once against the defaults. */
  readonly #limits: { maxMessageBytes: number; maxQueued: number; maxQueuedBytes: number; maxQueuedPerPeer: number };
  #actor: Mailbox<MessagingInbox> | undefined;
  #queued = 0;
  #queuedBytes = 0;
  #stopped = false;

  constructor(init: MessagingInit = {}) {
    this.#init = init;
    this.#limits = {
      maxMessageBytes: init.maxMessageBytes ?? DEFAULT_MESSAGING_CONFIG.maxMessageBytes,
      maxQueued: init.maxQueued ?? DEFAULT_MESSAGING_CONFIG.maxQueued,
      maxQueuedBytes: init.maxQueuedBytes ?? DEFAULT_MESSAGING_CONFIG.maxQueuedBytes,
      maxQueuedPerPeer: init.maxQueuedPerPeer ?? DEFAULT_MESSAGING_CONFIG.maxQueuedPerPeer,
    };
  }

  /** Binds this sending side to the messaging actor: wake-ups go to it, and its reports come back. */
  attach(actor: MessagingRef): void {
    this.#actor = actor;
    // A dropped outbox's queue is empty: forget it (a new one is made on the next send).
    actor.on('messaging.outbox-dropped', (e) => {
      if (this.#queues.get(e.key)?.length === 0) this.#queues.delete(e.key);
    });
    // A crashed outbox (a bug) can no longer write its queue: those messages fail, and the next
    // send to that peer starts a new outbox with a new queue.
    actor.on('messaging.outbox-crashed', (e) => {
      // An outbox that crashed after it was ended had an empty queue; the peer's queue now
      // belongs to a newer outbox.
      const queue = e.queueLost ? this.#queues.get(e.key) : undefined;
      if (queue) {
        this.#queues.delete(e.key);
        queue.onPush(undefined);
        queue.fail(e.error);
      }
      (this.#init.onError ?? ((err) => console.error('messaging:', err)))(new InternalError(`the outbox of peer ${e.key.slice(0, 16)}... crashed: ${e.error.message}`));
    });
  }

  /** Messages accepted and not settled, in total. */
  get queued(): number {
    return this.#queued;
  }

  /** Sends one message (through the outbound middleware); resolves with its outcome, never rejects. */
  async send(to: PublicKey, body: Uint8Array): Promise<SendOutcome> {
    const outbound = this.#init.outbound ?? [];
    let message: OutboundMessage | undefined = { to, body };
    if (outbound.length > 0) {
      try {
        message = await runPipeline(message, outbound);
      } catch (err) {
        return { ok: false, error: toPlainError(err) };
      }
      if (message === undefined) return { ok: false, error: { name: 'MessageDropped', message: 'an outbound middleware dropped the message', kind: 'config' } };
    }
    return this.#enqueue(message.to, message.body);
  }

  #enqueue(to: PublicKey, body: Uint8Array): Promise<SendOutcome> {
    const limits = this.#limits;
    const max = limits.maxMessageBytes;
    const actor = this.#actor;
    if (this.#stopped || !actor) return Promise.resolve({ ok: false, error: { name: 'MessagingStopped', message: this.#stopped ? 'the node is stopping' : 'messaging is not running', kind: 'aborted' } });
    if (body.length > max) return Promise.resolve({ ok: false, error: { name: 'MessageTooLarge', message: `a message of ${body.length} bytes is above the maximum of ${max}`, kind: 'config' } });
    if (this.#queued >= limits.maxQueued || this.#queuedBytes + body.length > limits.maxQueuedBytes) {
      return Promise.resolve({ ok: false, error: { name: 'QueueFull', message: `the messaging queue is full (${this.#queued} messages, ${this.#queuedBytes} bytes)`, kind: 'transport' } });
    }
    const key = toHex(to);
    let queue = this.#queues.get(key);
    if (!queue) this.#queues.set(key, (queue = new OutboxQueue(limits.maxQueuedPerPeer)));
    return new Promise<SendOutcome>((resolve) => {
      const wasEmpty = queue.length === 0;
      const accepted = queue.push({
        body,
        settle: (outcome) => {
          this.#queued--;
          this.#queuedBytes -= body.length;
          resolve(outcome);
        },
      });
      if (!accepted) return resolve({ ok: false, error: { name: 'QueueFull', message: `${queue.max} messages are already queued for this peer`, kind: 'transport' } });
      this.#queued++;
      this.#queuedBytes += body.length;
      // The outbox is told only when no writer is taking from the queue (the data path stays out of the mailbox).
      if (wasEmpty && !queue.hasWriter) actor.send({ type: 'messaging.wake', publicKey: to, queue });
    });
  }

  /** Refuses new messages; those still queued fail with `MessagingStopped` (the actor ends the outboxes). */
  stop(): void {
    this.#stopped = true;
    for (const q of this.#queues.values()) q.fail({ name: 'MessagingStopped', message: 'the node stopped before the message was written', kind: 'aborted' });
  }
}

/** A bounded queue of received messages with an async iterator; `push` waits while it is full. */
export class Inbox extends BoundedInbox<InboundMessage> {
  /** At most `capacity` messages and `maxBytes` bytes of bodies wait (one message of any size when it is empty). */
  constructor(capacity: number, maxBytes = Infinity) {
    super(capacity, maxBytes, (m) => m.body.length);
  }
}

/**
 * The `/tari/messaging/0.1.0` handler: frames in, messages through the middleware into
 * `deliver`. What else it sees goes to the messaging actor (`reports()`, undefined while the
 * node is not running): an oversized frame (a violation: the substream is reset) and a
 * substream that ended mid-frame (that partial message is lost, no violation).
 */
export function messagingHandler(options: {
  maxMessageBytes: number;
  middleware: readonly InboundMiddleware[];
  /** Hands a message on: undefined when it was taken at once, a promise while the taker is full. */
  deliver: (message: InboundMessage) => Promise<void> | undefined;
  reports: () => Mailbox<MessagingInbox> | undefined;
}): ProtocolHandler {
  /**
   * Public key hex -> connection -> the peer's inbound messaging substream on it: one per peer and
   * connection (a second on the same connection is reset). A peer briefly has two connections
   * while the older closes (a fault broke it, or the simultaneous-dial tie-break replaced it): a
   * substream on the newer one is served while the older one's last bytes still arrive. The
   * connection manager keeps a peer to one connection, so this stays at one or two per peer.
   */
  const inbound = new Map<string, Map<object | undefined, YamuxStream>>();
  return (stream, { peer, memory, connection }) => {
    const key = toHex(peer.publicKey);
    let streams = inbound.get(key);
    const held = streams?.get(connection);
    if (held !== undefined && !held.destroyed) return void stream.destroy(); // RST: one per peer and connection
    if (streams === undefined) inbound.set(key, (streams = new Map()));
    streams.set(connection, stream);
    const decoder = new MessageFrameDecoder(options.maxMessageBytes);
    let chain = Promise.resolve();
    // What this substream makes the node hold (the decoder's partial frame and the bodies not yet
    // delivered) is charged to the connection's budget: past it, the connection is not read.
    let charged = 0;
    let undelivered = 0;
    const recharge = () => {
      const held = decoder.retained + undelivered;
      if (held > charged) memory?.charge(held - charged);
      else if (held < charged) memory?.release(charged - held);
      charged = held;
    };
    stream.on('error', () => {});
    stream.once('close', () => {
      if (streams.get(connection) === stream) streams.delete(connection);
      if (streams.size === 0 && inbound.get(key) === streams) inbound.delete(key);
      memory?.release(charged);
      charged = 0;
    });
    stream.on('data', (chunk: Buffer) => {
      let bodies: Uint8Array[];
      try {
        bodies = decoder.push(chunk);
      } catch (err) {
        stream.destroy(); // RST
        if (err instanceof MessageTooLarge) options.reports()?.send({ type: 'messaging.violation', publicKey: peer.publicKey, error: err.toPlain() });
        return;
      }
      for (const body of bodies) undelivered += body.length;
      recharge();
      if (bodies.length === 0) return;
      // Without middleware, bodies are delivered here, in order, while the taker takes them at
      // once (no pause, no promise per chunk: the substream keeps flowing).
      let next = 0;
      /** The taker's promise for the body it could not take at once (still charged until taken). */
      let waiting: Promise<void> | undefined;
      let waitingBytes = 0;
      if (options.middleware.length === 0) {
        while (next < bodies.length) {
          const body = bodies[next++]!;
          waiting = options.deliver({ from: peer.publicKey, body });
          if (waiting !== undefined) {
            waitingBytes = body.length;
            break;
          }
          undelivered -= body.length;
        }
        recharge();
        if (waiting === undefined) return;
      }
      // Delivery is in order; while it waits (middleware, a full inbox) the substream is not read.
      const rest = bodies.slice(next);
      stream.pause();
      chain = chain.then(async () => {
        if (waiting !== undefined) {
          await waiting;
          undelivered -= waitingBytes;
          if (!stream.destroyed) recharge();
        }
        for (const body of rest) {
          const message = options.middleware.length === 0 ? { from: peer.publicKey, body } : await runPipeline<InboundMessage>({ from: peer.publicKey, body }, options.middleware);
          if (message !== undefined) await options.deliver(message);
          undelivered -= body.length;
          if (!stream.destroyed) recharge();
        }
        if (!stream.destroyed) stream.resume();
      }).catch(() => void stream.destroy()); // a middleware that throws ends this substream only
    });
    stream.on('end', () => {
      const lost = decoder.end();
      recharge();
      if (lost !== undefined) options.reports()?.send({ type: 'messaging.truncated', publicKey: peer.publicKey, lostBytes: lost });
      stream.end(); // the acceptor never writes: close our side too
    });
  };
}
