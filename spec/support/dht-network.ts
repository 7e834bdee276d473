/**
 * DHT networks on the memory transport in one process: seeded identities, a topology (edges
 * between node indexes), nodes built with the DHT, connected along the edges (the lower index
 * dials), and helpers to reason about Propagate's routing on that topology (PROTOCOL.md 9.6).
 * Nodes share the process's worker pool and run without keepalive, and keep no DHT pools
 * (`dht.connectivity`) unless asked: the edges are the test's.
 */
import { createHash } from 'node:crypto';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity } from '../../core/keys.js';
import { byDistance, selectConnected, type ConnectedPeer } from '../../actors/dht/strategies.js';
import { CommsBuilder, type CommsNode, type DhtInit } from '../../node/index.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';

/** A deterministic pseudo-random source (LCG) for topologies. */
export function seededRandom(seed: number): (n: number) => number {
  let r = (seed * 7919 + 1) % 2147483648;
  return (n) => {
    r = (r * 1103515245 + 12345) % 2147483648;
    return Math.floor((r / 2147483648) * n);
  };
}

/** `n` identities derived from `seed`. */
export function seededIdentities(seed: string, n: number): NodeIdentity[] {
  return Array.from({ length: n }, (_, i) => NodeIdentity.fromSeed(createHash('sha256').update(`${seed}:${i}`).digest()));
}

/** Undirected adjacency sets. */
export type Adjacency = Array<Set<number>>;

/** Each node linked to its `closest` nearest by XOR distance and `random` others. */
export function xorTopology(ids: readonly NodeIdentity[], closest: number, random: number, rnd: (n: number) => number): Adjacency {
  const adj: Adjacency = ids.map(() => new Set<number>());
  const link = (i: number, j: number) => {
    if (i === j) return;
    adj[i]!.add(j);
    adj[j]!.add(i);
  };
  ids.forEach((id, i) => {
    const others = ids.map((x, j) => ({ j, nodeId: x.nodeId })).filter((x) => x.j !== i);
    for (const c of byDistance(others, id.nodeId).slice(0, closest)) link(i, c.j);
    for (let k = 0; k < random; k++) link(i, rnd(ids.length));
  });
  return adj;
}

/** A connected random graph whose degrees are at most `maxDegree` (a random spanning tree, then random extra edges). */
export function boundedDegreeGraph(n: number, maxDegree: number, extraEdges: number, rnd: (n: number) => number): Adjacency {
  const adj: Adjacency = Array.from({ length: n }, () => new Set<number>());
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rnd(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  for (let k = 1; k < n; k++) {
    // The newest tree node has degree 1, so there is always one with room.
    const open = order.slice(0, k).filter((x) => adj[x]!.size < maxDegree);
    const parent = open[rnd(open.length)]!;
    adj[parent]!.add(order[k]!);
    adj[order[k]!]!.add(parent);
  }
  for (let tries = 0, added = 0; added < extraEdges && tries < extraEdges * 50; tries++) {
    const [i, j] = [rnd(n), rnd(n)];
    if (i === j || adj[i]!.has(j) || adj[i]!.size >= maxDegree || adj[j]!.size >= maxDegree) continue;
    adj[i]!.add(j);
    adj[j]!.add(i);
    added++;
  }
  return adj;
}

/** Whether Propagate(toward `t`) from `a` reaches `t` under each of `trials` random arrival orders (a pure simulation of 9.6). */
export function propagationReaches(ids: readonly NodeIdentity[], adj: Adjacency, a: number, t: number, trials: number, rnd: (n: number) => number): boolean {
  const hexes = ids.map((x) => toHex(x.publicKey));
  const index = new Map(hexes.map((h, i) => [h, i]));
  const peer = (j: number): ConnectedPeer => ({ publicKey: ids[j]!.publicKey, nodeId: ids[j]!.nodeId, hex: hexes[j]!, features: 1 });
  const destination = { hex: hexes[t]!, nodeId: ids[t]!.nodeId };
  const select = (x: number, from: number | undefined, strategy: 'propagate' | 'broadcast') =>
    selectConnected(strategy, { self: ids[x]!.nodeId, connected: [...adj[x]!].map(peer), exclude: new Set(from === undefined ? [] : [hexes[from]!]), destination, random: rnd }).map((p) => index.get(p.hex)!);
  for (let trial = 0; trial < trials; trial++) {
    for (const first of ['propagate', 'broadcast'] as const) {
      const got = new Set([a]);
      const queue: Array<[number, number]> = select(a, undefined, first).map((x) => [x, a]);
      while (queue.length > 0 && !got.has(t)) {
        const [x, from] = queue.splice(rnd(queue.length), 1)[0]!;
        if (got.has(x)) continue;
        got.add(x);
        for (const y of select(x, from, 'propagate')) queue.push([y, x]);
      }
      if (!got.has(t)) return false;
    }
  }
  return true;
}

/** A running network. */
export interface DhtTestNetwork {
  nodes: CommsNode[];
  ids: NodeIdentity[];
  adj: Adjacency;
  stop(): Promise<void>;
}

/** Builds, starts and connects one node per identity along `adj` (the lower index dials). */
export async function startDhtNetwork(ids: readonly NodeIdentity[], adj: Adjacency, options: { dht?: DhtInit; configure?: (b: CommsBuilder, i: number) => CommsBuilder } = {}): Promise<DhtTestNetwork> {
  const network = new MemoryNetwork();
  const nodes = ids.map((identity, i) => {
    const b = new CommsBuilder()
      .withNodeIdentity(identity)
      .withUserAgent(`n${i}`)
      .withTransport(new MemoryTransport({ network }))
      .withListenAddress('/memory/0')
      .withTimeouts({ keepaliveIntervalMs: 0, closeGraceMs: 500 }) // a disconnect (a ban) completes within the test
      .withDialPolicy({ rounds: 1 })
      // Fixed topologies: network discovery (which would dial the peers it learns) and the DHT's
      // pools (which would dial beyond the topology) only where a test asks for them.
      .withDht({ networkDiscovery: { enabled: false }, ...options.dht, connectivity: { numNeighbours: 0, numRandom: 0, ...options.dht?.connectivity } });
    return (options.configure ? options.configure(b, i) : b).build();
  });
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
    const edges: Array<[number, number]> = [];
    adj.forEach((set, i) => set.forEach((j) => i < j && edges.push([i, j])));
    // At most 16 dials at once: the handshakes share the process's one X25519 thread.
    for (let k = 0; k < edges.length; k += 16) {
      await Promise.all(
        edges.slice(k, k + 16).map(async ([i, j]) => {
          await nodes[i]!.addPeer(nodes[j]!.publicKey, nodes[j]!.listenAddresses.map(String));
          await nodes[i]!.dial(nodes[j]!.publicKey, { timeoutMs: 30_000 });
        }),
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, ids: [...ids], adj, stop };
}
