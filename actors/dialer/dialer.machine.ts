/**
 * The dialer's state chart (pure; each dial is an actor of its own, `actors/dial`).
 *
 * running: a `dial.request` joins the dial already running for that peer, or starts a dial
 * actor `dial:<NodeId hex>`; the dial's report answers every request that waited on it, and the
 * finished dial is let go. `dial.cancel` stops a dial (its transport dial aborts) and answers
 * its waiters with an abort. `dialer.stop` cancels every dial the same way and ends.
 */
import { assign, enqueueActions, setup } from 'xstate';
import { toHex } from '../../core/bytes.js';
import type { PlainError } from '../../core/errors.js';
import { nodeIdOf } from '../../core/keys.js';
import { PMap } from '../../core/pmap.js';
import type { UpgradeConfig } from '../../channels/upgrade.js';
import type { Transport } from '../../transports/transport.js';
import { dialMachine } from '../dial/dial.machine.js';
import type { Mailbox } from '../mailbox.js';
import type { DialerEmitted, DialerEvent, DialReply } from './dialer.events.js';

/** What the dialer is started with (every dial gets these settings). */
export interface DialerInput {
  transports: readonly Transport[];
  upgrade: UpgradeConfig;
  /** Per address attempt, transport connect and upgrade together (ms, default 30 000). */
  attemptTimeoutMs?: number;
  /** Rounds over the address list (default 3). */
  rounds?: number;
  /** Backoff before the second round (ms, default 1 000), doubled each round up to 30 000. */
  backoffMs?: number;
}

interface Waiter {
  requestId: string;
  replyTo: Mailbox<DialReply> | undefined;
}

/** The dialer's context. */
export interface DialerContext {
  input: DialerInput;
  /** Public key hex -> the requests waiting on that peer's dial (persistent: O(log n) updates). */
  pending: PMap<readonly Waiter[]>;
}

const aborted: PlainError = { name: 'DialAborted', message: 'the dial was cancelled', kind: 'aborted' };

/** The id of the dial actor of a peer. */
export const dialId = (publicKey: Uint8Array) => `dial:${toHex(nodeIdOf(publicKey))}`;

/** The dialer state chart (see the module comment). */
export const dialerMachine = setup({
  types: {
    context: {} as DialerContext,
    events: {} as DialerEvent,
    input: {} as DialerInput,
    emitted: {} as DialerEmitted,
  },
  actors: { dial: dialMachine },
  guards: {
    dialRunning: ({ context, event }) => event.type === 'dial.request' && context.pending.has(toHex(event.publicKey)),
  },
  actions: {
    joinDial: assign(({ context, event }) => {
      if (event.type !== 'dial.request') return {};
      const key = toHex(event.publicKey);
      return { pending: context.pending.set(key, [...context.pending.get(key)!, { requestId: event.requestId, replyTo: event.replyTo }]) };
    }),
    startDial: enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'dial.request') return;
      const key = toHex(event.publicKey);
      enqueue.assign({ pending: context.pending.set(key, [{ requestId: event.requestId, replyTo: event.replyTo }]) });
      enqueue.spawnChild('dial', {
        id: dialId(event.publicKey),
        input: { ...context.input, publicKey: event.publicKey, key, addresses: event.addresses, owner: self },
      });
    }),
    /** A dial's outcome answers every waiter; the finished dial is let go. */
    settleDial: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'dial.succeeded' && event.type !== 'dial.failed' && event.type !== 'dial.cancel') return;
      const key = event.type === 'dial.cancel' ? toHex(event.publicKey) : event.key;
      const waiters = context.pending.get(key);
      if (!waiters) return;
      const publicKey = event.type === 'dial.succeeded' ? event.connection.peer.publicKey : event.publicKey;
      // A finished child stays among the children until stopped; a cancelled one aborts its attempt.
      enqueue.stopChild(dialId(publicKey));
      if (event.type === 'dial.succeeded') enqueue.emit({ type: 'peer.dialed', publicKey, connection: event.connection });
      if (event.type === 'dial.failed') enqueue.emit({ type: 'peer.dial-failed', publicKey, error: event.error });
      for (const w of waiters) {
        const reply: DialReply =
          event.type === 'dial.succeeded'
            ? { type: 'dial.reply', requestId: w.requestId, ok: true, connection: event.connection }
            : { type: 'dial.reply', requestId: w.requestId, ok: false, error: event.type === 'dial.failed' ? event.error : aborted };
        if (w.replyTo) enqueue.sendTo(w.replyTo, reply);
        else enqueue.emit(reply);
      }
      enqueue.assign({ pending: context.pending.delete(key) });
    }),
    /** Every dial is stopped and its waiters answered with an abort. */
    cancelAll: enqueueActions(({ context, enqueue }) => {
      for (const [key, waiters] of context.pending) {
        enqueue.stopChild(dialId(Buffer.from(key, 'hex')));
        for (const w of waiters) {
          const reply: DialReply = { type: 'dial.reply', requestId: w.requestId, ok: false, error: aborted };
          if (w.replyTo) enqueue.sendTo(w.replyTo, reply);
          else enqueue.emit(reply);
        }
      }
      enqueue.assign({ pending: PMap.empty() });
    }),
    refuseRequest: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'dial.request') return;
      const reply: DialReply = { type: 'dial.reply', requestId: event.requestId, ok: false, error: { name: 'DialerStopped', message: 'the dialer has stopped', kind: 'aborted' } };
      if (event.replyTo) enqueue.sendTo(event.replyTo, reply);
      else enqueue.emit(reply);
    }),
  },
}).createMachine({
  id: 'dialer',
  context: ({ input }) => ({ input, pending: PMap.empty() }),
  initial: 'running',
  states: {
    running: {
      description: 'Dials run as actors of their own, one per peer; a result answers every request that waited on it.',
      on: {
        'dial.request': [{ guard: 'dialRunning', actions: 'joinDial' }, { actions: 'startDial' }],
        'dial.succeeded': { actions: 'settleDial' },
        'dial.failed': { actions: 'settleDial' },
        'dial.cancel': { actions: 'settleDial' },
        'dialer.stop': { target: 'stopped', actions: 'cancelAll' },
      },
    },
    stopped: {
      description: 'Every dial was cancelled; requests are refused.',
      type: 'final',
    },
  },
});
