/**
 * `node.dht` as an embedder uses it (memory transport, one process): the outcomes of `send`
 * (queued to which peers, failed with a typed reason, pending a discovery), the strategies, the
 * async iterator of delivered messages, discoveries shared per key and timing out, and a DHT
 * node's messaging bodies all taken by the DHT.
 */
import { expect } from 'chai';
import { equals, toHex } from '../../core/bytes.js';
import { NodeIdentity } from '../../core/keys.js';
import { settled, type DhtMessage } from '../../actors/dht/index.js';
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
});
