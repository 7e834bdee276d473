/**
 * The steps of a memorynet run (issue 21), each measured:
 * 1. start-up: the seed, then every communication node knowing only the seed;
 * 2. wallets join, knowing only the seed;
 * 3. wallet i discovers wallet i+1 (the last discovers the first);
 * 4. store-and-forward rounds: a wallet goes offline, the others send it encrypted messages, it
 *    comes back and must receive them;
 * 5. one network-wide propagation from a random communication node.
 * Every wait is bounded by `stepTimeoutMs`; a step that runs out reports what it got.
 */
import { toHex } from '../../core/bytes.js';
import { Prng } from '../../core/prng.js';
import { settled } from '../../actors/dht/index.js';
import { DhtMessageType } from '../../protocols/dht/index.js';
import type { CommsNode } from '../../node/index.js';
import { distribution, type Distribution } from './metrics.js';
import type { Member, Memorynet } from './network.js';
import type { MemorynetOptions } from './options.js';
import type { ProgressSink } from './progress.js';
import { connectNeighbours } from './neighbours.js';

/** Whether the stack stores and forwards (PROTOCOL.md 9.7): it does since issue 21's `saf-store` (false skipped the rounds). */
export const SAF_IN_STACK = true;

/** The application message types the run sends. */
export const SAF_MESSAGE_TYPE = 21_001;
/** The network-wide propagation's message type. */
export const PROPAGATION_MESSAGE_TYPE = 21_002;

/** What the steps share. */
export interface StepContext {
  net: Memorynet;
  options: MemorynetOptions;
  prng: Prng;
  progress: ProgressSink;
}

/** Runs `fn` over `items` with at most `concurrency` in flight, reporting each completion. */
export async function inPool<T>(items: readonly T[], concurrency: number, fn: (item: T, i: number) => Promise<void>, onDone?: (done: number) => void): Promise<void> {
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
        onDone?.(++done);
      }
    }),
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it holds or `timeoutMs` ran out; resolves with whether it held. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (performance.now() >= deadline) return false;
    await sleep(everyMs);
  }
}

/** The running node of `m` (a bug of the harness if it is offline). */
export function nodeOf(m: Member): CommsNode {
  if (!m.node) throw new Error(`${m.label} is offline`);
  return m.node;
}

/** Peers a member should know once network discovery has run: 9.9's threshold, or everyone in a smaller network. */
function knownTarget(ctx: StepContext): number {
  return Math.min(ctx.net.options.nodes, 50);
}

/**
 * Starts `m`: it knows only the seed (its configuration), network discovery syncs from it, its
 * JOIN follows. Resolves once it is connected to the seed (or after the step timeout), so that
 * starting in waves also paces the connections to the seed.
 */
async function startKnowingSeed(ctx: StepContext, m: Member, prepare?: (node: CommsNode) => void): Promise<void> {
  const node = await ctx.net.start(m, prepare);
  const seed = ctx.net.seed.identity.publicKey;
  await waitFor(() => node.connection(seed) !== undefined, ctx.options.stepTimeoutMs, 20);
}

/** Whether `m`'s network discovery is done for now: enough peers known (syncing newly connected nodes), or idle after a cycle of rounds. */
function discoverySettled(m: Member): boolean {
  const nd = nodeOf(m).actors.networkDiscovery?.getSnapshot();
  return nd === undefined || nd.matches('onConnect') || nd.matches({ waiting: 'idle' });
}

/**
 * Waits (bounded) until each of `members` knows `knownTarget` peers or its network discovery has
 * settled (an early node, synced while the network was small, ends its cycle of rounds knowing
 * fewer); returns those that did neither.
 */
export async function fillPeerStores(ctx: StepContext, members: readonly Member[], quiet = false): Promise<string[]> {
  const target = knownTarget(ctx);
  const pending = new Set(members.filter((m) => m.node !== undefined));
  if (!quiet) ctx.progress.step(`peer stores fill from the seed (network discovery, up to ${target} peers each)`, pending.size);
  await waitFor(
    async () => {
      const now = [...pending];
      await inPool(now, 32, async (m) => {
        if (discoverySettled(m) || (await nodeOf(m).peers.closest(m.identity.nodeId, target)).length >= target) pending.delete(m);
      });
      if (!quiet) ctx.progress.update(members.length - pending.size);
      return pending.size === 0;
    },
    ctx.options.stepTimeoutMs,
    250,
  );
  if (!quiet) ctx.progress.end(`${members.length - pending.size}/${members.length} done`);
  return [...pending].map((m) => `${m.label}: network discovery still running`);
}

/** Start-up's measurements. */
export interface StartupResult {
  /** From the seed's start until every node was started (ms). */
  nodesOnlineMs: number;
  /** Until every node knew its share of the network (ms, from the same start). */
  peerStoresMs: number;
  /** Until every node held its neighbour connections (ms, from the same start). */
  neighboursMs: number;
  /** Nodes that could not start, or did not fill their peer store (named). */
  failed: string[];
}

/** Starts `members` (at most `startConcurrency` at once), each knowing only the seed, as one progress step; the failures, named. */
async function startAllKnowingSeed(ctx: StepContext, members: StepContext['net']['nodes'], title: string): Promise<string[]> {
  const { options, progress } = ctx;
  const failed: string[] = [];
  progress.step(title, members.length);
  await inPool(
    members,
    options.startConcurrency,
    async (m) => {
      try {
        await startKnowingSeed(ctx, m);
      } catch (err) {
        failed.push(`${m.label}: ${(err as Error).message}`);
      }
    },
    (d) => progress.update(d),
  );
  return failed;
}

/** Step 1: the seed, then the communication nodes in waves, each knowing only the seed; their peer stores fill; then their neighbours. */
export async function startup(ctx: StepContext): Promise<StartupResult> {
  const { net, progress } = ctx;
  const t0 = performance.now();
  await net.start(net.seed);
  const failed = await startAllKnowingSeed(ctx, net.nodes, 'nodes start, knowing only the seed');
  const nodesOnlineMs = performance.now() - t0;
  progress.end(`${net.nodes.length - failed.length} online`);
  failed.push(...(await fillPeerStores(ctx, net.nodes)));
  const peerStoresMs = performance.now() - t0;
  failed.push(...(await connectNeighbours(ctx, net.nodes)));
  return { nodesOnlineMs, peerStoresMs, neighboursMs: performance.now() - t0, failed };
}

/** Wallets' measurements. */
export interface WalletsResult {
  joinMs: number;
  failed: string[];
}

/** Step 2: the wallets start knowing only the seed, join (a JOIN on coming online), and connect to their neighbours. */
export async function walletsJoin(ctx: StepContext): Promise<WalletsResult> {
  const { net, progress } = ctx;
  const t0 = performance.now();
  const failed = await startAllKnowingSeed(ctx, net.wallets, 'wallets join');
  progress.end(`${net.wallets.length - failed.length} joined`);
  failed.push(...(await fillPeerStores(ctx, net.wallets)));
  failed.push(...(await connectNeighbours(ctx, net.wallets)));
  return { joinMs: performance.now() - t0, failed };
}

/** Discoveries' measurements. */
export interface DiscoveryResult {
  attempts: number;
  successes: number;
  latenciesMs: number[];
  latency: Distribution;
  /** Failed discoveries: who looked for whom and why. */
  failures: string[];
}

/** Step 3: wallet i discovers wallet i+1 (the last, the first). */
export async function discoveries(ctx: StepContext): Promise<DiscoveryResult> {
  const { net, options, progress } = ctx;
  const pairs = net.wallets.length < 2 ? [] : net.wallets.map((w, i) => [w, net.wallets[(i + 1) % net.wallets.length]!] as const);
  const latenciesMs: number[] = [];
  const failures: string[] = [];
  progress.step('wallet i discovers wallet i+1', pairs.length);
  await inPool(
    pairs,
    options.discoveryConcurrency,
    async ([from, to]) => {
      const t = performance.now();
      const outcome = await nodeOf(from).dht.discover(to.identity.publicKey);
      if (outcome.ok) latenciesMs.push(performance.now() - t);
      else failures.push(`${from.label} -> ${to.label}: ${outcome.error.name}`);
    },
    (d) => progress.update(d),
  );
  progress.end(`${latenciesMs.length}/${pairs.length} found`);
  return { attempts: pairs.length, successes: latenciesMs.length, latenciesMs, latency: distribution(latenciesMs), failures };
}

/** One store-and-forward round. */
export interface SafRound {
  offline: string;
  sent: number;
  delivered: number;
  /** Of those delivered, how many came marked late (through store-and-forward). */
  late: number;
  /** Send failures by name. */
  sendFailures: Record<string, number>;
}

/** Store-and-forward's measurements. */
export interface SafResult {
  rounds: SafRound[];
  /**
   * The DHT's drops and violations by reason (`dht.stats.byReason`: `saf_unsolicited`,
   * `saf_out_of_region`, `duplicate` ...) counted during the rounds, summed over every member,
   * those that went offline included up to their stop.
   */
  dropReasons: Record<string, number>;
}

/** Adds each of `nodes`' DHT drop and violation counts by reason, times `sign`, into `into`. */
export function addReasons(into: Record<string, number>, nodes: Iterable<CommsNode>, sign: 1 | -1 = 1): Record<string, number> {
  for (const node of nodes) for (const [reason, n] of Object.entries(node.dht.stats.byReason)) into[reason] = (into[reason] ?? 0) + sign * n;
  return into;
}

/** `counts` without its zero entries, sorted by reason. */
function nonZero(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n !== 0).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Step 4: rounds of a wallet going offline, receiving while away, coming back. */
export async function safRounds(ctx: StepContext): Promise<SafResult> {
  const { net, options, prng, progress } = ctx;
  const rounds: SafRound[] = [];
  if (net.wallets.length < 2 || !SAF_IN_STACK) return { rounds, dropReasons: {} };
  const online = () => net.all.flatMap((m) => (m.node ? [m.node] : []));
  // What the members counted before the rounds is taken off; a member's node that stops adds its last counts.
  const reasons = addReasons({}, online(), -1);
  progress.step('store-and-forward rounds', options.safRounds);
  for (let r = 0; r < options.safRounds; r++) {
    const offline = prng.pick(net.wallets);
    const senders = net.wallets.filter((w) => w !== offline).slice(0, options.safSenders);
    const stopping = offline.node;
    await net.stop(offline);
    if (stopping) addReasons(reasons, [stopping]);
    const sendFailures: Record<string, number> = {};
    let sent = 0;
    await inPool(senders, options.safSendConcurrency, async (w) => {
      const payload = new TextEncoder().encode(`saf round ${r} from ${w.label}`);
      const out = await settled(await nodeOf(w).dht.send({ to: offline.identity.publicKey, type: SAF_MESSAGE_TYPE, payload, encrypt: true, sign: true }));
      if (out.status === 'queued') {
        const written = await out.written;
        if (written.some((x) => x.outcome.ok)) {
          sent++;
          return;
        }
      }
      const name = out.status === 'failed' ? out.error.name : 'NotWritten';
      sendFailures[name] = (sendFailures[name] ?? 0) + 1;
    });
    // Back online: a new node with the same key and address, knowing only the seed.
    const got = new Set<string>();
    let late = 0;
    await startKnowingSeed(ctx, offline, (node) =>
      node.dht.on(SAF_MESSAGE_TYPE, (m) => {
        const text = new TextDecoder().decode(m.payload);
        if (!text.startsWith(`saf round ${r} `) || got.has(text)) return;
        got.add(text);
        if (m.late) late++;
      }),
    );
    await fillPeerStores(ctx, [offline], true);
    await connectNeighbours(ctx, [offline], true);
    await waitFor(() => got.size >= sent, options.safWaitMs);
    rounds.push({ offline: offline.label, sent, delivered: got.size, late, sendFailures });
    progress.update(r + 1);
  }
  const ok = rounds.filter((x) => x.sent > 0 && x.delivered === x.sent).length;
  progress.end(`${ok}/${rounds.length} rounds delivered`);
  return { rounds, dropReasons: nonZero(addReasons(reasons, online())) };
}

/** The propagation's measurements. */
export interface PropagationResult {
  origin: string;
  /** DHT nodes online (the seed and the communication nodes; wallets are clients, never forwarded to). */
  online: number;
  /** Of those, reached (the origin included): the first application receipt of the payload, from the DHT's propagation or a member's re-propagation. */
  reached: number;
  /** Of those, reached by the DHT's own propagation of the message (9.6: its copies are forwarded whatever the re-propagation does). */
  reachedByDht: number;
  /** Re-propagated copies received (the harness's application: see `propagation`). */
  appCopies: number;
  /** [ms since the send, nodes reached], one point per node reached, in order. */
  coverage: Array<[number, number]>;
  /** Nodes reached at each hop count (index = hops from the origin, a re-propagation counting as one). */
  hops: number[];
  /** The time until the last node was reached (ms). */
  lastMs: number;
  /** Copies of the DHT message received in all (the first at each node, and duplicates dropped by dedup). */
  copies: number;
  /** Nodes never reached (labels, at most 20). */
  missed: string[];
  /**
   * The nodes 9.6's rule is expected to miss on this graph: a node is missed when none of its
   * node neighbours picks it among the 4 random peers each forwards to (the origin: 4 of all its
   * nodes; others: 4 of theirs but the sending peer), summed over the nodes.
   */
  expectedMissed: number;
  /** Missed nodes that a reached neighbour had to forward to (it had at most 4 peers to choose from): a bug if any. */
  missedForced: string[];
}

/** The expected number of nodes 9.6's Propagate with no destination misses (see {@link PropagationResult.expectedMissed}). */
export function expectedMisses(neighbours: ReadonlyMap<Member, readonly Member[]>, origin: Member): number {
  let sum = 0;
  for (const [x, around] of neighbours) {
    if (x === origin) continue;
    let p = 1;
    for (const y of around) {
      const eligible = (neighbours.get(y)?.length ?? 0) - (y === origin ? 0 : 1);
      p *= eligible <= PROPAGATE_FANOUT ? 0 : 1 - PROPAGATE_FANOUT / eligible;
    }
    sum += p;
  }
  return sum;
}

/** 9.6: Propagate with no destination sends to 4 random connected nodes. */
const PROPAGATE_FANOUT = 4;

/** The re-propagated payload names the member that sent it (its hop count follows from that member's). */
const VIA = 'memorynet propagation via ';

/**
 * Step 5: one signed message for nobody in particular, from a random communication node,
 * propagated to every node. The DHT forwards it by 9.6's rule (4 random connected nodes per
 * node), which misses a node now and then by probability alone; on top of that, as Tari's
 * memorynet does, each member's application re-propagates on the first receipt: it sends the
 * payload once to each connected node but the peer it came from, as DirectPublicKey messages
 * (delivered there, never forwarded further), so that every node connected to a reached one is
 * reached. That is the harness's application behaviour, not the protocol's. A node counts as
 * reached at its first application receipt, whichever copy it was.
 */
export async function propagation(ctx: StepContext): Promise<PropagationResult> {
  const { net, options, prng, progress } = ctx;
  const online = net.dhtNodes.filter((m) => m.node !== undefined);
  const origin = prng.pick(net.nodes.filter((m) => m.node !== undefined));
  const originHex = toHex(origin.identity.publicKey);
  const neighbours = new Map(online.map((m) => [m, nodeOf(m).connections().map((c) => net.byKey(c.publicKey)).filter((p): p is Member => p !== undefined && p.role !== 'wallet')] as const));
  const expectedMissed = expectedMisses(neighbours, origin);
  const reachedAt = new Map<Member, number>();
  const from = new Map<Member, Member | undefined>();
  // Copies by dedup key (a duplicate's trace names no origin): the message's own is known once it is sent.
  const copiesByKey = new Map<string, number>();
  let key = '';
  const copies = () => copiesByKey.get(key) ?? 0;
  let t0 = 0;
  const offs: Array<() => void> = [];
  const byDht = new Set<Member>();
  let appCopies = 0;
  let resending = 0;
  // The application's re-propagation (see above): once per member, to its connected nodes but
  // the one it came from (the DHT's sender where the trace named it, or the re-propagating member).
  const repropagate = (m: Member, via: Member | undefined) => {
    const node = m.node;
    if (!node) return;
    const source = via ?? from.get(m);
    const payload = new TextEncoder().encode(`${VIA}${m.label}`);
    const peers = node.connections().map((c) => net.byKey(c.publicKey)).filter((p): p is Member => p !== undefined && p.role !== 'wallet' && p !== source);
    resending++;
    void inPool(peers, 8, async (p) => {
      await settled(await node.dht.send({ to: p.identity.publicKey, type: PROPAGATION_MESSAGE_TYPE, payload, strategy: 'direct' })).catch(() => undefined);
    }).finally(() => resending--);
  };
  progress.step('network-wide propagation', online.length);
  for (const m of online) {
    const node = nodeOf(m);
    offs.push(
      node.dht.observe((t) => {
        if (t.messageType !== DhtMessageType.DOMAIN || t.dedupKey === undefined) return;
        const key = toHex(t.dedupKey);
        copiesByKey.set(key, (copiesByKey.get(key) ?? 0) + 1);
        if (t.origin === undefined || toHex(t.origin) !== originHex || t.reason !== undefined) return;
        byDht.add(m);
        if (!from.has(m)) from.set(m, net.byKey(t.from));
      }),
      node.dht.on(PROPAGATION_MESSAGE_TYPE, (msg) => {
        const text = new TextDecoder().decode(msg.payload);
        const via = text.startsWith(VIA) ? net.byLabel(text.slice(VIA.length)) : undefined;
        if (via !== undefined) appCopies++;
        if (reachedAt.has(m)) return;
        reachedAt.set(m, performance.now() - t0);
        if (via !== undefined && !from.has(m)) from.set(m, via);
        progress.update(reachedAt.size);
        repropagate(m, via);
      }),
    );
  }
  t0 = performance.now();
  reachedAt.set(origin, 0);
  from.set(origin, undefined);
  byDht.add(origin);
  const out = await nodeOf(origin).dht.send({ type: PROPAGATION_MESSAGE_TYPE, payload: new TextEncoder().encode('memorynet propagation'), sign: true });
  if (out.status === 'failed') throw new Error(`the propagation could not be sent: ${out.error.name}: ${out.error.message}`);
  key = out.status === 'queued' ? toHex(out.dedupKey) : '';
  // Done when every node has it, or when nothing moves any more: no forward waits in messaging
  // and no copy arrived for 2 s.
  let lastCopies = -1;
  let quietSince = performance.now();
  await waitFor(() => {
    if (reachedAt.size >= online.length) return true;
    const busy = resending > 0 || online.some((m) => m.node !== undefined && m.node.dht.forwardBacklog > 0);
    if (copies() + appCopies !== lastCopies || busy) {
      lastCopies = copies() + appCopies;
      quietSince = performance.now();
      return false;
    }
    return performance.now() - quietSince > 2_000;
  }, options.stepTimeoutMs);
  for (const off of offs) off();
  const hopOf = new Map<Member, number>();
  const hop = (m: Member, depth = 0): number => {
    const known = hopOf.get(m);
    if (known !== undefined) return known;
    const f = from.get(m);
    const h = f === undefined || depth > online.length ? 0 : hop(f, depth + 1) + 1;
    hopOf.set(m, h);
    return h;
  };
  const hops: number[] = [];
  for (const m of reachedAt.keys()) {
    const h = hop(m);
    hops[h] = (hops[h] ?? 0) + 1;
  }
  const times = [...reachedAt.values()].sort((a, b) => a - b);
  const missedNodes = online.filter((m) => !reachedAt.has(m));
  const missed = missedNodes.map((m) => m.label);
  const forced = (x: Member) =>
    (neighbours.get(x) ?? []).some((y) => reachedAt.has(y) && (neighbours.get(y)?.length ?? 0) - (y === origin ? 0 : 1) <= PROPAGATE_FANOUT);
  const missedForced = missedNodes.filter(forced).map((m) => m.label);
  progress.end(`${reachedAt.size}/${online.length} reached`);
  return {
    origin: origin.label,
    online: online.length,
    reached: reachedAt.size,
    reachedByDht: byDht.size,
    appCopies,
    coverage: times.map((t, i) => [Math.round(t * 10) / 10, i + 1]),
    hops: Array.from(hops, (x) => x ?? 0),
    lastMs: times[times.length - 1] ?? 0,
    copies: copies(),
    missed: missed.slice(0, 20),
    expectedMissed: Math.round(expectedMissed * 10) / 10,
    missedForced,
  };
}

/** Per-node figures at one moment. */
export interface Snapshot {
  /** Peers in each communication node's store. */
  peersKnown: Distribution;
  /** Connections of each communication node, and of each wallet. */
  connections: number[];
  walletConnections: number[];
  /** The seed's peers and connections (it is everyone's first contact). */
  seed: { peersKnown: number; connections: number };
  /** DHT messages each communication node received since start. */
  messagesReceived: Distribution;
  /** DHT messages received by every member (the seed and the wallets too). */
  messagesTotal: number;
}

/** Peers known, connections and messages per node, now. */
export async function snapshot(net: Memorynet): Promise<Snapshot> {
  const nodes = net.nodes.filter((m) => m.node !== undefined).map(nodeOf);
  const wallets = net.wallets.filter((m) => m.node !== undefined).map(nodeOf);
  const seed = nodeOf(net.seed);
  const peers: number[] = [];
  await inPool(nodes, 32, async (n) => void peers.push((await n.peers.random(1_000_000)).length));
  return {
    peersKnown: distribution(peers),
    connections: nodes.map((n) => n.connections().length),
    walletConnections: wallets.map((n) => n.connections().length),
    seed: { peersKnown: (await seed.peers.random(1_000_000)).length, connections: seed.connections().length },
    messagesReceived: distribution(nodes.map((n) => n.dht.stats.received)),
    messagesTotal: [seed, ...nodes, ...wallets].reduce((sum, n) => sum + n.dht.stats.received, 0),
  };
}
