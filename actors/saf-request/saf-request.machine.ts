/**
 * One store-and-forward request (PROTOCOL.md 9.7): ask a store-and-forward peer for the messages
 * it kept for this node. An actor per request, `safRequest:<NodeId hex>`, spawned by the `saf`
 * component when a connection to such a peer is kept (one in flight per peer). Pure: reading and
 * saving `since` and writing the request are effects provided by `saf-request.logic.ts`.
 *
 * loading (this node's `since` for the peer: the largest `stored_at` it served) -> inFlight
 * (tag `in-flight`: sending, the SAF_REQUEST_MESSAGES written to the peer; then awaiting), bounded
 * by `responseTimeout` (120 s from the send). Only while in flight does the data path take a
 * response from the peer: it tells this actor `answered` (which ends the flight, so a second
 * response is unsolicited) or `rejected`. saving: the response's largest `stored_at` becomes the
 * peer's next `since` -> answered. Ends: answered, rejected, timedOut, failed, cancelled; each is
 * reported to the owner.
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { toPlainError, type PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { Mailbox } from '../mailbox.js';
import { notProvided } from '../not-provided.js';
import type { SafRequestEvent, SafRequestOutcome, SafRequestReport } from './saf-request.events.js';

/** Defaults of a request. */
export const DEFAULT_SAF_REQUEST_CONFIG = Object.freeze({
  /** A response is taken only while its request is under this old (9.7: 120 s). */
  responseTimeoutMs: 120_000,
  /** Saving `since` at most (ms); the request is answered either way (a lost `since` only asks for more next time). */
  saveTimeoutMs: 10_000,
});

/** What a request does: the store's cursor, and the DHT's sending. */
export interface SafRequestEffects {
  /** This node's `since` for `peer` (0 when none is remembered). */
  loadSince(peer: PublicKey): Promise<number>;
  /** Writes a SAF_REQUEST_MESSAGES to `peer`; resolves once written, rejects when it cannot be. */
  sendRequest(peer: PublicKey, since: number, limit: number): Promise<void>;
  /** Remembers that `peer` served messages stored up to `storedAt`. */
  saveSince(peer: PublicKey, storedAt: bigint): Promise<void>;
}

/** What a request is started with. */
export interface SafRequestInput {
  /** The peer's public key hex. */
  key: string;
  peer: PublicKey;
  /** `limit` of the request (9.7: 50). */
  limit: number;
  responseTimeoutMs?: number;
  effects: SafRequestEffects;
  /** Where the outcome goes (the `saf` component). */
  owner: Mailbox<SafRequestReport>;
}

/** A request's context. */
export interface SafRequestContext {
  input: SafRequestInput;
  /** The `since` sent (from the store; 0 when it could not be read). */
  since: number;
  /** Messages in the response taken. */
  messages: number;
  /** The largest `stored_at` among them. */
  lastStoredAt: bigint | undefined;
  /** Why the request failed, or why its response was rejected. */
  error: PlainError | undefined;
}

/** Input of `loadSince`. */
export interface LoadSinceInput {
  peer: PublicKey;
  effects: SafRequestEffects;
}

/** Input of `sendRequest`. */
export interface SendRequestInput {
  peer: PublicKey;
  since: number;
  limit: number;
  effects: SafRequestEffects;
}

/** Input of `saveSince`. */
export interface SaveSinceInput {
  peer: PublicKey;
  storedAt: bigint;
  effects: SafRequestEffects;
}

const report = (context: SafRequestContext, outcome: SafRequestOutcome): SafRequestReport => ({ type: 'saf.request-ended', key: context.input.key, outcome, messages: context.messages, error: context.error });

/** The request state chart (see the module comment). */
export const safRequestMachine = setup({
  types: {
    context: {} as SafRequestContext,
    events: {} as SafRequestEvent,
    input: {} as SafRequestInput,
  },
  actors: {
    loadSince: fromPromise<number, LoadSinceInput>(notProvided('loadSince', 'saf-request.logic.ts')),
    sendRequest: fromPromise<void, SendRequestInput>(notProvided('sendRequest', 'saf-request.logic.ts')),
    saveSince: fromPromise<void, SaveSinceInput>(notProvided('saveSince', 'saf-request.logic.ts')),
  },
  delays: {
    responseTimeout: ({ context }) => context.input.responseTimeoutMs ?? DEFAULT_SAF_REQUEST_CONFIG.responseTimeoutMs,
    saveTimeout: DEFAULT_SAF_REQUEST_CONFIG.saveTimeoutMs,
  },
  guards: {
    /** The response held messages: their largest `stored_at` is the next `since`. */
    servedSome: ({ event }) => event.type === 'saf-request.answered' && event.lastStoredAt !== undefined,
  },
  actions: {
    keepSince: assign((_, params: { since: number }) => ({ since: params.since })),
    keepAnswer: assign(({ event }) => (event.type === 'saf-request.answered' ? { messages: event.messages, lastStoredAt: event.lastStoredAt } : {})),
    keepRejection: assign(({ event }) => (event.type === 'saf-request.rejected' ? { error: { name: 'SafResponseRejected', message: event.reason, kind: 'protocol' } satisfies PlainError } : {})),
    recordError: assign((_, params: { error: unknown }) => ({ error: toPlainError(params.error) })),
    reportAnswered: enqueueActions(({ context, enqueue }) => enqueue.sendTo(context.input.owner, report(context, 'answered'))),
    reportRejected: enqueueActions(({ context, enqueue }) => enqueue.sendTo(context.input.owner, report(context, 'rejected'))),
    reportTimedOut: enqueueActions(({ context, enqueue }) => enqueue.sendTo(context.input.owner, report(context, 'timed-out'))),
    reportFailed: enqueueActions(({ context, enqueue }) => enqueue.sendTo(context.input.owner, report(context, 'failed'))),
    reportCancelled: enqueueActions(({ context, enqueue }) => enqueue.sendTo(context.input.owner, report(context, 'cancelled'))),
  },
}).createMachine({
  id: 'safRequest',
  context: ({ input }) => ({ input, since: 0, messages: 0, lastStoredAt: undefined, error: undefined }),
  initial: 'loading',
  on: { 'saf-request.cancel': { target: '.cancelled' } },
  states: {
    loading: {
      description: 'This node\'s since for the peer: the largest stored_at it served (0 when none, or unreadable).',
      invoke: {
        id: 'loadSince',
        src: 'loadSince',
        input: ({ context }) => ({ peer: context.input.peer, effects: context.input.effects }),
        onDone: { target: 'inFlight', actions: { type: 'keepSince', params: ({ event }) => ({ since: event.output }) } },
        onError: { target: 'inFlight' },
      },
    },
    inFlight: {
      description: 'The only time a response from the peer is taken (9.7), at most the response timeout (120 s).',
      tags: ['in-flight'],
      initial: 'sending',
      after: { responseTimeout: { target: 'timedOut' } },
      on: {
        'saf-request.answered': [
          { guard: 'servedSome', target: 'saving', actions: 'keepAnswer' },
          { target: 'answered', actions: 'keepAnswer' },
        ],
        'saf-request.rejected': { target: 'rejected', actions: 'keepRejection' },
      },
      states: {
        sending: {
          description: 'SAF_REQUEST_MESSAGES (since, limit) is written to the peer; its answer may come before the write is confirmed.',
          invoke: {
            id: 'sendRequest',
            src: 'sendRequest',
            input: ({ context }) => ({ peer: context.input.peer, since: context.since, limit: context.input.limit, effects: context.input.effects }),
            onDone: { target: 'awaiting' },
            onError: { target: '#safRequest.failed', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) } },
          },
        },
        awaiting: {
          description: 'The peer answers with one SAF_STORED_MESSAGES.',
        },
      },
    },
    saving: {
      description: 'The largest stored_at served becomes the peer\'s next since.',
      invoke: {
        id: 'saveSince',
        src: 'saveSince',
        input: ({ context }) => ({ peer: context.input.peer, storedAt: context.lastStoredAt!, effects: context.input.effects }),
        onDone: { target: 'answered' },
        onError: { target: 'answered', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) } },
      },
      after: { saveTimeout: { target: 'answered' } },
    },
    answered: { type: 'final', entry: 'reportAnswered' },
    rejected: { type: 'final', entry: 'reportRejected' },
    timedOut: { type: 'final', entry: 'reportTimedOut' },
    failed: { type: 'final', entry: 'reportFailed' },
    cancelled: { type: 'final', entry: 'reportCancelled' },
  },
});
