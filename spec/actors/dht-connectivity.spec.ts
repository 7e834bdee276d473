/**
 * The DHT connectivity's pure parts (`actors/dht-connectivity`): its settings (PROTOCOL.md 9.9's
 * values, their checks, `withDht` merging them field by field) and the pool rules (a selection
 * applied, who belongs among the neighbours, re-dial backoffs, which connections minimizing closes).
 */
import { expect } from 'chai';
import { fromCallback, fromPromise, SimulatedClock } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity, type NodeId } from '../../core/keys.js';
import { PMap } from '../../core/pmap.js';
import { isOffline, mergePeer, newPeer, recordDial } from '../../storage/peer.js';
import { byDistance } from '../../actors/dht/strategies.js';
import {
  applySelection,
  bucketOf,
  DEFAULT_DHT_CONNECTIVITY_CONFIG,
  dhtConnectivityMachine,
  POOL_DIAL,
  dhtConnectivityConfigProblems,
  minimizeCandidates,
  newMember,
  poolPeer,
  redialTicks,
  selectPools,
  spreadOverBuckets,
  updateMatters,
  wantsNeighbour,
  type ConnectionEntry,
  type PoolSelection,
  type SelectPoolsInput,
} from '../../actors/dht-connectivity/index.js';
import type { ConnectionManagerInbox } from '../../actors/connection-manager/index.js';
import { peerManagerLogic } from '../../actors/peer-manager/index.js';
import { CommsBuilder, CommsConfigInvalid } from '../../node/index.js';
import { MemoryPeerStore } from '../../storage/memory-store.js';
import { recorder, testSystem } from '../support/actors.js';
import { until } from '../support/wait.js';

const self = NodeIdentity.fromSeed(new Uint8Array(32).fill(7));
/** Ten peers, nearest to `self` first (the last two are clients). */
const peers = byDistance(
  Array.from({ length: 10 }, (_, i) => NodeIdentity.fromSeed(new Uint8Array(32).fill(20 + i))),
  self.nodeId,
).map((id, i) => poolPeer({ publicKey: id.publicKey, nodeId: id.nodeId, features: i < 8 ? 1 : 0 }));
const names = (xs: ReadonlyArray<{ hex: string }>) => xs.map((x) => `p${peers.findIndex((p) => p.hex === x.hex)}`);

describe('DHT connectivity configuration', () => {
  it('the defaults are PROTOCOL.md 9.9\'s (8 closest, 4 random, checked every 2 min, refreshed every 2 h) and pass their checks', () => {
    expect(DEFAULT_DHT_CONNECTIVITY_CONFIG).to.include({ numNeighbours: 8, numRandom: 4, checkIntervalMs: 120_000, refreshIntervalMs: 7_200_000, neighbourSettleMs: 30_000, minimizeConnections: false, minimizeClients: false });
    expect(dhtConnectivityConfigProblems(DEFAULT_DHT_CONNECTIVITY_CONFIG)).to.deep.equal([]);
  });

  it('withDht merges the pool settings field by field; bad ones are refused at build, each named', () => {
    const identity = NodeIdentity.generate();
    const c = new CommsBuilder().withNodeIdentity(identity).withDht({ connectivity: { numRandom: 2 } }).withDht({ connectivity: { minimizeConnections: true } }).config().dht!.connectivity;
    expect(c).to.deep.equal({ ...DEFAULT_DHT_CONNECTIVITY_CONFIG, numRandom: 2, minimizeConnections: true });
    expect(() => new CommsBuilder().withNodeIdentity(identity).withDht({ connectivity: { numNeighbours: 101, checkIntervalMs: 0, redialBackoffMs: 10_000, maxRedialBackoffMs: 5_000, minimizeClients: 'yes' as never } }).build())
      .to.throw(CommsConfigInvalid)
      .with.property('problems')
      .that.includes.members([
        'dht.connectivity.numNeighbours must be an integer 0..100',
        'dht.connectivity.checkIntervalMs must be an integer >= 1',
        'dht.connectivity.maxRedialBackoffMs must be at least dht.connectivity.redialBackoffMs',
        'dht.connectivity.minimizeClients must be a boolean',
      ]);
  });
});

describe('DHT pools', () => {
  const c = { numNeighbours: 3, numRandom: 2 };

  it('a stored peer reaches the pools again only when its update can change a choice', () => {
    const id = NodeIdentity.generate();
    const known = newPeer({ publicKey: id.publicKey, nodeId: id.nodeId, features: 1, addresses: [{ address: '/memory/7', source: 'peer-sync' }] }, 1_000);
    const seenAgain = mergePeer(known, { publicKey: id.publicKey, nodeId: id.nodeId, addresses: [{ address: '/memory/7', source: 'peer-sync' }] }, 2_000);
    expect(updateMatters(known, seenAgain), 'a claim seen again').to.equal(false);
    expect(updateMatters(known, mergePeer(known, { publicKey: id.publicKey, nodeId: id.nodeId, addresses: [{ address: '/memory/8', source: 'peer-sync' }] }, 2_000)), 'another address of a dialable peer').to.equal(false);
    expect(updateMatters(known, { ...seenAgain, features: 3 }), 'features changed').to.equal(true);
    expect(updateMatters({ ...known, deletedAt: 1_500 }, seenAgain), 'deleted, now back').to.equal(true);
    const offline = recordDial(known, '/memory/7', { kind: 'failure', reason: 'refused' }, 1_500);
    expect(isOffline(offline)).to.equal(true);
    expect(updateMatters(offline, mergePeer(offline, { publicKey: id.publicKey, nodeId: id.nodeId, addresses: [{ address: '/memory/7', source: 'peer-sync' }] }, 2_000)), 'offline, the same address seen again').to.equal(false);
    expect(updateMatters(offline, mergePeer(offline, { publicKey: id.publicKey, nodeId: id.nodeId, addresses: [{ address: '/memory/9', source: 'peer-sync' }] }, 2_000)), 'offline, a new address').to.equal(true);
  });

  it('a selection: the neighbours are the closest of those chosen and the members (one that joined meanwhile stays); fill keeps the random members, full chooses them afresh', () => {
    const member = (i: number) => ({ ...newMember(peers[i]!), failures: 1 });
    const pools = { neighbours: [member(1), member(4)], random: [member(5), member(6)] };
    const selection = { neighbours: [peers[2]!, peers[3]!, peers[4]!], random: [peers[7]!, peers[5]!] };
    const filled = applySelection(pools, selection, 'fill', c, self.nodeId);
    expect(names(filled.neighbours)).to.deep.equal(['p1', 'p2', 'p3']);
    expect(filled.neighbours[0]!.failures, 'a member kept keeps its record').to.equal(1);
    expect(names(filled.random)).to.deep.equal(['p5', 'p6']);
    const full = applySelection(pools, selection, 'full', c, self.nodeId);
    expect(names(full.neighbours)).to.deep.equal(['p1', 'p2', 'p3']);
    expect(names(full.random)).to.deep.equal(['p7', 'p5']);
    expect(full.random[1]!.failures, 'a random member chosen again keeps its record').to.equal(1);
    // A random member that is now among the closest moves: the random pool takes another.
    const moved = applySelection({ neighbours: [], random: [member(2), member(6)] }, { neighbours: [peers[0]!, peers[2]!], random: [peers[7]!] }, 'fill', c, self.nodeId);
    expect(names(moved.neighbours)).to.deep.equal(['p0', 'p2']);
    expect(names(moved.random)).to.deep.equal(['p6', 'p7']);
  });

  it('a peer belongs among the neighbours with room left or when closer than the farthest; never twice; not with a pool of 0', () => {
    const pool = [newMember(peers[1]!), newMember(peers[3]!)];
    expect(wantsNeighbour(pool, peers[5]!, self.nodeId, 3)).to.equal(true);
    expect(wantsNeighbour(pool, peers[5]!, self.nodeId, 2)).to.equal(false);
    expect(wantsNeighbour(pool, peers[2]!, self.nodeId, 2)).to.equal(true);
    expect(wantsNeighbour(pool, peers[1]!, self.nodeId, 3)).to.equal(false);
    expect(wantsNeighbour([], peers[0]!, self.nodeId, 0)).to.equal(false);
  });

  it('re-dial backoff: 1, 2, 4 ... ticks, up to the longest backoff', () => {
    const b = { redialBackoffMs: 5_000, maxRedialBackoffMs: 120_000 };
    expect([1, 2, 3, 4, 5, 6, 50].map((f) => redialTicks(f, b))).to.deep.equal([1, 2, 4, 8, 16, 24, 24]);
    expect(redialTicks(3, { redialBackoffMs: 5_000, maxRedialBackoffMs: 5_000 })).to.equal(1);
  });

  it('minimizing closes connections this node dialled to peers in no pool above the threshold, the farthest first; never a client unless asked, never an exempt peer', () => {
    const entry = (i: number): ConnectionEntry => ({ ...peers[i]!, direction: 'outbound' });
    const connections = PMap.of([0, 1, 3, 5, 6, 8, 9].map((i) => [peers[i]!.hex, entry(i)] as const));
    const inPool = new Set([peers[0]!.hex, peers[1]!.hex]);
    const none = new Set<string>();
    expect(names(minimizeCandidates(connections, inPool, none, self.nodeId, { minimizeThreshold: 4, minimizeClients: false }))).to.deep.equal(['p6', 'p5', 'p3']);
    expect(names(minimizeCandidates(connections, inPool, none, self.nodeId, { minimizeThreshold: 5, minimizeClients: false }))).to.deep.equal(['p6', 'p5']);
    expect(names(minimizeCandidates(connections, inPool, none, self.nodeId, { minimizeThreshold: 4, minimizeClients: true }))).to.deep.equal(['p9', 'p8', 'p6']);
    expect(names(minimizeCandidates(connections, inPool, new Set([peers[6]!.hex]), self.nodeId, { minimizeThreshold: 2, minimizeClients: false }))).to.deep.equal(['p5', 'p3']);
    expect(minimizeCandidates(connections, inPool, none, self.nodeId, { minimizeThreshold: 7, minimizeClients: true })).to.deep.equal([]);
    expect(toHex(peers[0]!.publicKey)).to.equal(peers[0]!.hex);
  });

  it('minimizing never closes an inbound connection (its dialler keeps it for its pools, or minimizes it itself), nor one kept open elsewhere', () => {
    const entry = (i: number, direction: 'inbound' | 'outbound'): ConnectionEntry => ({ ...peers[i]!, direction });
    const connections = PMap.of([[0, 'outbound'], [1, 'outbound'], [3, 'inbound'], [5, 'outbound'], [6, 'inbound']].map(([i, d]) => [peers[i as number]!.hex, entry(i as number, d as 'inbound' | 'outbound')] as const));
    const inPool = new Set([peers[0]!.hex, peers[1]!.hex]);
    expect(names(minimizeCandidates(connections, inPool, new Set(), self.nodeId, { minimizeThreshold: 2, minimizeClients: false }))).to.deep.equal(['p5']);
    // Nor one another component keeps open (a store-and-forward request in flight to it).
    expect(minimizeCandidates(connections, inPool, { has: (hex) => hex === peers[5]!.hex }, self.nodeId, { minimizeThreshold: 2, minimizeClients: false })).to.deep.equal([]);
  });
});

describe('DHT connectivity actor', () => {
  it('offline, a member that keeps failing keeps its place (re-dialled at a growing backoff); online, it is replaced and shunned', async () => {
    const clock = new SimulatedClock();
    const logic = dhtConnectivityMachine.provide({
      actors: { selectPools: fromPromise<PoolSelection, SelectPoolsInput>(async () => ({ neighbours: [peers[0]!], random: [] })), followSiblings: fromCallback(() => {}) },
    });
    const cm = recorder<ConnectionManagerInbox>();
    const config = { ...DEFAULT_DHT_CONNECTIVITY_CONFIG, numNeighbours: 1, numRandom: 0 };
    const s = testSystem({ connectionManager: { logic: cm.logic }, dhtConnectivity: { logic, input: { self: { publicKey: self.publicKey, nodeId: self.nodeId }, config } } }, { clock });
    try {
      const actor = s.get('dhtConnectivity');
      const member = () => actor.getSnapshot().context.neighbours[0];
      const dials = () => cm.seen.filter((e) => e.type === 'connection-manager.dial').length;
      await until('the member is dialled', () => dials() === 1);
      const fail = () => actor.send({ type: 'connection-manager.reply', requestId: POOL_DIAL + peers[0]!.hex, ok: false, error: { name: 'ConnectionRefused', message: 'no', kind: 'transport' } });
      for (let failures = 1; failures <= 4; failures++) {
        fail();
        expect(member(), `failure ${failures}`).to.deep.include({ hex: peers[0]!.hex, failures, waitTicks: redialTicks(failures, config), dialing: false });
        for (let tick = 0; tick < redialTicks(failures, config); tick++) {
          expect(dials(), 'not before its backoff ended').to.equal(failures);
          clock.increment(config.redialBackoffMs);
        }
        expect(dials(), 'dialled again once its backoff ended').to.equal(failures + 1);
      }
      actor.send({ type: 'dht-connectivity.status', status: 'degraded' });
      fail();
      expect(actor.getSnapshot().context.neighbours).to.deep.equal([]);
      expect([...actor.getSnapshot().context.shunned.keys()]).to.deep.equal([peers[0]!.hex]);
      expect(s.crashes).to.deep.equal([]);
    } finally {
      s.stop();
    }
  });
});

describe('DHT connectivity actor: the neighbour pool settles', () => {
  it('with room left a stored node is taken at once; closer nodes stored while the pool is full move it once, a settle wait later, to the nearest of them', async () => {
    const clock = new SimulatedClock();
    // The store: the selection answers its nearest nodes.
    let store = [peers[5]!];
    let selections = 0;
    const logic = dhtConnectivityMachine.provide({
      actors: {
        selectPools: fromPromise<PoolSelection, SelectPoolsInput>(async ({ input }) => {
          selections++;
          return { neighbours: byDistance(store, input.self).slice(0, input.numNeighbours), random: [] };
        }),
        followSiblings: fromCallback(() => {}),
      },
    });
    const cm = recorder<ConnectionManagerInbox>();
    const config = { ...DEFAULT_DHT_CONNECTIVITY_CONFIG, numNeighbours: 2, numRandom: 0 };
    const s = testSystem({ connectionManager: { logic: cm.logic }, dhtConnectivity: { logic, input: { self: { publicKey: self.publicKey, nodeId: self.nodeId }, config } } }, { clock });
    try {
      const actor = s.get('dhtConnectivity');
      const dialled = () => names(cm.seen.flatMap((e) => (e.type === 'connection-manager.dial' ? [poolPeer({ publicKey: e.publicKey, nodeId: peers.find((p) => p.hex === toHex(e.publicKey))!.nodeId, features: 1 })] : [])));
      const neighbours = () => names(actor.getSnapshot().context.neighbours);
      const idle = () => actor.getSnapshot().matches({ running: { pools: 'idle' } });
      await until('the first choice', () => neighbours().join() === 'p5' && idle());
      actor.send({ type: 'dht-connectivity.status', status: 'online' });
      // Room left: p4 is taken at once.
      store = [peers[4]!, peers[5]!];
      actor.send({ type: 'dht-connectivity.peer-stored', peer: peers[4]! });
      await until('p4 joins at once', () => neighbours().join() === 'p4,p5' && idle());
      expect(dialled()).to.deep.equal(['p5', 'p4']);
      const before = selections;
      // Full: four closer nodes arrive one by one; none is chosen or dialled before the wait ends.
      for (const i of [3, 2, 1, 0]) {
        store = [peers[i]!, ...store];
        actor.send({ type: 'dht-connectivity.peer-stored', peer: peers[i]! });
      }
      expect(actor.getSnapshot().matches({ running: { settler: 'settling' } })).to.equal(true);
      expect([selections, neighbours(), dialled().length]).to.deep.equal([before, ['p4', 'p5'], 2]);
      clock.increment(config.neighbourSettleMs - 1);
      expect(selections, 'not before the wait ends').to.equal(before);
      clock.increment(1);
      await until('one selection takes the nearest', () => neighbours().join() === 'p0,p1' && idle());
      expect(selections - before, 'one selection for the four').to.equal(1);
      expect(dialled(), 'only the nearest two are dialled').to.deep.equal(['p5', 'p4', 'p0', 'p1']);
      expect(actor.getSnapshot().matches({ running: { settler: 'idle' } })).to.equal(true);
      expect(s.crashes).to.deep.equal([]);
    } finally {
      s.stop();
    }
  });
});

describe('DHT pools: the random pool spreads over distance, so that Propagate has no dead end', () => {
  /** A NodeId differing from 13 zero bytes at bit `bit` (103: the top bit) and, when given, at bit `also`. */
  const idWith = (bit: number, also?: number): NodeId => {
    const id = new Uint8Array(13);
    for (const b of also === undefined ? [bit] : [bit, also]) id[12 - (b >> 3)]! |= 1 << (b & 7);
    return id as NodeId;
  };
  const zero = new Uint8Array(13) as NodeId;

  it('a bucket is the index of the highest bit of the XOR distance: 103 for the farthest half, -1 for self', () => {
    expect(bucketOf(zero, zero)).to.equal(-1);
    expect(bucketOf(zero, idWith(103))).to.equal(103);
    expect(bucketOf(zero, idWith(103, 0))).to.equal(103);
    expect(bucketOf(zero, idWith(100, 99))).to.equal(100);
    expect(bucketOf(zero, idWith(8))).to.equal(8);
    expect(bucketOf(zero, idWith(0))).to.equal(0);
    expect(bucketOf(idWith(101, 3), idWith(101))).to.equal(3);
  });

  it('one member from each bucket beyond the neighbours first (however many others one bucket holds), then the others at random', () => {
    const far103 = Array.from({ length: 50 }, (_, i) => ({ name: `a${i}`, nodeId: idWith(103, i) }));
    const lone101 = { name: 'b', nodeId: idWith(101) };
    const lone100 = { name: 'c', nodeId: idWith(100) };
    const near = [{ name: 'n1', nodeId: idWith(90) }, { name: 'n2', nodeId: idWith(91) }];
    const candidates = [...far103, lone101, ...near, lone100];
    const first = () => 0; // the first of each draw: the order is the candidates'
    const chosen = spreadOverBuckets(zero, candidates, 4, 99, first);
    expect(chosen).to.have.length(4);
    expect(chosen.slice(0, 3).map((c) => bucketOf(zero, c.nodeId)).sort()).to.deep.equal([100, 101, 103]);
    expect(new Set(chosen).size).to.equal(4);
    // Fewer members than far buckets: each member from a bucket of its own.
    const two = spreadOverBuckets(zero, candidates, 2, 99, first);
    expect(new Set(two.map((c) => bucketOf(zero, c.nodeId))).size).to.equal(2);
    // Nothing beyond the neighbours: the others at random; never more than there are.
    expect(spreadOverBuckets(zero, near, 4, 99, first).map((c) => c.name).sort()).to.deep.equal(['n1', 'n2']);
    expect(spreadOverBuckets(zero, [], 4, -1, first)).to.deep.equal([]);
  });

  it('the pools chosen from a real peer store: the 8 closest, and one random member in each of the 4 buckets beyond them, though one bucket holds 60 nodes and the others one each', async () => {
    // Known nodes by bucket from `self`: 8 within bucket 99 (the neighbours), one in each of
    // buckets 100, 101 and 102, and 60 in bucket 103. Four uniformly random members would miss
    // at least one of the lone buckets nearly always (all three taken: 1 time in 10,000), and a
    // node with no member in a bucket is a dead end for Propagate toward every destination there.
    const wanted = new Map<number, number>([[100, 1], [101, 1], [102, 1], [103, 60]]);
    const near: NodeIdentity[] = [];
    const far = new Map<number, NodeIdentity[]>();
    for (let i = 0; near.length < 8 || [...wanted].some(([b, n]) => (far.get(b)?.length ?? 0) < n); i++) {
      const seed = new Uint8Array(32).fill(3);
      new DataView(seed.buffer).setUint32(0, i);
      const id = NodeIdentity.fromSeed(seed);
      const b = bucketOf(self.nodeId, id.nodeId);
      if (b <= 99) {
        if (near.length < 8) near.push(id);
      } else if ((far.get(b)?.length ?? 0) < wanted.get(b)!) far.set(b, [...(far.get(b) ?? []), id]);
    }
    const store = new MemoryPeerStore();
    for (const id of [...near, ...[...far.values()].flat()]) {
      await store.update(id.publicKey, () => newPeer({ publicKey: id.publicKey, nodeId: id.nodeId, features: 1, addresses: [{ address: '/memory/7', source: 'peer-sync' }] }, 1_000));
    }
    const s = testSystem({
      peerManager: { logic: peerManagerLogic, input: { store } },
      select: { logic: selectPools, input: { self: self.nodeId, numNeighbours: 8, numRandom: 4, exclude: [] } satisfies SelectPoolsInput },
    });
    try {
      const select = s.get('select');
      await until('the pools are chosen', () => select.getSnapshot().status === 'done');
      const chosen = select.getSnapshot().output as PoolSelection;
      expect(chosen.neighbours.map((p) => p.hex).sort()).to.deep.equal(near.map((id) => toHex(id.publicKey)).sort());
      expect(chosen.random.map((p) => bucketOf(self.nodeId, p.nodeId)).sort()).to.deep.equal([100, 101, 102, 103]);
      expect(s.crashes).to.deep.equal([]);
    } finally {
      s.stop();
    }
  });
});
