/**
 * Network discovery's state chart (PROTOCOL.md 9.9; pure: its effects are named and provided by
 * `network-discovery.logic.ts`). The node's `networkDiscovery` component (systemId
 * `networkDiscovery`), started with the DHT. It fills the peer store by peer sync (9.8):
 *
 * initializing: the configured seeds are stored (flagged as seeds, as nodes), and discovery waits
 * for the node to run (so that the claim its first connections send names its bound addresses:
 * a peer would relay an address-less claim of it). ready: the known
 * peers are counted (up to the threshold, 50). Below it, discovering: up to 5 nodes not tried
 * this cycle are picked, the seeds first, then at random (none: wait after a failure), and synced
 * from at once (`GetPeers`), then ready again; a round whose syncs all failed or that learned no
 * new peer forgets the tried peers (nodes that only know each other ask a seed again) and waits
 * the short wait (5 s, spread by the node's key) first. After `maxRounds` rounds some peer answered, a cycle ends with the idle wait (30 min), which
 * forgets the rounds and the tried peers. With enough peers, onConnect: each node this node dialled (or a seed) that connects
 * is synced once (an inbound connection is not: its claims would be the connecting host's choice) (in turn, a bounded queue; a claim a sync of this node stored lately is not
 * stored again unless newer), with `GetCloserPeers` for the `onConnectPeers` (50) claims
 * nearest this node: the peer's view of its neighbourhood, which is what the neighbour pool
 * needs (9.9 leaves the call open; 100 random claims per connection filled every store with the
 * whole network, and moved the pools on for each). A server that breaks 9.8 is reported to
 * connectivity for the 2 h ban of 9.9 (connectivity bans and disconnects it). stop: final.
 *
 * No timer per peer: one named delay per state (the waits, and a round's time limit, which stops
 * the round's syncs), so a node's discovery costs the same with 10 or 10,000 peers known.
 */
import { assign, enqueueActions, fromPromise, setup } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { nodeIdOf, type NodeId, type PublicKey } from '../../core/keys.js';
import { PMap } from '../../core/pmap.js';
import { callbackActor } from '../mailbox.js';
import { notProvided } from '../not-provided.js';
import { component } from '../system.js';
import type { DhtSeed, NetworkDiscoveryConfig } from './network-discovery-config.js';
import type { SyncedClaims } from './synced-claims.js';
import type { NetworkDiscoveryConnected, NetworkDiscoveryEmitted, NetworkDiscoveryEvent, SyncRoundOutcome } from './network-discovery.events.js';

/** What a node's network discovery works with besides its settings. */
export interface NetworkDiscoveryEnv {
  /** This node's key (its own claim is never stored; the count is of others). */
  self: PublicKey;
  /** This node accepts `/memory` addresses. */
  allowMemory: boolean;
  /** True while this node bans `publicKey`. */
  isBanned: (publicKey: PublicKey) => boolean;
  /** The node's clock, unix seconds. */
  nowSeconds: () => bigint;
  /** True while the node has a connection to `publicKey`. */
  isConnected: (publicKey: PublicKey) => boolean;
  /** True while another component keeps the connection to `publicKey` (the DHT pools, through connectivity's keep): a sync never closes it. */
  isKept: (publicKey: PublicKey) => boolean;
  /** The claims this node's syncs stored lately (not stored again unless newer); none: every valid claim is stored. */
  synced?: SyncedClaims | undefined;
}

/** What network discovery is started with. */
export interface NetworkDiscoveryInput {
  config: NetworkDiscoveryConfig;
  seeds: readonly DhtSeed[];
  /** The ban for a server that breaks 9.8 (9.9: 2 h). */
  banMs: number;
  env: NetworkDiscoveryEnv;
}

/** Input of `addSeeds`. */
export interface AddSeedsInput {
  seeds: readonly DhtSeed[];
}
/** Input of `countKnown`: counts known peers up to `limit`. */
export interface CountKnownInput {
  self: NodeId;
  limit: number;
}
/** Input of `pickPeers`: up to `n` random nodes, none of `exclude`. */
export interface PickPeersInput {
  n: number;
  exclude: readonly PublicKey[];
  /** The configured seeds: picked first when not excluded (nor banned). */
  seeds: readonly PublicKey[];
  isBanned: (publicKey: PublicKey) => boolean;
}
/** Input of `syncRound`: one sync per peer, at once. */
export interface SyncRoundInput {
  peers: readonly PublicKey[];
  n: number;
  includeClients: boolean;
  /** `GetCloserPeers` for the `n` claims nearest this NodeId (on-connect mode: this node's own) instead of `GetPeers`. */
  closerTo?: NodeId;
  /** Close the connections the round made once it is over. */
  disconnectAfter: boolean;
  /** Claims the node's syncs stored lately, not newer, are not stored again (on-connect mode: the node knows enough peers already). */
  skipSynced?: boolean;
  env: NetworkDiscoveryEnv;
}

/** Network discovery's context. */
export interface NetworkDiscoveryContext {
  input: NetworkDiscoveryInput;
  /** Rounds in this cycle. */
  rounds: number;
  /** The peers synced from (or tried) in this cycle, by key hex. */
  tried: PMap<PublicKey>;
  /** Known peers at the last count (up to the threshold). */
  known: number;
  /** The peers of the round in progress. */
  selected: readonly PublicKey[];
  /** What the last round came to (for the next decision). */
  lastRound: SyncRoundOutcome | undefined;
  /** On-connect: the nodes already synced, by key hex (bounded: `maxRememberedSynced`). */
  synced: PMap<true>;
  /** On-connect: nodes waiting for their sync, in order of connection. */
  queue: readonly PublicKey[];
  /** The root said the node runs. */
  nodeRunning: boolean;
}

/** The short wait of a node: `failureWaitMs` spread by its key over [1, 2) times (nodes that failed together do not retry together). */
export function failureWaitFor(config: Pick<NetworkDiscoveryConfig, 'failureWaitMs'>, self: Uint8Array): number {
  const spread = self.length >= 2 ? ((self[0]! << 8) | self[1]!) / 65_536 : 0;
  return Math.round(config.failureWaitMs * (1 + spread));
}

const succeeded = (o: SyncRoundOutcome | undefined) => (o ? o.reports.filter((r) => r.ok).length : 0);
const addedBy = (o: SyncRoundOutcome | undefined) => (o ? o.reports.reduce((n, r) => n + r.added, 0) : 0);

/** The network discovery state chart (see the module comment). */
export const networkDiscoveryMachine = setup({
  types: {
    context: {} as NetworkDiscoveryContext,
    events: {} as NetworkDiscoveryEvent,
    input: {} as NetworkDiscoveryInput,
    emitted: {} as NetworkDiscoveryEmitted,
  },
  actors: {
    addSeeds: fromPromise<void, AddSeedsInput>(notProvided('addSeeds', 'network-discovery.logic.ts')),
    countKnown: fromPromise<number, CountKnownInput>(notProvided('countKnown', 'network-discovery.logic.ts')),
    pickPeers: fromPromise<PublicKey[], PickPeersInput>(notProvided('pickPeers', 'network-discovery.logic.ts')),
    syncRound: fromPromise<SyncRoundOutcome, SyncRoundInput>(notProvided('syncRound', 'network-discovery.logic.ts')),
    /** Follows the connection manager's `peer.connected` (on-connect mode). */
    followConnections: callbackActor<{ type: 'follow.never' }, undefined, NetworkDiscoveryConnected>(notProvided('followConnections', 'network-discovery.logic.ts')),
  },
  delays: {
    idleWait: ({ context }) => context.input.config.idleWaitMs,
    failureWait: ({ context }) => failureWaitFor(context.input.config, context.input.env.self),
    roundTimeout: ({ context }) => context.input.config.roundTimeoutMs,
  },
  guards: {
    enoughPeers: ({ context }, params: { known: number }) => params.known >= context.input.config.minKnownPeers,
    roundsExhausted: ({ context }) => context.rounds >= context.input.config.maxRounds,
    nonePicked: (_, params: { peers: readonly PublicKey[] }) => params.peers.length === 0,
    /** Every sync failed, or none brought a peer the store did not hold. */
    roundFruitless: ({ context }) => addedBy(context.lastRound) === 0,
    /**
     * The peer dialled this node (an inbound connection) and is not a configured seed: it is not
     * synced. Anyone may connect, under a new key each time, and each sync would store up to
     * `onConnectPeers` claims of the connecting host's choosing (free to make, as each is signed
     * by its own fresh key), nearest this node at that.
     */
    inboundNotSeed: ({ context, event }) =>
      event.type === 'network-discovery.peer-connected' && !event.outbound && !context.input.seeds.some((s) => toHex(s.publicKey) === toHex(event.publicKey)),
    /** A node connected that was not synced yet, with room in the queue. */
    syncWanted: ({ context, event }) =>
      event.type === 'network-discovery.peer-connected' &&
      event.node &&
      !context.synced.has(toHex(event.publicKey)) &&
      !context.queue.some((k) => toHex(k) === toHex(event.publicKey)) &&
      context.queue.length < context.input.config.maxQueuedConnects,
    queued: ({ context }) => context.queue.length > 0,
    nodeRunning: ({ context }) => context.nodeRunning,
  },
  actions: {
    markNodeRunning: assign({ nodeRunning: true }),
    recordCount: assign((_, params: { known: number }) => ({ known: params.known })),
    select: assign((_, params: { peers: readonly PublicKey[] }) => ({ selected: params.peers })),
    /** No peer left to try: the cycle's tried peers may be tried again after the wait. */
    forgetTried: assign({ tried: () => PMap.empty<PublicKey>() }),
    /** A round ended: its peers tried; counted when a peer answered (a node whose seeds are unreachable keeps trying every few seconds). */
    recordRound: assign(({ context }, params: { outcome: SyncRoundOutcome | undefined }) => {
      let tried = context.tried;
      for (const k of context.selected) tried = tried.set(toHex(k), k);
      const answered = succeeded(params.outcome) > 0;
      return { rounds: context.rounds + (answered ? 1 : 0), tried, lastRound: params.outcome ?? { reports: [] }, selected: [] };
    }),
    /** The idle wait ended: a new cycle (rounds and tried peers forgotten). */
    newCycle: assign({ rounds: 0, tried: () => PMap.empty<PublicKey>(), lastRound: undefined }),
    /** Each server that broke 9.8 goes to connectivity for its ban (which disconnects it); published. */
    reportViolations: enqueueActions(({ context, enqueue, system }, params: { outcome: SyncRoundOutcome | undefined }) => {
      const connectivity = component(system, 'connectivity');
      for (const r of params.outcome?.reports ?? []) {
        if (r.violation === undefined) continue;
        const durationMs = context.input.banMs;
        if (connectivity) enqueue.sendTo(connectivity, { type: 'peer.violation', publicKey: r.publicKey, error: { name: 'PeerSyncViolation', message: r.violation, kind: 'protocol' }, durationMs });
        enqueue.emit({ type: 'network-discovery.violation', publicKey: r.publicKey, reason: r.violation, durationMs });
      }
    }),
    announceRound: enqueueActions(({ enqueue }, params: { mode: 'discovering' | 'on-connect'; outcome: SyncRoundOutcome | undefined }) => {
      const reports = params.outcome?.reports ?? [];
      for (const report of reports) enqueue.emit({ type: 'network-discovery.synced', report });
      enqueue.emit({ type: 'network-discovery.round', mode: params.mode, peers: reports.length, succeeded: succeeded(params.outcome), added: addedBy(params.outcome) });
    }),
    enqueueConnected: assign(({ context, event }) => (event.type === 'network-discovery.peer-connected' ? { queue: [...context.queue, event.publicKey] } : {})),
    /** The head of the queue was synced (or given up): remembered, so that it is synced once. */
    dequeueSynced: assign(({ context }) => {
      const head = context.queue[0];
      if (!head) return {};
      const full = context.synced.size >= context.input.config.maxRememberedSynced;
      return { queue: context.queue.slice(1), synced: (full ? PMap.empty<true>() : context.synced).set(toHex(head), true) };
    }),
  },
}).createMachine({
  id: 'networkDiscovery',
  context: ({ input }) => ({ input, rounds: 0, tried: PMap.empty(), known: 0, selected: [], lastRound: undefined, synced: PMap.empty(), queue: [], nodeRunning: false }),
  initial: 'initializing',
  on: { 'network-discovery.stop': { target: '.stopped' } },
  states: {
    initializing: {
      description: 'The configured seeds are stored (as nodes, flagged seeds); discovery begins once the node runs.',
      initial: 'storingSeeds',
      on: { 'network-discovery.node-running': { actions: 'markNodeRunning' } },
      states: {
        storingSeeds: {
          invoke: {
            id: 'addSeeds',
            src: 'addSeeds',
            input: ({ context }) => ({ seeds: context.input.seeds }),
            onDone: { target: 'seeded' },
            onError: { target: 'seeded' },
          },
        },
        seeded: {
          description: 'Until the node runs: its listen addresses bound and in its claim.',
          always: { guard: 'nodeRunning', target: '#networkDiscovery.ready' },
        },
      },
    },
    ready: {
      description: 'Counts the known peers (up to the threshold) and decides: discover, wait, or sync on connect.',
      invoke: {
        id: 'countKnown',
        src: 'countKnown',
        input: ({ context }) => ({ self: nodeIdOf(context.input.env.self), limit: context.input.config.minKnownPeers }),
        onDone: [
          { guard: { type: 'enoughPeers', params: ({ event }) => ({ known: event.output }) }, target: 'onConnect', actions: { type: 'recordCount', params: ({ event }) => ({ known: event.output }) } },
          { guard: 'roundsExhausted', target: 'waiting.idle', actions: { type: 'recordCount', params: ({ event }) => ({ known: event.output }) } },
          { target: 'discovering', actions: { type: 'recordCount', params: ({ event }) => ({ known: event.output }) } },
        ],
        onError: { target: 'waiting.afterFailure' },
      },
    },
    discovering: {
      description: 'Below the threshold: a round of GetPeers from up to 5 random nodes not tried this cycle.',
      initial: 'selecting',
      states: {
        selecting: {
          invoke: {
            id: 'pickPeers',
            src: 'pickPeers',
            input: ({ context }) => ({ n: context.input.config.syncPeers, exclude: [...context.tried].map(([, k]) => k), seeds: context.input.seeds.map((s) => s.publicKey), isBanned: context.input.env.isBanned }),
            onDone: [
              { guard: { type: 'nonePicked', params: ({ event }) => ({ peers: event.output }) }, target: '#networkDiscovery.waiting.afterFailure', actions: 'forgetTried' },
              { target: 'syncing', actions: { type: 'select', params: ({ event }) => ({ peers: event.output }) } },
            ],
            onError: { target: '#networkDiscovery.waiting.afterFailure' },
          },
        },
        syncing: {
          description: 'One sync per picked peer, at once; each claim re-validated and stored as it arrives.',
          invoke: {
            id: 'syncRound',
            src: 'syncRound',
            input: ({ context }) => ({ peers: context.selected, n: context.input.config.peersPerSync, includeClients: context.input.config.includeClients, disconnectAfter: context.input.config.disconnectAfterSync, env: context.input.env }),
            onDone: {
              target: 'judging',
              actions: [
                { type: 'recordRound', params: ({ event }) => ({ outcome: event.output }) },
                { type: 'reportViolations', params: ({ event }) => ({ outcome: event.output }) },
                { type: 'announceRound', params: ({ event }) => ({ mode: 'discovering' as const, outcome: event.output }) },
              ],
            },
            onError: { target: '#networkDiscovery.waiting.afterFailure', actions: { type: 'recordRound', params: () => ({ outcome: undefined }) } },
          },
          after: { roundTimeout: { target: '#networkDiscovery.waiting.afterFailure', actions: { type: 'recordRound', params: () => ({ outcome: undefined }) } } },
        },
        judging: {
          description: 'A round that brought no new peer waits the short wait and forgets the tried peers (the seeds come first again); another counts again at once.',
          always: [{ guard: 'roundFruitless', target: '#networkDiscovery.waiting.afterFailure', actions: 'forgetTried' }, { target: '#networkDiscovery.ready' }],
        },
      },
    },
    onConnect: {
      description: 'Enough peers known: each node this node dialled (or a seed) is synced once when it connects, in turn; inbound connections are not synced.',
      invoke: { id: 'followConnections', src: 'followConnections' },
      on: { 'network-discovery.peer-connected': [{ guard: 'inboundNotSeed' /* not synced */ }, { guard: 'syncWanted', actions: 'enqueueConnected' }] },
      initial: 'listening',
      states: {
        listening: {
          always: { guard: 'queued', target: 'syncing' },
        },
        syncing: {
          invoke: {
            id: 'syncConnected',
            src: 'syncRound',
            input: ({ context }) => ({ peers: context.queue.slice(0, 1), n: context.input.config.onConnectPeers, closerTo: nodeIdOf(context.input.env.self), includeClients: context.input.config.includeClients, disconnectAfter: false, skipSynced: true, env: context.input.env }),
            onDone: {
              target: 'listening',
              actions: [
                'dequeueSynced',
                { type: 'reportViolations', params: ({ event }) => ({ outcome: event.output }) },
                { type: 'announceRound', params: ({ event }) => ({ mode: 'on-connect' as const, outcome: event.output }) },
              ],
            },
            onError: { target: 'listening', actions: 'dequeueSynced' },
          },
          after: { roundTimeout: { target: 'listening', actions: 'dequeueSynced' } },
        },
      },
    },
    waiting: {
      description: 'Idle for 30 min at the end of a cycle, or 5 s after a round that failed or learned nothing.',
      initial: 'afterFailure',
      states: {
        idle: {
          after: { idleWait: { target: '#networkDiscovery.ready', actions: 'newCycle' } },
        },
        afterFailure: {
          after: { failureWait: { target: '#networkDiscovery.ready' } },
        },
      },
    },
    stopped: {
      description: 'Stopped with the node: a round in progress is abandoned (its calls cancelled).',
      type: 'final',
    },
  },
});
