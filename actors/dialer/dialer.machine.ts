/**
 * The dialer's state chart (pure; the dial itself is `dialPeer` in `dialer.logic.ts`).
 *
 * One state: each `dial.request` either joins the dial already running for that peer or spawns
 * `outbound:<public key hex>`; its result answers every request that waited on it. `dial.cancel`
 * stops the child (its AbortSignal fires) and answers the waiters with an abort.
 */
import { assign, enqueueActions, fromCallback, setup, type AnyActorRef, type EventObject } from 'xstate';
import { toHex } from '../../core/bytes.js';
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { UpgradeConfig } from '../../channels/upgrade.js';
import type { Transport } from '../../transports/transport.js';
import type { DialerEmitted, DialerEvent, DialReply } from './dialer.events.js';

/** What the dialer needs from the peer manager (a `PeerManagerClient` is one). */
export interface DialPeerBook {
  find(key: { publicKey: PublicKey }): Promise<{ addresses: Array<{ address: string }> } | undefined>;
  dialAttempted(publicKey: PublicKey, address: string): Promise<unknown>;
  dialSucceeded(publicKey: PublicKey, address: string, dialMs: number): Promise<unknown>;
  dialFailed(publicKey: PublicKey, address: string, reason: string): Promise<unknown>;
}

/** What the dialer is started with. */
export interface DialerInput {
  transports: Transport[];
  upgrade: UpgradeConfig;
  peers: DialPeerBook;
  /** Per address attempt, transport connect and upgrade together (ms, default 30 000). */
  attemptTimeoutMs?: number;
  /** Rounds over the address list (default 3). */
  rounds?: number;
  /** Backoff before the second round (ms, default 1 000), doubled each round up to 30 000. */
  backoffMs?: number;
}

/** Input of one dial child. */
export interface DialInput extends DialerInput {
  publicKey: PublicKey;
  addresses: string[] | undefined;
  key: string;
  parent: AnyActorRef;
}

interface Waiter {
  requestId: string;
  replyTo: AnyActorRef | undefined;
}

/** The dialer's context. */
export interface DialerContext {
  input: DialerInput;
  /** Public key hex -> the requests waiting on that dial. */
  pending: Record<string, Waiter[]>;
}

const dialPeerNotProvided = fromCallback<EventObject, DialInput>(() => {
  throw new Error('dialPeer is provided by dialer.logic.ts');
});

type Req = Extract<DialerEvent, { type: 'dial.request' }>;

/** The dialer state chart (see the module comment). */
export const dialerMachine = setup({
  types: {
    context: {} as DialerContext,
    events: {} as DialerEvent,
    input: {} as DialerInput,
    emitted: {} as DialerEmitted,
  },
  actors: { dialPeer: dialPeerNotProvided },
  guards: {
    dialRunning: ({ context, event }) => toHex((event as Req).publicKey) in context.pending,
  },
  actions: {
    joinDial: assign(({ context, event }) => {
      const e = event as Req;
      const key = toHex(e.publicKey);
      return { pending: { ...context.pending, [key]: [...context.pending[key]!, { requestId: e.requestId, replyTo: e.replyTo }] } };
    }),
    startDial: enqueueActions(({ context, event, enqueue, self }) => {
      const e = event as Req;
      const key = toHex(e.publicKey);
      enqueue.assign({ pending: { ...context.pending, [key]: [{ requestId: e.requestId, replyTo: e.replyTo }] } });
      enqueue.spawnChild('dialPeer', {
        id: `outbound:${key}`,
        input: { ...context.input, publicKey: e.publicKey, addresses: e.addresses, key, parent: self },
      });
    }),
    settleDial: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'dial.succeeded' && event.type !== 'dial.failed' && event.type !== 'dial.cancel') return;
      const key = event.type === 'dial.cancel' ? toHex(event.publicKey) : event.key;
      const waiters = context.pending[key];
      if (!waiters) return;
      // The dial's child is let go whatever the outcome (a finished child stays in `children` until stopped).
      enqueue.stopChild(`outbound:${key}`);
      const error: PlainError | undefined =
        event.type === 'dial.failed' ? event.error : event.type === 'dial.cancel' ? { name: 'DialAborted', message: 'the dial was cancelled', kind: 'aborted' } : undefined;
      if (event.type === 'dial.succeeded') enqueue.emit({ type: 'peer.dialed', publicKey: event.connection.peer.publicKey, connection: event.connection });
      if (event.type === 'dial.failed') enqueue.emit({ type: 'peer.dial-failed', publicKey: event.publicKey, error: event.error });
      for (const w of waiters) {
        const reply: DialReply =
          event.type === 'dial.succeeded'
            ? { type: 'dial.reply', requestId: w.requestId, ok: true, connection: event.connection }
            : { type: 'dial.reply', requestId: w.requestId, ok: false, error: error! };
        if (w.replyTo) enqueue.sendTo(w.replyTo, reply);
        else enqueue.emit(reply);
      }
      const { [key]: _settled, ...rest } = context.pending;
      enqueue.assign({ pending: rest });
    }),
  },
}).createMachine({
  id: 'dialer',
  context: ({ input }) => ({ input, pending: {} }),
  initial: 'ready',
  states: {
    ready: {
      description: 'Dials run as children, one per peer; results answer every waiting request.',
      on: {
        'dial.request': [{ guard: 'dialRunning', actions: 'joinDial' }, { actions: 'startDial' }],
        'dial.succeeded': { actions: 'settleDial' },
        'dial.failed': { actions: 'settleDial' },
        'dial.cancel': { actions: 'settleDial' },
      },
    },
  },
});
