/**
 * The DHT's neighbour and random pools (`actors/dht-connectivity`, PROTOCOL.md 9.9) in real nodes
 * on the memory transport, every node on one SimulatedClock (set to the wall clock) so that the
 * re-dial ticks and the checks run when the test says: nodes that know each other end up
 * connected to their 8 closest and 4 random nodes; a lost neighbour is dialled again; one that is
 * gone is replaced by the next closest; a peer known by address alone joins once its claim is
 * learnt; minimizing closes the connections to nodes in no pool (never a client's).
 */
import { expect } from 'chai';
import { SimulatedClock } from 'xstate';
import { toHex } from '../../core/bytes.js';
import type { NodeIdentity } from '../../core/keys.js';
import { byDistance } from '../../actors/dht/strategies.js';
import { DEFAULT_DHT_CONNECTIVITY_CONFIG, dhtConnectivityStats, type DhtConnectivityConfig, type DhtConnectivityEmitted } from '../../actors/dht-connectivity/index.js';
import { CommsBuilder, type CommsNode } from '../../node/index.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import { seededIdentities } from '../support/dht-network.js';
import { until } from '../support/wait.js';

interface Net {
  nodes: CommsNode[];
  clock: SimulatedClock;
  stop(): Promise<void>;
}

/** Starts one node per identity on one memory network and one simulated clock. */
async function startNodes(ids: readonly NodeIdentity[], pools: (i: number) => Partial<DhtConnectivityConfig> & { propagate?: boolean }): Promise<Net> {
  const network = new MemoryNetwork();
  const clock = new SimulatedClock();
  clock.set(Date.now());
  const nodes = ids.map((identity, i) => {
    const { propagate, ...connectivity } = pools(i);
    return new CommsBuilder()
      .withNodeIdentity(identity)
      .withUserAgent(`p${i}`)
      .withTransport(new MemoryTransport({ network }))
      .withListenAddress('/memory/0')
      .withTimeouts({ keepaliveIntervalMs: 0, closeGraceMs: 500 })
      .withDialPolicy({ rounds: 1 })
      .withClock(clock)
      .withDht({ propagate: propagate ?? true, autoJoin: false, connectivity, networkDiscovery: { enabled: false } })
      .build();
  });
  const stop = async () => void (await Promise.all(nodes.map((n) => n.stop())));
  try {
    await Promise.all(nodes.map((n) => n.start()));
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, clock, stop };
}

/** Tells `node` of `others` as nodes (feature bit 0) or clients, with their listen addresses. */
async function introduce(node: CommsNode, others: readonly CommsNode[]): Promise<void> {
  for (const o of others) {
    if (o === node) continue;
    const features = o.config.features;
    await node.peers.add({ publicKey: o.publicKey, nodeId: o.nodeId, addresses: o.listenAddresses.map((a) => ({ address: String(a), source: 'config' as const })), features });
  }
}

const stats = (n: CommsNode) => dhtConnectivityStats(n.actors.dhtConnectivity!);
const hexOf = (n: CommsNode) => toHex(n.publicKey);
const connected = (n: CommsNode, hex: string) => n.connections().some((c) => toHex(c.publicKey) === hex);

/** The `k` nodes closest to `n` among `all` (hex). */
const closestOf = (n: CommsNode, all: readonly CommsNode[], k: number) =>
  byDistance(
    all.filter((x) => x !== n),
    n.nodeId,
  )
    .slice(0, k)
    .map(hexOf);

/** Waits for `check`, moving the shared clock by a re-dial tick every 100 ms of waiting (dials that failed under load are retried). */
async function settle(net: Net, what: string, check: () => boolean, ms = 60_000): Promise<void> {
  let last = Date.now();
  await until(
    what,
    () => {
      if (check()) return true;
      if (Date.now() - last > 100) {
        last = Date.now();
        net.clock.increment(DEFAULT_DHT_CONNECTIVITY_CONFIG.redialBackoffMs);
      }
      return false;
    },
    ms,
  );
}

function facts(node: CommsNode): DhtConnectivityEmitted[] {
  const seen: DhtConnectivityEmitted[] = [];
  const a = node.actors.dhtConnectivity!;
  a.on('dht-connectivity.replaced', (e) => void seen.push(e));
  a.on('dht-connectivity.minimized', (e) => void seen.push(e));
  return seen;
}

describe('DHT pools on the memory transport (8 closest and 4 random, PROTOCOL.md 9.9)', function () {
  this.timeout(180_000);
  let net: Net | undefined;
  afterEach(async () => {
    await net?.stop();
    net = undefined;
  });

  it('30 nodes that know each other connect to their 8 closest and 4 random; a lost neighbour is dialled again; one that is gone is replaced by the next closest', async () => {
    const ids = seededIdentities('dht-pools', 30);
    net = await startNodes(ids, () => ({}));
    const { nodes } = net;
    await until('nobody known yet: every node waits', () => nodes.every((n) => n.actors.dhtConnectivity!.getSnapshot().value === 'waiting'));
    await Promise.all(nodes.map((n) => introduce(n, nodes)));

    const converged = () =>
      nodes.every((n) => {
        const s = stats(n);
        return s.neighbours.join() === closestOf(n, nodes, 8).join() && s.random.length === 4 && [...s.neighbours, ...s.random].every((h) => connected(n, h));
      });
    await settle(net, 'every node is connected to its 8 closest and 4 random nodes', converged).catch((err) => {
      for (const n of nodes) {
        const s = stats(n);
        const want = closestOf(n, nodes, 8);
        if (s.neighbours.join() !== want.join() || s.random.length !== 4 || ![...s.neighbours, ...s.random].every((h) => connected(n, h)))
          console.log(n.config.userAgent, JSON.stringify(n.actors.dhtConnectivity!.getSnapshot().value), s.neighbours.map((h) => `${want.indexOf(h)}${connected(n, h) ? '' : '!'}`).join(' '), '|', s.random.map((h) => (connected(n, h) ? 'c' : '!')).join(''), s.dials, n.actors.dhtConnectivity!.getSnapshot().context.neighbours.map((m) => `${m.failures}/${m.waitTicks}/${m.dialing}`).join(' '));
      }
      throw err;
    });
    for (const n of nodes) {
      const s = stats(n);
      expect(s.neighbours, 'the 8 closest by XOR distance, nearest first').to.deep.equal(closestOf(n, nodes, 8));
      expect(new Set([...s.neighbours, ...s.random]).size, 'the random pool holds no neighbour').to.equal(12);
      expect(s.random).to.not.include(hexOf(n));
      expect(n.actors.dhtConnectivity!.getSnapshot().matches('running')).to.equal(true);
      // The members are kept from the connectivity reaper.
      expect([...(n.actors.connectivity.getSnapshot().context.kept.get('dhtConnectivity') ?? [])].sort()).to.deep.equal([...s.neighbours, ...s.random].sort());
    }
    const degrees = nodes.map((n) => n.connections().length);
    console.log(`      (connections per node: min ${Math.min(...degrees)}, max ${Math.max(...degrees)}; dials ${nodes.reduce((k, n) => k + stats(n).dials, 0)})`);

    // A lost neighbour: B closes its connection to A; A dials it again at the next re-dial tick.
    const a = nodes[0]!;
    const aHex = hexOf(a);
    const neighbours = stats(a).neighbours.map((h) => nodes.find((n) => hexOf(n) === h)!);
    // One whose pools do not hold A, so that only A dials (B would otherwise dial A back itself).
    const b = neighbours.find((n) => ![...stats(n).neighbours, ...stats(n).random].includes(aHex)) ?? neighbours[0]!;
    const bHex = hexOf(b);
    const dialsBefore = stats(a).dials;
    b.actors.connectionManager.send({ type: 'connection-manager.disconnect', publicKey: a.publicKey });
    await until('A lost B', () => !connected(a, bHex));
    const member = () => a.actors.dhtConnectivity!.getSnapshot().context.neighbours.find((m) => m.hex === bHex)!;
    expect(member()).to.deep.include({ failures: 1, waitTicks: 1, dialing: false });
    net.clock.increment(DEFAULT_DHT_CONNECTIVITY_CONFIG.redialBackoffMs);
    await until('A is connected to B again', () => connected(a, bHex), 10_000);
    expect(stats(a).neighbours).to.include(bHex);
    if (!(stats(b).neighbours.includes(aHex) || stats(b).random.includes(aHex))) expect(stats(a).dials, 'A dialled B again').to.equal(dialsBefore + 1);

    // A neighbour that is gone: its dials fail; after 3 failures in a row it is replaced by the 9th closest.
    const seen = facts(a);
    const gone = neighbours[neighbours.length - 1]!;
    const goneHex = hexOf(gone);
    const ninth = closestOf(a, nodes, 9)[8]!;
    await gone.stop();
    await settle(net, 'A replaced the node that is gone', () => !stats(a).neighbours.includes(goneHex) && stats(a).neighbours.includes(ninth) && connected(a, ninth));
    expect(seen.filter((e) => e.type === 'dht-connectivity.replaced').map((e) => e.type === 'dht-connectivity.replaced' && [toHex(e.publicKey), e.pool, e.failures])).to.deep.equal([[goneHex, 'neighbours', 3]]);
    expect(stats(a).neighbours).to.deep.equal(closestOf(a, nodes.filter((n) => n !== gone), 8));
  });

  it('a peer stored by its address alone (features unknown) joins the pools once a connection tells its claim', async () => {
    net = await startNodes(seededIdentities('dht-seed', 3), (i) => (i === 0 ? {} : { numNeighbours: 0, numRandom: 0 }));
    const [s, t, u] = net.nodes as [CommsNode, CommsNode, CommsNode];
    // S runs, with U (known as a node) in its pools.
    await introduce(s, [u]);
    await until('S is connected to U', () => stats(s).neighbours.includes(hexOf(u)) && connected(s, hexOf(u)));
    await s.addPeer(t.publicKey, t.listenAddresses.map(String));
    expect((await s.peers.find({ publicKey: t.publicKey }))!.features, 'not known as a node yet').to.equal(0);
    await t.addPeer(s.publicKey, s.listenAddresses.map(String));
    await t.dial(s.publicKey, { timeoutMs: 10_000 });
    await until('S chose T', () => stats(s).neighbours.includes(hexOf(t)));
    expect(stats(s)).to.deep.include({ connectedMembers: 2, dials: 1 });
  });

  it('minimizing: once the pools are full and connected, connections it dialled to nodes in no pool are closed down to the threshold, the farthest first; a client and a node that dialled it stay', async () => {
    // M keeps 2 neighbours and 1 random node and minimizes above 3 connections; the others keep no pools.
    const ids = seededIdentities('dht-minimize', 8);
    net = await startNodes(ids, (i) => (i === 0 ? { numNeighbours: 2, numRandom: 1, minimizeConnections: true, minimizeThreshold: 3 } : i === 7 ? { numNeighbours: 0, numRandom: 0, propagate: false } : { numNeighbours: 0, numRandom: 0 }));
    const [m, ...others] = net.nodes as [CommsNode, ...CommsNode[]];
    const wallet = others[others.length - 1]!;
    expect(wallet.config.features & 1, 'a client').to.equal(0);
    const seen = facts(m);
    await introduce(m, net.nodes);
    await until('M is connected to its 3 pool members', () => {
      const s = stats(m);
      return s.neighbours.length === 2 && s.random.length === 1 && [...s.neighbours, ...s.random].every((h) => connected(m, h));
    });
    const members = [...stats(m).neighbours, ...stats(m).random];
    // The wallet and one node in no pool dial M; M dials every other node.
    const inbound = others.find((o) => o !== wallet && !members.includes(hexOf(o)))!;
    for (const o of [wallet, inbound]) {
      await o.addPeer(m.publicKey, m.listenAddresses.map(String));
      await o.dial(m.publicKey, { timeoutMs: 10_000 });
    }
    for (const o of others.filter((x) => x !== wallet && x !== inbound)) await m.dial(o.publicKey, { addresses: o.listenAddresses.map(String), timeoutMs: 10_000 });
    const extras = others.filter((o) => o !== wallet && o !== inbound && !members.includes(hexOf(o)));
    await until('M closed every connection it dialled to a node in no pool', () => extras.every((o) => !connected(m, hexOf(o))), 10_000);
    expect(members.every((h) => connected(m, h)), 'the pool members stay').to.equal(true);
    expect(connected(m, hexOf(wallet)), 'the client stays').to.equal(true);
    expect(connected(m, hexOf(inbound)), 'the node that dialled M stays (its pools may hold M)').to.equal(true);
    // (M dialled some of them itself while its pools filled up: a node it learnt of early was displaced by a closer one.)
    const minimized = seen.flatMap((e) => (e.type === 'dht-connectivity.minimized' ? e.publicKeys.map(toHex) : []));
    // (The inbound node too, if M had dialled it then: its own dial later is kept.)
    expect([...new Set(minimized)].filter((h) => h !== hexOf(inbound)).sort()).to.deep.equal(extras.map(hexOf).sort());
    expect(stats(m).minimized).to.equal(minimized.length);
  });
});
