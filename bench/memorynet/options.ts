/**
 * What a memorynet run is asked to do (`npm run memorynet -- --nodes 1000 --wallets 50 --seed 1`),
 * with the defaults of issue 21, and the few settings a test changes (smaller waits, fewer rounds).
 */

/** A memorynet run's settings. */
export interface MemorynetOptions {
  /** Communication nodes (propagation and store-and-forward features), beside the seed. */
  nodes: number;
  /** Wallets (client features: they neither forward nor store). */
  wallets: number;
  /** Everything drawn by the harness (keys, which wallet goes offline, the propagation origin) comes from this. */
  seed: number;
  /** Store-and-forward rounds (issue 21: 5). */
  safRounds: number;
  /** Messages sent to the offline wallet in each round, one per sending wallet at most. */
  safSenders: number;
  /** Nodes started (and dialing the seed) at once: a start-up in waves, as a network comes up. */
  startConcurrency: number;
  /** Discoveries in flight at once (wallet i discovers wallet i+1). */
  discoveryConcurrency: number;
  /** Store-and-forward messages being sent at once. */
  safSendConcurrency: number;
  /** The longest wait of each step for what it waits on (ms); a step that runs out reports what it got. */
  stepTimeoutMs: number;
  /** How long a wallet back online may take to receive what was sent to it while away (ms). */
  safWaitMs: number;
  /** Network discovery's wait after a round that failed or learned nothing (ms; 9.9: 5 s). */
  discoveryFailureWaitMs: number;
  /** The DHT pools close connections to nodes in no pool once theirs are full (`dht.connectivity.minimizeConnections`). */
  minimizeConnections: boolean;
  /** Peer connection keepalive period (ms; 0 = off). */
  keepaliveIntervalMs: number;
  /** The DHT pools' wait before a full neighbour pool takes closer nodes (`dht.connectivity.neighbourSettleMs`; the stack's default, 30 s, when absent). */
  neighbourSettleMs?: number;
}

/** The defaults (issue 21's network: 1 seed, 1,000 nodes, 50 wallets, 5 store-and-forward rounds). */
export const DEFAULT_MEMORYNET_OPTIONS: Readonly<MemorynetOptions> = Object.freeze({
  nodes: 1_000,
  wallets: 50,
  seed: 1,
  safRounds: 5,
  // Every other wallet sends one: 49 messages a round with 50 wallets.
  safSenders: 1_000,
  // The seed admits 4 upgrades per address at once and a memory connection has no address.
  startConcurrency: 32,
  // One at a time: every node runs on the one event loop, so a discovery's latency is the time
  // the process takes to carry its DISCOVERY to all the nodes it reaches (a third of them, about
  // three copies each: 9.6's Propagate); concurrent ones only wait behind each other (measured
  // with 16 at once in 1,000 nodes on the loaded machine: half passed the 60 s timeout).
  discoveryConcurrency: 1,
  safSendConcurrency: 4,
  stepTimeoutMs: 120_000,
  safWaitMs: 60_000,
  discoveryFailureWaitMs: 5_000,
  // The stack's default (off). With it on (--minimize) each node keeps about 18 connections at
  // 100 nodes instead of 45-50, but store-and-forward lost messages: 214 of 245 delivered at 100
  // nodes and 50 wallets (0 of 5 rounds whole) against 245 of 245 without (2026-12-07, seed 1).
  minimizeConnections: false,
  // A memory connection never dies silently.
  keepaliveIntervalMs: 0,
  // 5 s, not the stack's 30 s: a wallet back online takes the nodes holding its messages within
  // 5 s of learning them rather than 30 (1,000 nodes: store-and-forward 5 of 5 rounds with it,
  // 4 of 5 with 30 s, one message missing; the rounds at 100 nodes 48 s instead of 123 s). 5 s
  // still gathers a sync's burst of claims, which arrives within a second or two.
  neighbourSettleMs: 5_000,
});
