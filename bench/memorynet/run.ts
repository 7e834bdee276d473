/**
 * One memorynet run: builds the network from the options, runs the steps in order, measures, and
 * stops every node. `runMemorynet` is what `npm run memorynet` and the mocha test call.
 */
import { cpus, loadavg } from 'node:os';
import { Prng } from '../../core/prng.js';
import { distribution, RssSampler, type Distribution } from './metrics.js';
import { Memorynet } from './network.js';
import type { MemorynetOptions } from './options.js';
import { silentProgress, type ProgressSink } from './progress.js';
import { discoveries, propagation, SAF_IN_STACK, safRounds, snapshot, startup, walletsJoin, type PropagationResult, type SafRound, type StepContext } from './steps.js';

/** Parts of the run done by the harness until the stack did them (each named in the output; none since the DHT pools). */
export const STAND_INS: readonly string[] = [];

/** The figures of a run (`--json` prints this, without `series`). */
export interface MemorynetResult {
  nodes: number;
  wallets: number;
  seed: number;
  elapsedMs: number;
  peakRssBytes: number;
  startup: { nodesOnlineMs: number; peerStoresMs: number; neighboursMs: number; walletsJoinMs: number; failed: string[] };
  /** Peers in each communication node's store after start-up (the seed apart: `seed`). */
  peersKnown: Distribution;
  /** Connections of each communication node after start-up. */
  connections: Distribution;
  /** The seed node's peers and connections. */
  seedNode: { peersKnown: number; connections: number };
  walletConnections: Distribution;
  discovery: { attempts: number; successes: number; p50Ms: number; p95Ms: number; maxMs: number; failures: string[] };
  saf: {
    available: boolean;
    rounds: number;
    roundsDelivered: number;
    messagesSent: number;
    messagesDelivered: number;
    messagesLate: number;
    detail: SafRound[];
    /** The DHT's drops and violations by reason during the rounds, summed over every member. */
    dropReasons: Record<string, number>;
  };
  propagation: Omit<PropagationResult, 'coverage'>;
  /** DHT messages received over the run: by every member, and per communication node. */
  messages: { total: number; perNode: Distribution };
  standIns: readonly string[];
  environment: { node: string; cpus: string; loadAverage: number[] };
  /** Data for the report's charts. */
  series: {
    coverage: Array<[number, number]>;
    discoveryLatenciesMs: number[];
    connections: number[];
    rss: Array<{ atMs: number; rssBytes: number }>;
  };
}

/** What a caller may hook into. */
export interface RunHooks {
  progress?: ProgressSink;
}

/** Runs the memorynet of `options` (see the module comment). */
export async function runMemorynet(options: MemorynetOptions, hooks: RunHooks = {}): Promise<MemorynetResult> {
  const t0 = performance.now();
  const rss = new RssSampler();
  const net = new Memorynet(options);
  const ctx: StepContext = { net, options, prng: new Prng(options.seed), progress: hooks.progress ?? silentProgress };
  try {
    const start = await startup(ctx);
    const joined = await walletsJoin(ctx);
    const afterStart = await snapshot(net);
    const disc = await discoveries(ctx);
    const saf = await safRounds(ctx);
    const prop = await propagation(ctx);
    const end = await snapshot(net);
    rss.stop();
    const { coverage, ...propagationFigures } = prop;
    return {
      nodes: options.nodes,
      wallets: options.wallets,
      seed: options.seed,
      elapsedMs: Math.round(performance.now() - t0),
      peakRssBytes: rss.peakBytes,
      startup: { nodesOnlineMs: Math.round(start.nodesOnlineMs), peerStoresMs: Math.round(start.peerStoresMs), neighboursMs: Math.round(start.neighboursMs), walletsJoinMs: Math.round(joined.joinMs), failed: [...start.failed, ...joined.failed] },
      peersKnown: afterStart.peersKnown,
      connections: distribution(afterStart.connections),
      seedNode: afterStart.seed,
      walletConnections: distribution(afterStart.walletConnections),
      discovery: { attempts: disc.attempts, successes: disc.successes, p50Ms: Math.round(disc.latency.p50), p95Ms: Math.round(disc.latency.p95), maxMs: Math.round(disc.latency.max), failures: disc.failures },
      saf: {
        available: SAF_IN_STACK,
        rounds: saf.rounds.length,
        roundsDelivered: saf.rounds.filter((r) => r.sent > 0 && r.delivered === r.sent).length,
        messagesSent: saf.rounds.reduce((s, r) => s + r.sent, 0),
        messagesDelivered: saf.rounds.reduce((s, r) => s + r.delivered, 0),
        messagesLate: saf.rounds.reduce((s, r) => s + r.late, 0),
        detail: saf.rounds,
        dropReasons: saf.dropReasons,
      },
      propagation: propagationFigures,
      messages: { total: end.messagesTotal, perNode: end.messagesReceived },
      standIns: STAND_INS,
      environment: { node: process.version, cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`, loadAverage: loadavg().map((x) => Math.round(x * 100) / 100) },
      series: { coverage, discoveryLatenciesMs: disc.latenciesMs, connections: afterStart.connections, rss: rss.samples },
    };
  } finally {
    rss.stop();
    await net.stopAll();
  }
}
