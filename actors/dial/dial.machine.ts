/**
 * One dial (PROTOCOL.md section 1, tari_comms' dialer): rounds over the peer's addresses in
 * quality order, each attempt (transport connect and upgrade, with the dialed-key check) under
 * its own deadline, one stat written back to the peer manager per attempt (its outcome), and a backoff between
 * rounds that doubles up to 30 s. Pure: the attempt itself is `attemptAddress` in
 * `dial.logic.ts`.
 *
 * choosing -> resolving (the stored addresses, asked of the peer manager each round: the
 * previous round's stats reorder them) or straight to attempting (addresses given by the
 * caller) -> attempting, one address after another -> succeeded, or backingOff and the next
 * round, or failed when the rounds are spent. A peer that proved its key in Noise and then sent
 * an invalid identity claim ends the dial at once: that is a violation, not a bad address.
 * `dial.cancel` ends it from any state (the attempt's signal aborts the transport dial).
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { TimeoutError, toPlainError, type PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { PeerConnection, UpgradeConfig } from '../../channels/upgrade.js';
import { IdentityInvalid } from '../../protocols/identity/index.js';
import { sortAddresses, type Peer } from '../../storage/peer.js';
import type { Transport } from '../../transports/transport.js';
import type { Mailbox } from '../mailbox.js';
import { notProvided } from '../not-provided.js';
import { component } from '../system.js';
import type { DialEvent, DialReport } from './dial.events.js';
import { DialExhausted } from './dial-errors.js';

/** Defaults of a dial (tari_comms' where it has them). */
export const DEFAULT_DIAL_CONFIG = Object.freeze({
  /** One attempt at one address: transport connect and upgrade together (ms). */
  attemptTimeoutMs: 30_000,
  /** Rounds over the address list. */
  rounds: 3,
  /** Backoff before the second round (ms), doubled each round. */
  backoffMs: 1_000,
  /** The longest backoff (ms). */
  maxBackoffMs: 30_000,
  /** The peer manager's answer with the stored addresses (ms). */
  lookupTimeoutMs: 10_000,
});

/** What a dial is started with. */
export interface DialInput {
  publicKey: PublicKey;
  /** The public key's hex (the dialer's key for this dial). */
  key: string;
  /** Dial these instead of the stored addresses. */
  addresses: readonly string[] | undefined;
  transports: readonly Transport[];
  upgrade: UpgradeConfig;
  attemptTimeoutMs?: number;
  rounds?: number;
  backoffMs?: number;
  /** Where the outcome goes (the dialer). */
  owner: Mailbox<DialReport>;
}

/** Input of one attempt. */
export interface AttemptInput {
  publicKey: PublicKey;
  address: string;
  transports: readonly Transport[];
  upgrade: UpgradeConfig;
  timeoutMs: number;
}

/** A dial's context. */
export interface DialContext {
  input: DialInput;
  /** Rounds begun (1 during the first). */
  round: number;
  /** This round's addresses, in the order they are tried. */
  addresses: string[];
  /** The address being tried now (an index into `addresses`). */
  index: number;
  /** When the current attempt began (ms, `performance.now()`), for the dial-time stat. */
  attemptStarted: number;
  /** How each attempt failed. */
  failures: Array<{ address: string; error: PlainError }>;
  connection: PeerConnection | undefined;
  error: PlainError | undefined;
}

const rounds = (c: DialContext) => c.input.rounds ?? DEFAULT_DIAL_CONFIG.rounds;
const current = (c: DialContext) => c.addresses[c.index]!;
const lookupId = (c: DialContext) => `dial-lookup:${c.input.key}:${c.round}`;

/** The stored addresses of the peer manager's answer to `peer.find`, in quality order. */
function storedAddresses(result: Peer | Peer[] | undefined, now: number): string[] {
  return result === undefined || Array.isArray(result) ? [] : sortAddresses(result.addresses, now).map((a) => a.address);
}

/** The dial state chart (see the module comment). */
export const dialMachine = setup({
  types: {
    context: {} as DialContext,
    events: {} as DialEvent,
    input: {} as DialInput,
  },
  actors: {
    attemptAddress: fromPromise<PeerConnection, AttemptInput>(notProvided('attemptAddress', 'dial.logic.ts')),
  },
  delays: {
    backoff: ({ context }) => Math.min((context.input.backoffMs ?? DEFAULT_DIAL_CONFIG.backoffMs) * 2 ** (context.round - 1), DEFAULT_DIAL_CONFIG.maxBackoffMs),
    lookupTimeout: DEFAULT_DIAL_CONFIG.lookupTimeoutMs,
  },
  guards: {
    addressesGiven: ({ context }) => context.input.addresses !== undefined,
    lookupAnswered: ({ context, event }) => event.type === 'peer-manager.reply' && event.requestId === lookupId(context),
    noAddress: ({ context }) => context.addresses.length === 0,
    /** The peer proved its key in Noise, then sent an invalid claim: a violation, not a bad address. */
    identityViolation: (_, params: { error: unknown }) => params.error instanceof IdentityInvalid && params.error.publicKey !== undefined,
    moreAddresses: ({ context }) => context.index + 1 < context.addresses.length,
    moreRounds: ({ context }) => context.round < rounds(context),
  },
  actions: {
    /** Asks the peer manager for the stored addresses (its reply comes to this dial). */
    askAddresses: enqueueActions(({ context, enqueue, system, self }) => {
      const peerManager = component(system, 'peerManager');
      if (peerManager) enqueue.sendTo(peerManager, { type: 'peer.find', requestId: lookupId(context), publicKey: context.input.publicKey, replyTo: self });
    }),
    takeAddresses: assign(({ event }) => {
      if (event.type !== 'peer-manager.reply') return {};
      return { addresses: event.ok ? storedAddresses(event.result, Date.now()) : [], index: 0 };
    }),
    takeGivenAddresses: assign(({ context }) => ({ addresses: [...(context.input.addresses ?? [])], index: 0 })),
    nextAddress: assign({ index: ({ context }) => context.index + 1 }),
    nextRound: assign({ round: ({ context }) => context.round + 1 }),
    startAttempt: assign({ attemptStarted: () => performance.now() }),
    /**
     * Stats go to the peer manager in the background (a store commit must not delay the dial),
     * one write per attempt: its outcome, counting the attempt itself (`attemptMs`). An attempt
     * a cancel cut short has no outcome and is not recorded.
     */
    recordSuccess: enqueueActions(({ context, enqueue, system }) => {
      const peerManager = component(system, 'peerManager');
      const dialMs = performance.now() - context.attemptStarted;
      if (peerManager) enqueue.sendTo(peerManager, { type: 'peer.dial-succeeded', requestId: 'dial-stats', publicKey: context.input.publicKey, address: current(context), dialMs, attemptMs: dialMs });
    }),
    recordFailure: enqueueActions(({ context, enqueue, system }, params: { error: unknown }) => {
      const error = toPlainError(params.error);
      enqueue.assign({ failures: [...context.failures, { address: current(context), error }] });
      const peerManager = component(system, 'peerManager');
      const attemptMs = performance.now() - context.attemptStarted;
      if (peerManager) enqueue.sendTo(peerManager, { type: 'peer.dial-failed', requestId: 'dial-stats', publicKey: context.input.publicKey, address: current(context), reason: `${error.name}: ${error.message}`, attemptMs });
    }),
    keepConnection: assign((_, params: { connection: PeerConnection }) => ({ connection: params.connection })),
    failWithError: assign((_, params: { error: unknown }) => ({ error: toPlainError(params.error) })),
    failExhausted: assign({ error: ({ context }) => new DialExhausted(context.failures).toPlain() }),
    failLookup: assign({ error: () => new TimeoutError('the peer manager did not answer the address lookup').toPlain() }),
    reportSuccess: enqueueActions(({ context, enqueue }) => {
      enqueue.sendTo(context.input.owner, { type: 'dial.succeeded', key: context.input.key, connection: context.connection! });
    }),
    reportFailure: enqueueActions(({ context, enqueue }) => {
      enqueue.sendTo(context.input.owner, { type: 'dial.failed', key: context.input.key, publicKey: context.input.publicKey, error: context.error! });
    }),
  },
}).createMachine({
  id: 'dial',
  context: ({ input }) => ({ input, round: 1, addresses: [], index: 0, attemptStarted: 0, failures: [], connection: undefined, error: undefined }),
  initial: 'choosing',
  on: { 'dial.cancel': { target: '.cancelled' } },
  states: {
    choosing: {
      description: 'Each round starts here: the addresses given by the caller, or the stored ones.',
      always: [{ guard: 'addressesGiven', target: 'attempting', actions: 'takeGivenAddresses' }, { target: 'resolving' }],
    },
    resolving: {
      description: "Asking the peer manager for the peer's stored addresses, best first.",
      entry: 'askAddresses',
      on: {
        'peer-manager.reply': [
          { guard: 'lookupAnswered', target: 'checking', actions: 'takeAddresses' },
        ],
      },
      after: { lookupTimeout: { target: 'failed', actions: 'failLookup' } },
    },
    checking: {
      always: [{ guard: 'noAddress', target: 'failed', actions: 'failExhausted' }, { target: 'attempting' }],
    },
    attempting: {
      description: 'One address: transport connect and upgrade under one deadline.',
      entry: 'startAttempt',
      invoke: {
        id: 'attempt',
        src: 'attemptAddress',
        input: ({ context }) => ({
          publicKey: context.input.publicKey,
          address: current(context),
          transports: context.input.transports,
          upgrade: context.input.upgrade,
          timeoutMs: context.input.attemptTimeoutMs ?? DEFAULT_DIAL_CONFIG.attemptTimeoutMs,
        }),
        onDone: { target: 'succeeded', actions: ['recordSuccess', { type: 'keepConnection', params: ({ event }) => ({ connection: event.output }) }] },
        onError: [
          {
            guard: { type: 'identityViolation', params: ({ event }) => ({ error: event.error }) },
            target: 'failed',
            actions: [{ type: 'recordFailure', params: ({ event }) => ({ error: event.error }) }, { type: 'failWithError', params: ({ event }) => ({ error: event.error }) }],
          },
          { guard: 'moreAddresses', target: 'attempting', reenter: true, actions: [{ type: 'recordFailure', params: ({ event }) => ({ error: event.error }) }, 'nextAddress'] },
          { guard: 'moreRounds', target: 'backingOff', actions: { type: 'recordFailure', params: ({ event }) => ({ error: event.error }) } },
          { target: 'failed', actions: [{ type: 'recordFailure', params: ({ event }) => ({ error: event.error }) }, 'failExhausted'] },
        ],
      },
    },
    backingOff: {
      description: 'Every address failed this round; the next round waits, twice as long each time (at most 30 s).',
      after: { backoff: { target: 'choosing', actions: 'nextRound' } },
    },
    succeeded: { type: 'final', entry: 'reportSuccess' },
    failed: { type: 'final', entry: 'reportFailure' },
    cancelled: { type: 'final', description: 'Cancelled by the dialer, which answers its waiters itself.' },
  },
});
