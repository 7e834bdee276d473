/**
 * `node.dht` as an embedder uses it (memory transport, one process): the outcomes of `send`
 * (queued to which peers, failed with a typed reason, pending a discovery), the strategies, the
 * async iterator of delivered messages, discoveries shared per key and timing out, and a DHT
 * node's messaging bodies all taken by the DHT.
 */
import { expect } from 'chai';
import { equals, toHex } from '../../core/bytes.js';
import { NodeIdentity } from '../../core/keys.js';
import { byDistance, settled, type DhtMessage } from '../../actors/dht/index.js';
import { DhtMessageType } from '../../protocols/dht/index.js';
import type { CommsNode } from '../../node/index.js';
import { seededIdentities, startDhtNetwork, type DhtTestNetwork } from '../support/dht-network.js';
import { until } from '../support/wait.js';

describe('node.dht', function () {
  this.timeout(60_000);
  let net: DhtTestNetwork | undefined;
  afterEach(async () => {
    await net?.stop();
    net = undefined;
  });

  it('send: refused to itself, without a destination when encrypted, with no peer; queued to the peers the strategy chose; delivered through messages()', async () => {
    // a - b - c, and d alone
    net = await startDhtNetwork(seededIdentities('dht-api', 4), [new Set([1]), new Set([0, 2]), new Set([1]), new Set()], { dht: { discoveryTimeoutMs: 1_000 } });
    const [a, b, c, d] = net.nodes as [CommsNode, CommsNode, CommsNode, CommsNode];
    expect(await a.dht.send({ to: a.publicKey, payload: new Uint8Array(1) })).to.deep.include({ status: 'failed' }).and.have.nested.property('error.name', 'SendToSelf');
    expect(await a.dht.send({ payload: new Uint8Array(1), encrypt: true })).to.have.nested.property('error.name', 'DestinationRequired');
    expect(await d.dht.send({ payload: new Uint8Array(1) })).to.have.nested.property('error.name', 'NoPeers');
    expect(await a.dht.send({ to: 'not hex', payload: new Uint8Array(1) })).to.have.property('status', 'failed');

    const inbox = c.dht.messages()[Symbol.asyncIterator]();
    const direct = await a.dht.send({ to: b.publicKey, payload: new Uint8Array([1]), type: 9 });
    expect(direct.status).to.equal('queued');
    if (direct.status !== 'queued') return;
    expect(direct.strategy).to.equal('direct');
    expect(direct.peers.map(toHex)).to.deep.equal([toHex(b.publicKey)]);
    expect((await direct.written).map((w) => w.outcome.ok)).to.deep.equal([true]);

    // To c, not connected to a: Propagate (b, if closer to c than a) or else Broadcast: b either way.
    const routed = await a.dht.send({ to: c.publicKey, payload: Buffer.from('via b'), type: 9, sign: true });
    expect(routed.status).to.equal('queued');
    if (routed.status !== 'queued') return;
    expect(['propagate', 'broadcast']).to.include(routed.strategy);
    const m = (await inbox.next()).value as DhtMessage;
    expect(Buffer.from(m.payload).toString()).to.equal('via b');
    expect(m.type).to.equal(9);
    expect(m.encrypted).to.equal(false);
    expect(equals(m.origin!, a.publicKey)).to.equal(true);
    expect(equals(m.destination!, c.publicKey)).to.equal(true);

    // Random(n) draws from the peer store, connected or not: d is a node a met once.
    await a.addPeer(d.publicKey, d.listenAddresses.map(String));
    await a.dial(d.publicKey);
    a.disconnect(d.publicKey);
    await until('a and d parted', () => a.connection(d.publicKey) === undefined);
    const random = await a.dht.send({ payload: new Uint8Array(1), strategy: { kind: 'random', n: 10 } });
    expect(random.status).to.equal('queued');
    if (random.status === 'queued') expect(random.peers.map(toHex)).to.include(toHex(d.publicKey));

    // A DHT node's messaging bodies are all DHT envelopes: node.on('message') sees none of them.
    let plain = 0;
    b.on('message', () => plain++);
    await until('b handled what went through it', () => b.dht.stats.received >= 2);
    expect(plain).to.equal(0);
  });

  it('discovery: concurrent requests for a key share one DISCOVERY; an unknown key times out; send with discover waits for it (pending-discovery)', async () => {
    net = await startDhtNetwork(seededIdentities('dht-discover', 3), [new Set([1]), new Set([0, 2]), new Set([1])], { dht: { discoveryTimeoutMs: 1_500 } });
    const [a, b, c] = net.nodes as [CommsNode, CommsNode, CommsNode];
    const atB: number[] = [];
    b.dht.observe((t) => void (t.messageType === DhtMessageType.DISCOVERY && atB.push(t.forwardedTo)));
    const [x, y] = await Promise.all([a.dht.discover(c.publicKey), a.dht.discover(toHex(c.publicKey))]);
    expect(x.ok && y.ok).to.equal(true);
    expect(atB, 'one DISCOVERY, forwarded by b to c').to.deep.equal([1]);

    const nobody = NodeIdentity.generate().publicKey;
    const lost = await a.dht.discover(nobody);
    expect(lost.ok).to.equal(false);
    if (!lost.ok) expect(lost.error.name).to.equal('DiscoveryTimeout');

    const pending = await a.dht.send({ to: nobody, payload: new Uint8Array(1), discover: true });
    expect(pending.status).to.equal('pending-discovery');
    expect(await settled(pending)).to.have.nested.property('error.name', 'DiscoveryTimeout');
    // A known destination needs no discovery.
    const known = await a.dht.send({ to: c.publicKey, payload: new Uint8Array(1), discover: true });
    expect(known.status).to.equal('queued');
  });

  it('send with each connected strategy: flood (every connected node), broadcast, closest(n, target), propagate (to a connected destination: it alone; without one: up to 4); each copy delivered once', async () => {
    // a in the middle of b, c, d, e
    const ids = seededIdentities('dht-strategies', 5);
    net = await startDhtNetwork(ids, [new Set([1, 2, 3, 4]), new Set([0]), new Set([0]), new Set([0]), new Set([0])]);
    const [a, ...others] = net.nodes as [CommsNode, ...CommsNode[]];
    const got = new Map<string, number[]>(others.map((n) => [toHex(n.publicKey), []]));
    for (const n of others) n.dht.on(7, (m) => got.get(toHex(n.publicKey))!.push(m.payload[0]!));
    const hexes = (peers: readonly Uint8Array[]) => peers.map(toHex).sort();
    const all = hexes(others.map((n) => n.publicKey));
    const sendWith = async (strategy: Parameters<CommsNode['dht']['send']>[0]['strategy'], i: number, to?: CommsNode) => {
      const out = await a.dht.send({ ...(to ? { to: to.publicKey } : {}), type: 7, payload: new Uint8Array([i]), strategy });
      if (out.status !== 'queued') throw new Error(`not queued: ${JSON.stringify(out)}`);
      return out;
    };
    expect(hexes((await sendWith('flood', 1)).peers)).to.deep.equal(all);
    expect(hexes((await sendWith('broadcast', 2)).peers)).to.deep.equal(all);
    const target = NodeIdentity.generate();
    const closest = await sendWith({ kind: 'closest', n: 2, target: target.publicKey }, 3);
    expect(closest.strategy).to.equal('closest');
    const nearest = byDistance(others.map((n) => ({ nodeId: n.nodeId, hex: toHex(n.publicKey) })), target.nodeId).slice(0, 2);
    expect(closest.peers.map(toHex)).to.deep.equal(nearest.map((p) => p.hex));
    const toC = await sendWith('propagate', 4, others[1]!);
    expect(hexes(toC.peers)).to.deep.equal([toHex(others[1]!.publicKey)]);
    expect(hexes((await sendWith('propagate', 5)).peers)).to.deep.equal(all); // 4 random of 4
    const expected = new Map(all.map((h) => [h, [1, 2, 5]]));
    for (const p of closest.peers) expected.get(toHex(p))!.push(3);
    expected.get(toHex(others[1]!.publicKey))!.push(4);
    // Leaves forward nothing back to a (its only peer): each got each copy once.
    await until('every copy delivered', () => [...got].every(([h, v]) => v.length === expected.get(h)!.length), 10_000);
    for (const [h, v] of got) expect(v.sort(), h).to.deep.equal(expected.get(h)!.sort());
  });
});
