/**
 * The DHT's data-path parts on their own: the broadcast strategies of PROTOCOL.md 9.6, the dedup
 * cache of 9.4, the flood guard of 9.9, delivery to the application, and the configuration's
 * checks.
 */
import { expect } from 'chai';
import { toHex } from '../../core/bytes.js';
import { compareDistance, distance, NodeIdentity } from '../../core/keys.js';
import { DedupCache, DEFAULT_DHT_CONFIG, dhtConfigProblems, DhtDelivery, FloodGuard, sample, selectConnected, type ConnectedPeer, type DhtMessage } from '../../actors/dht/index.js';
import { CommsBuilder, CommsConfigInvalid } from '../../node/index.js';
import { seededIdentities, seededRandom } from '../support/dht-network.js';

const peerOf = (id: NodeIdentity, features = 1): ConnectedPeer => ({ publicKey: id.publicKey, nodeId: id.nodeId, hex: toHex(id.publicKey), features });
const key = (i: number) => Uint8Array.from({ length: 32 }, (_, k) => (k === 0 ? i & 0xff : k === 1 ? i >> 8 : 7));

describe('DHT strategies (PROTOCOL.md 9.6)', () => {
  const ids = seededIdentities('strategies', 30);
  const self = ids[0]!;
  const nodes = ids.slice(1, 21).map((id) => peerOf(id));
  const clients = ids.slice(21, 25).map((id) => peerOf(id, 0));
  const connected = [...nodes, ...clients];
  const base = { self: self.nodeId, connected, exclude: new Set<string>(), random: seededRandom(1) };

  it('flood: every connected node (clients and excluded peers left out); broadcast: 8 random of them', () => {
    const flood = selectConnected('flood', { ...base, exclude: new Set([nodes[0]!.hex]) });
    expect(flood.map((p) => p.hex).sort()).to.deep.equal(nodes.slice(1).map((p) => p.hex).sort());
    const broadcast = selectConnected('broadcast', base);
    expect(broadcast).to.have.length(8);
    expect(new Set(broadcast.map((p) => p.hex)).size).to.equal(8);
    expect(broadcast.every((p) => p.features === 1)).to.equal(true);
  });

  it('closest(target, n): the n connected nodes nearest the target, nearest first', () => {
    const target = ids[29]!.nodeId;
    const got = selectConnected({ kind: 'closest', n: 5, target }, base);
    const expected = [...nodes].sort((a, b) => compareDistance(distance(a.nodeId, target), distance(b.nodeId, target))).slice(0, 5);
    expect(got.map((p) => p.hex)).to.deep.equal(expected.map((p) => p.hex));
  });

  it('propagate: the destination alone when connected (a client too); else at most 4 of the 8 nearest that are closer than self; 4 random without destination', () => {
    const client = clients[0]!;
    expect(selectConnected('propagate', { ...base, destination: { hex: client.hex, nodeId: client.nodeId } }).map((p) => p.hex)).to.deep.equal([client.hex]);
    // Excluded, the destination is not chosen: the others toward it are.
    const excluded = selectConnected('propagate', { ...base, exclude: new Set([client.hex]), destination: { hex: client.hex, nodeId: client.nodeId } });
    expect(excluded.map((p) => p.hex)).to.not.include(client.hex);
    for (const t of ids.slice(25)) {
      const got = selectConnected('propagate', { ...base, destination: { hex: toHex(t.publicKey), nodeId: t.nodeId } });
      const own = distance(self.nodeId, t.nodeId);
      const eight = [...nodes].sort((a, b) => compareDistance(distance(a.nodeId, t.nodeId), distance(b.nodeId, t.nodeId))).slice(0, 8);
      const expected = eight.filter((p) => compareDistance(distance(p.nodeId, t.nodeId), own) < 0).slice(0, 4);
      expect(got.map((p) => p.hex), toHex(t.nodeId)).to.deep.equal(expected.map((p) => p.hex));
    }
    const anywhere = selectConnected('propagate', base);
    expect(anywhere).to.have.length(4);
    expect(anywhere.every((p) => p.features === 1)).to.equal(true);
  });

  it('sample draws without repetition, at most what there is', () => {
    expect(sample([1, 2, 3], 8, seededRandom(3)).sort()).to.deep.equal([1, 2, 3]);
    expect(new Set(sample([...Array(50).keys()], 10, seededRandom(4))).size).to.equal(10);
  });
});

describe('DHT dedup cache (PROTOCOL.md 9.4)', () => {
  const init = { capacity: 10, minAgeMs: 600_000, maxKeys: 30, maxPinned: 5, maxPinnedPerOwner: 3 };

  it('keeps every key up to the capacity; above it evicts only the least recently seen key unseen for 10 min', () => {
    const c = new DedupCache(init);
    for (let i = 0; i < 20; i++) c.record(key(i), 1_000);
    expect(c.size, 'nothing is old enough to go').to.equal(20);
    expect(c.seen(key(0), 500_000)).to.equal(true); // key 0 is now the most recently seen
    c.record(key(20), 601_000); // keys 1..19 (seen at 1 000) are 10 min old: they go down to the capacity
    expect(c.size).to.equal(10);
    expect(c.seen(key(0), 601_000)).to.equal(true);
    expect(c.seen(key(1), 601_000)).to.equal(false);
    expect(c.seen(key(19), 601_000)).to.equal(true);
    expect(c.counters.evicted).to.equal(11);
  });

  it('above maxKeys the least recently seen goes whatever its age (counted as forced)', () => {
    const c = new DedupCache(init);
    for (let i = 0; i < 40; i++) c.record(key(i), 1_000);
    expect(c.size).to.equal(30);
    expect(c.counters.forced).to.equal(10);
    expect(c.seen(key(9), 1_000)).to.equal(false);
    expect(c.seen(key(10), 1_000)).to.equal(true);
  });

  it('pinned keys (addressed to this node) stay until their expiry, beyond any eviction; expired pins are released', () => {
    const c = new DedupCache({ ...init, maxPinnedPerOwner: 5 });
    for (let i = 0; i < 5; i++) c.pin(key(100 + i), 10_000_000, 1_000, { peer: 'p' });
    for (let i = 0; i < 100; i++) c.record(key(i), 1_000);
    c.record(key(999), 10_000_000 - 1);
    for (let i = 0; i < 5; i++) expect(c.seen(key(100 + i), 9_000_000)).to.equal(true);
    expect(c.pinnedSize).to.equal(5);
    // A replay after its expiry is no longer a duplicate.
    expect(c.seen(key(100), 10_000_001)).to.equal(false);
    expect(c.pinnedBy('p')).to.equal(4);
  });

  it('a pin is never refused: one peer or one origin over its share demotes its own oldest pin; full pins demote the largest sharer\'s oldest', () => {
    const c = new DedupCache(init); // 5 pins, 3 per owner
    for (let i = 0; i < 4; i++) c.pin(key(100 + i), 10_000_000, 1_000, { peer: 'attacker' });
    expect(c.pinnedBy('attacker'), 'its share').to.equal(3);
    expect(c.counters.demoted).to.equal(1);
    // A demoted key still stops replays (it is in the least-recently-seen part, seen now).
    expect(c.seen(key(100), 2_000)).to.equal(true);
    c.pin(key(200), 10_000_000, 1_000, { peer: 'honest' });
    c.pin(key(201), 10_000_000, 1_000, { peer: 'other', origin: 'o' });
    expect(c.pinnedSize, 'full').to.equal(5);
    // Full: the next pin, whoever sends it, demotes the attacker's oldest (it holds the most), not the honest ones.
    c.pin(key(202), 10_000_000, 1_000, { peer: 'honest' });
    expect(c.pinnedSize).to.equal(5);
    expect(c.pinnedBy('attacker')).to.equal(2);
    expect(c.pinnedBy('honest')).to.equal(2);
    // One origin over its share through several peers demotes its own oldest.
    for (let i = 0; i < 3; i++) c.pin(key(300 + i), 10_000_000, 1_000, { peer: `relay${i}`, origin: 'o' });
    expect(c.pinnedBy('other'), 'the origin o\'s first pin went').to.equal(0);
    for (const k of [200, 202]) expect(c.seen(key(k), 2_000)).to.equal(true);
  });
});

describe('DHT flood guard (PROTOCOL.md 9.9)', () => {
  it('more than the limit in a window is flooding, reported once; the next window starts afresh', () => {
    const g = new FloodGuard(3, 100_000);
    expect([1, 2, 3, 4, 5].map(() => g.count('p', 0))).to.deep.equal(['ok', 'ok', 'ok', 'flooding', 'over']);
    expect(g.count('q', 0), 'per peer').to.equal('ok');
    expect(g.count('p', 100_000)).to.equal('ok');
  });
});

describe('DHT delivery', () => {
  const m = (type: number): DhtMessage => ({ origin: undefined, destination: undefined, type, payload: new Uint8Array([type]), encrypted: false, late: false, storedAt: undefined });

  it('hands each message to the handlers of its type and of any, and to the iterator once it is used; a throwing handler is reported', async () => {
    const d = new DhtDelivery(2);
    const got: number[] = [];
    const off = d.on(1, (x) => got.push(x.type));
    d.on('any', (x) => got.push(100 + x.type));
    d.on(2, () => {
      throw new Error('bad handler');
    });
    const errors: unknown[] = [];
    await d.deliver(m(1), (e) => errors.push(e));
    await d.deliver(m(2), (e) => errors.push(e));
    expect(got).to.deep.equal([1, 101, 102]);
    expect(errors).to.have.length(1);
    off();
    const it = d.iterate()[Symbol.asyncIterator]();
    await d.deliver(m(1), () => {});
    await d.deliver(m(3), () => {});
    // Full (capacity 2): the next delivery waits for a read.
    let third = false;
    const waiting = d.deliver(m(4), () => {}).then(() => (third = true));
    await new Promise((r) => setImmediate(r));
    expect(third).to.equal(false);
    expect((await it.next()).value.type).to.equal(1);
    await waiting;
    expect([(await it.next()).value.type, (await it.next()).value.type]).to.deep.equal([3, 4]);
    d.close();
    expect((await it.next()).done).to.equal(true);
  });
});

describe('DHT delivery, bounded in bytes', () => {
  it('waits once the queued payloads would pass the byte bound (one larger message is queued alone)', async () => {
    const d = new DhtDelivery(100, 10);
    const it = d.iterate()[Symbol.asyncIterator]();
    const m = (n: number): DhtMessage => ({ origin: undefined, destination: undefined, type: 1, payload: new Uint8Array(n), encrypted: false, late: false, storedAt: undefined });
    await d.deliver(m(6), () => {});
    let second = false;
    const waiting = d.deliver(m(6), () => {}).then(() => (second = true));
    await new Promise((r) => setImmediate(r));
    expect(second).to.equal(false);
    expect(d.queuedBytes).to.equal(6);
    await it.next();
    await waiting;
    expect(d.queuedBytes).to.equal(6);
    await it.next();
    await d.deliver(m(50), () => {}); // alone, above the bound
    expect(d.queuedBytes).to.equal(50);
    d.close();
  });
});

describe('DHT configuration', () => {
  it('the defaults are PROTOCOL.md section 9\'s, and pass their checks', () => {
    expect(DEFAULT_DHT_CONFIG).to.include({ joinCooldownMs: 600_000, discoveryTimeoutMs: 60_000, dedupCapacity: 2_500, dedupMinAgeMs: 600_000, floodMaxMessages: 100_000, floodWindowMs: 100_000, banInvalidMs: 7_200_000, banMinorMs: 600_000 });
    expect(dhtConfigProblems(DEFAULT_DHT_CONFIG)).to.deep.equal([]);
  });

  it('withDht makes a DHT node (feature bit 0) unless propagate is false; bad settings and a DHT without messaging are refused at build', () => {
    const identity = NodeIdentity.generate();
    expect(new CommsBuilder().withNodeIdentity(identity).withDht().config().features & 1).to.equal(1);
    expect(new CommsBuilder().withNodeIdentity(identity).withDht({ propagate: false }).config().features & 1).to.equal(0);
    expect(() => new CommsBuilder().withNodeIdentity(identity).withDht({ dedupCapacity: 0, floodWindowMs: -1 }).withMessaging({ enabled: false }).build())
      .to.throw(CommsConfigInvalid)
      .with.property('problems')
      .that.includes.members(['dht.dedupCapacity must be a positive integer', 'dht.floodWindowMs must be a positive integer', 'the DHT runs over messaging: messaging must be enabled']);
    const plain = new CommsBuilder().withNodeIdentity(identity).build();
    expect(() => plain.dht).to.throw(/not enabled/);
    // Store-and-forward: bit 1 exactly when the node stores; over the DHT only; its settings checked.
    expect(new CommsBuilder().withNodeIdentity(identity).withDht().withStoreAndForward().config().features).to.equal(3);
    expect(new CommsBuilder().withNodeIdentity(identity).withDht().withStoreAndForward({ store: false }).config().features).to.equal(1);
    expect(new CommsBuilder().withNodeIdentity(identity).withPeerStore({ kind: 'lmdb', path: '/data/node/peers' }).withDht().withStoreAndForward().config().saf!.storage).to.deep.equal({ kind: 'lmdb', path: '/data/node/saf' });
    expect(new CommsBuilder().withNodeIdentity(identity).withDht().withStoreAndForward().config().saf!.storage).to.deep.equal({ kind: 'memory' });
    expect(() => new CommsBuilder().withNodeIdentity(identity).withStoreAndForward({ requestLimit: 51, sweepBatch: 0, limits: { maxMessagesPerPeer: 10, maxMessages: 5 } }).build())
      .to.throw(CommsConfigInvalid)
      .with.property('problems')
      .that.includes.members([
        'saf.requestLimit must be 1..50',
        'saf.sweepBatch must be a positive integer',
        'saf.limits.maxMessagesPerPeer exceeds saf.limits.maxMessages',
        'store-and-forward runs over the DHT: the DHT must be enabled',
      ]);
    expect(() => new CommsBuilder().withNodeIdentity(identity).withFeatures(3).withDht().build())
      .to.throw(CommsConfigInvalid)
      .with.property('problems')
      .that.includes('features bit 1 (store-and-forward) needs saf (CommsBuilder.withStoreAndForward)');
  });
});
