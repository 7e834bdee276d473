/**
 * The store-and-forward component's state chart (PROTOCOL.md 9.7; pure: its effects are named
 * and provided by `saf.logic.ts`). The node's `saf` component (systemId `saf`), running beside
 * the DHT when the node has store-and-forward.
 *
 * running: follows the connections. When one is kept to a peer claiming feature bit 1, a request
 * actor (`safRequest:<NodeId hex>`, one in flight per peer, at most `maxRequestsInFlight`) asks it
 * for this node's messages; a response that was full (`requestLimit` messages) is followed by
 * another request at once (since = its last stored_at), at most `maxRequestRounds` per
 * connection, so a backlog larger than one response arrives without waiting for the next
 * connection; the peers with a request in flight are kept open (`connectivity.keep`, holder
 * `saf`: this node does not close them itself meanwhile); a disconnection stops that peer's request (its answer would have
 * come on that connection) and publishes it as cancelled. Meanwhile: idle -> (after `sweepInterval`) sweeping (the store drops
 * up to `sweepBatch` messages past their retention; again at once while more are due) -> idle.
 * stopped: every request is cancelled.
 *
 * Requests are spawned children (not a host): they are bounded by `maxRequestsInFlight`, so
 * XState's copy of the children on each spawn stays small.
 */
import { enqueueActions, fromPromise, setup } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { toPlainError } from '../../core/errors.js';
import { nodeIdOf, type PublicKey } from '../../core/keys.js';
import { PMap } from '../../core/pmap.js';
import { FEATURE_STORE_AND_FORWARD } from '../../protocols/dht/index.js';
import { callbackActor } from '../mailbox.js';
import { notProvided } from '../not-provided.js';
import { component } from '../system.js';
import { safRequestMachine, type SafRequestEffects } from '../saf-request/saf-request.machine.js';
import { DEFAULT_SAF_CONFIG, type SafConfig } from './saf-config.js';
import type { SafConnections, SafEmitted, SafEvent } from './saf.events.js';

/** What the component's effects do: the store and the DHT's sending. */
export interface SafEffects extends SafRequestEffects {
  /** Drops up to `sweepBatch` messages past their retention; resolves with whether more are due. */
  sweep(): Promise<{ count: number; more: boolean }>;
}

/** What the component is started with. */
export interface SafInput {
  config: Pick<SafConfig, 'request' | 'requestLimit' | 'responseTimeoutMs' | 'maxRequestsInFlight' | 'maxRequestRounds' | 'sweepIntervalMs'>;
  effects: SafEffects;
}

/** The component's context. */
export interface SafContext {
  input: SafInput;
  /** Peer public key hex -> the peer and the request's round on this connection (1 = the first), for each request in flight. */
  requests: PMap<{ peer: PublicKey; round: number }>;
}

/** Input of `sweep`. */
export interface SweepInput {
  effects: SafEffects;
}

/**
 * The holder under which the peers with a request in flight are kept (`connectivity.keep`): a
 * connection closed by this node while its request is in flight loses the answer, and the peer
 * deletes what it served once written (9.7), so network discovery (closing a connection made for
 * a sync) and the DHT pools (minimizing) leave these connections open until the request ends.
 */
export const SAF_KEEP_HOLDER = 'saf';

/** The id of the request actor of a peer. */
export const safRequestId = (publicKey: Uint8Array) => `safRequest:${toHex(nodeIdOf(publicKey))}`;

const cfg = <K extends keyof SafInput['config']>(c: SafContext, k: K): SafInput['config'][K] => c.input.config[k] ?? DEFAULT_SAF_CONFIG[k];

/** The component's state chart (see the module comment). */
export const safMachine = setup({
  types: {
    context: {} as SafContext,
    events: {} as SafEvent,
    input: {} as SafInput,
    emitted: {} as SafEmitted,
  },
  actors: {
    safRequest: safRequestMachine,
    sweep: fromPromise<{ count: number; more: boolean }, SweepInput>(notProvided('sweep', 'saf.logic.ts')),
    /** Follows the connection manager's connections (`saf.peer-connected`, `saf.peer-disconnected`). */
    followConnections: callbackActor<{ type: 'follow.never' }, undefined, SafConnections>(notProvided('followConnections', 'saf.logic.ts')),
  },
  delays: {
    sweepInterval: ({ context }) => cfg(context, 'sweepIntervalMs'),
  },
  guards: {
    /** A store-and-forward peer (feature bit 1) this node asks, and no request to it is in flight. */
    shouldAsk: ({ context, event }) =>
      event.type === 'saf.peer-connected' && cfg(context, 'request') && (event.features & FEATURE_STORE_AND_FORWARD) !== 0 && !context.requests.has(toHex(event.publicKey)),
    /** ... but `maxRequestsInFlight` requests are in flight. */
    shouldAskButFull: ({ context, event }) =>
      event.type === 'saf.peer-connected' &&
      cfg(context, 'request') &&
      (event.features & FEATURE_STORE_AND_FORWARD) !== 0 &&
      !context.requests.has(toHex(event.publicKey)) &&
      context.requests.size >= cfg(context, 'maxRequestsInFlight'),
    requestInFlight: ({ context, event }) => event.type === 'saf.peer-disconnected' && context.requests.has(toHex(event.publicKey)),
    moreDue: (_, params: { more: boolean }) => params.more,
    /** The response was full (the peer may hold more) and this connection has rounds left. */
    answeredFull: ({ context, event }) => {
      if (event.type !== 'saf.request-ended' || event.outcome !== 'answered') return false;
      const request = context.requests.get(event.key);
      return request !== undefined && event.messages >= cfg(context, 'requestLimit') && request.round < cfg(context, 'maxRequestRounds');
    },
  },
  actions: {
    startRequest: enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'saf.peer-connected') return;
      const key = toHex(event.publicKey);
      enqueue.assign({ requests: context.requests.set(key, { peer: event.publicKey, round: 1 }) });
      enqueue.spawnChild('safRequest', {
        id: safRequestId(event.publicKey),
        input: { key, peer: event.publicKey, limit: cfg(context, 'requestLimit'), responseTimeoutMs: cfg(context, 'responseTimeoutMs'), effects: context.input.effects, owner: self },
      });
      enqueue.emit({ type: 'saf.request-started', publicKey: event.publicKey, round: 1 });
    }),
    /** A full response: the ended request is let go and the next round asks the same peer (its since now advanced). */
    askAgain: enqueueActions(({ context, event, enqueue, self }) => {
      if (event.type !== 'saf.request-ended') return;
      const request = context.requests.get(event.key)!;
      const round = request.round + 1;
      enqueue.stopChild(safRequestId(request.peer));
      enqueue.emit({ type: 'saf.request-ended', publicKey: request.peer, outcome: event.outcome, messages: event.messages, error: event.error });
      enqueue.assign({ requests: context.requests.set(event.key, { peer: request.peer, round }) });
      enqueue.spawnChild('safRequest', {
        id: safRequestId(request.peer),
        input: { key: event.key, peer: request.peer, limit: cfg(context, 'requestLimit'), responseTimeoutMs: cfg(context, 'responseTimeoutMs'), effects: context.input.effects, owner: self },
      });
      enqueue.emit({ type: 'saf.request-started', publicKey: request.peer, round });
    }),
    /** The peers with a request in flight are kept open (see {@link SAF_KEEP_HOLDER}); none: released. */
    publishKept: enqueueActions(({ context, enqueue, system }) => {
      const connectivity = component(system, 'connectivity');
      if (connectivity) enqueue.sendTo(connectivity, { type: 'connectivity.keep', holder: SAF_KEEP_HOLDER, publicKeys: [...context.requests.values()].map((r) => r.peer) });
    }),
    announceSkipped: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'saf.peer-connected') enqueue.emit({ type: 'saf.request-skipped', publicKey: event.publicKey });
    }),
    /** The peer disconnected: its request is stopped at once (its answer would have come on that connection) and published as cancelled. */
    dropRequest: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'saf.peer-disconnected') return;
      const key = toHex(event.publicKey);
      const request = context.requests.get(key);
      if (!request) return;
      enqueue.stopChild(safRequestId(request.peer));
      enqueue.assign({ requests: context.requests.delete(key) });
      enqueue.emit({ type: 'saf.request-ended', publicKey: request.peer, outcome: 'cancelled', messages: 0, error: undefined });
    }),
    /** A request ended: the finished actor is let go and its end published. */
    settleRequest: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'saf.request-ended') return;
      const request = context.requests.get(event.key);
      if (!request) return;
      enqueue.stopChild(safRequestId(request.peer));
      enqueue.assign({ requests: context.requests.delete(event.key) });
      enqueue.emit({ type: 'saf.request-ended', publicKey: request.peer, outcome: event.outcome, messages: event.messages, error: event.error });
    }),
    announceRejected: enqueueActions(({ event, enqueue }) => {
      if (event.type === 'saf.response-rejected') enqueue.emit({ type: 'saf.response-rejected', publicKey: event.publicKey, reason: event.reason });
    }),
    announceSweepFailed: enqueueActions(({ enqueue }, params: { error: unknown }) => enqueue.emit({ type: 'saf.sweep-failed', error: toPlainError(params.error) })),
    /** Every request in flight is cancelled (each reports it, to a stopped owner) and let go. */
    cancelRequests: enqueueActions(({ context, enqueue }) => {
      for (const [, request] of context.requests) enqueue.stopChild(safRequestId(request.peer));
      enqueue.assign({ requests: PMap.empty() });
    }),
  },
}).createMachine({
  id: 'saf',
  context: ({ input }) => ({ input, requests: PMap.empty() }),
  initial: 'running',
  states: {
    running: {
      description: 'Requests to store-and-forward peers as they connect; the expiry sweep in the background.',
      invoke: { id: 'followConnections', src: 'followConnections' },
      initial: 'idle',
      on: {
        'saf.peer-connected': [
          { guard: 'shouldAskButFull', actions: 'announceSkipped' },
          { guard: 'shouldAsk', actions: ['startRequest', 'publishKept'] },
        ],
        'saf.peer-disconnected': { guard: 'requestInFlight', actions: ['dropRequest', 'publishKept'] },
        'saf.request-ended': [{ guard: 'answeredFull', actions: 'askAgain' }, { actions: ['settleRequest', 'publishKept'] }],
        'saf.response-rejected': { actions: 'announceRejected' },
        'saf.stop': { target: 'stopped' },
      },
      states: {
        idle: {
          description: 'Until the next sweep.',
          after: { sweepInterval: { target: 'sweeping' } },
        },
        sweeping: {
          description: 'The store drops what is past its retention, a batch per transaction, again at once while more is due.',
          invoke: {
            id: 'sweep',
            src: 'sweep',
            input: ({ context }) => ({ effects: context.input.effects }),
            onDone: [
              { guard: { type: 'moreDue', params: ({ event }) => ({ more: event.output.more }) }, target: 'sweeping', reenter: true },
              { target: 'idle' },
            ],
            onError: { target: 'idle', actions: { type: 'announceSweepFailed', params: ({ event }) => ({ error: event.error }) } },
          },
        },
      },
    },
    stopped: {
      description: 'Every request in flight was cancelled.',
      type: 'final',
      entry: ['cancelRequests', 'publishKept'],
    },
  },
});
