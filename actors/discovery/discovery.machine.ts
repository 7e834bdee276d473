/**
 * One discovery (PROTOCOL.md 9.5): find the claim of a public key the node cannot reach. An
 * actor per query, `discovery:<NodeId hex>`, spawned by the DHT actor; concurrent requests for the
 * same key share it. Pure: sending the DISCOVERY is `sendDiscovery` in `discovery.logic.ts`.
 *
 * active (bounded by `discoveryTimeout`, 60 s) = requesting (the sealed DISCOVERY, with this
 * node's claim and the nonce, goes out with Broadcast) -> waiting (for the target's
 * DISCOVERY_RESPONSE, answered directly: its connection to this node comes with it). A response
 * whose nonce is this discovery's ends the wait; any other is dropped. storing: the claim goes
 * to the peer manager (its addresses are what a dial to the target uses) -> found. failed: the
 * DISCOVERY could not be sent (no peer to send it to). timedOut, cancelled. Each end is reported
 * to the owner.
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { toPlainError, type PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { ValidatedClaim } from '../../protocols/dht/index.js';
import type { Mailbox } from '../mailbox.js';
import { notProvided } from '../not-provided.js';
import { component } from '../system.js';
import type { DiscoveredPeer, DiscoveryEvent, DiscoveryOutcome, DiscoveryReport } from './discovery.events.js';
import { claimSighting, discoveredPeer } from './claims.js';

/** Defaults of a discovery. */
export const DEFAULT_DISCOVERY_CONFIG = Object.freeze({
  /** The requester gives up after this long (PROTOCOL.md 9.5: 60 s). */
  timeoutMs: 60_000,
  /** The peer manager's answer to storing the claim, at most (ms); the claim is found either way. */
  storeTimeoutMs: 10_000,
});

/** What sends a DISCOVERY: the DHT's outbound side. */
export interface DiscoveryEffects {
  /** Seals and sends a DISCOVERY for `target` with `nonce`; resolves with the number of peers it went to, rejects when none. */
  sendDiscovery(target: PublicKey, nonce: bigint): Promise<number>;
}

/** What a discovery is started with. */
export interface DiscoveryInput {
  /** The target's public key hex. */
  key: string;
  target: PublicKey;
  /** The nonce in flight for the target (random, from the DHT actor). */
  nonce: bigint;
  timeoutMs?: number;
  effects: DiscoveryEffects;
  /** Where the outcome goes (the DHT actor). */
  owner: Mailbox<DiscoveryReport>;
}

/** A discovery's context. */
export interface DiscoveryContext {
  input: DiscoveryInput;
  /** The target's claim, once its response came. */
  peer: DiscoveredPeer | undefined;
  /** The claim to store. */
  claim: ValidatedClaim | undefined;
  /** Why the DISCOVERY could not be sent. */
  error: PlainError | undefined;
}

/** Input of `sendDiscovery`. */
export interface SendDiscoveryInput {
  target: PublicKey;
  nonce: bigint;
  effects: DiscoveryEffects;
}

const report = (context: DiscoveryContext, outcome: DiscoveryOutcome): DiscoveryReport => ({ type: 'discovery.ended', key: context.input.key, outcome });

/** The discovery state chart (see the module comment). */
export const discoveryMachine = setup({
  types: {
    context: {} as DiscoveryContext,
    events: {} as DiscoveryEvent,
    input: {} as DiscoveryInput,
  },
  actors: {
    sendDiscovery: fromPromise<number, SendDiscoveryInput>(notProvided('sendDiscovery', 'discovery.logic.ts')),
  },
  delays: {
    discoveryTimeout: ({ context }) => context.input.timeoutMs ?? DEFAULT_DISCOVERY_CONFIG.timeoutMs,
    storeTimeout: DEFAULT_DISCOVERY_CONFIG.storeTimeoutMs,
  },
  guards: {
    /** The response carries this discovery's nonce (9.5: any other is dropped). */
    nonceMatches: ({ context, event }) => event.type === 'discovery.response' && event.nonce === context.input.nonce,
    /** ... and its claim is one this node does not store (an address kind it does not accept). */
    nonceMatchesIgnored: ({ context, event }) => event.type === 'discovery.response' && event.nonce === context.input.nonce && event.ignored,
  },
  actions: {
    keepClaim: assign(({ event }) => (event.type === 'discovery.response' ? { peer: discoveredPeer(event.claim), claim: event.claim } : {})),
    recordError: assign((_, params: { error: unknown }) => ({ error: toPlainError(params.error) })),
    /** The claim goes to the peer manager, which answers this actor. */
    storeClaim: enqueueActions(({ context, enqueue, self, system }) => {
      const peerManager = component(system, 'peerManager');
      if (peerManager && context.claim) enqueue.sendTo(peerManager, { type: 'peer.add', requestId: `discovery-store:${context.input.key}`, sighting: claimSighting(context.claim), replyTo: self });
    }),
    reportFound: enqueueActions(({ context, enqueue }) => enqueue.sendTo(context.input.owner, report(context, { ok: true, peer: context.peer! }))),
    reportFailed: enqueueActions(({ context, enqueue }) =>
      enqueue.sendTo(context.input.owner, report(context, { ok: false, error: context.error ?? { name: 'DiscoveryFailed', message: 'the DISCOVERY could not be sent', kind: 'transport' } })),
    ),
    reportTimedOut: enqueueActions(({ context, enqueue }) =>
      enqueue.sendTo(context.input.owner, report(context, { ok: false, error: { name: 'DiscoveryTimeout', message: `no DISCOVERY_RESPONSE within ${context.input.timeoutMs ?? DEFAULT_DISCOVERY_CONFIG.timeoutMs} ms`, kind: 'timeout' } })),
    ),
    reportCancelled: enqueueActions(({ context, enqueue }) => enqueue.sendTo(context.input.owner, report(context, { ok: false, error: { name: 'DiscoveryCancelled', message: 'the discovery was cancelled', kind: 'aborted' } }))),
  },
}).createMachine({
  id: 'discovery',
  context: ({ input }) => ({ input, peer: undefined, claim: undefined, error: undefined }),
  initial: 'active',
  on: { 'discovery.cancel': { target: '.cancelled' } },
  states: {
    active: {
      description: 'The DISCOVERY goes out and the response is awaited, within the discovery timeout (60 s).',
      initial: 'requesting',
      after: { discoveryTimeout: { target: 'timedOut' } },
      on: {
        'discovery.response': [
          { guard: 'nonceMatchesIgnored', target: 'found', actions: 'keepClaim' },
          { guard: 'nonceMatches', target: 'storing', actions: 'keepClaim' },
        ],
      },
      states: {
        requesting: {
          description: 'The sealed DISCOVERY (this node\'s claim, the nonce) is sent with Broadcast.',
          invoke: {
            id: 'sendDiscovery',
            src: 'sendDiscovery',
            input: ({ context }) => ({ target: context.input.target, nonce: context.input.nonce, effects: context.input.effects }),
            onDone: { target: 'waiting' },
            onError: { target: '#discovery.failed', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error }) } },
          },
        },
        waiting: {
          description: 'Forwarders propagate the DISCOVERY toward the target, which answers directly.',
        },
      },
    },
    storing: {
      description: 'The target\'s claim goes to the peer manager (a dial to it uses these addresses).',
      entry: 'storeClaim',
      on: { 'peer-manager.reply': { target: 'found' } },
      after: { storeTimeout: { target: 'found' } },
    },
    found: { type: 'final', entry: 'reportFound' },
    failed: { type: 'final', entry: 'reportFailed' },
    timedOut: { type: 'final', entry: 'reportTimedOut' },
    cancelled: { type: 'final', entry: 'reportCancelled' },
  },
});
