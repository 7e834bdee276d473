/**
 * DHT networks on the memory transport, in one process (PROTOCOL.md section 9):
 * - 50 nodes, each connected to its 8 closest by XOR distance and 2 random others: two nodes
 *   that share no connection find each other (discovery), then an encrypted message goes end to
 *   end; every intermediate that handled either message could not decrypt it and never saw the
 *   origin's key;
 * - 100 nodes in a random graph: a propagated message reaches every node's application exactly
 *   once, the copies beyond the first dropped by dedup (and counted);
 * - a tampered envelope gets its sender banned and goes no further; a destination equal to the
 *   sending peer costs the short ban;
 * - a flood is cut off by the per-peer limit while another peer's messages still arrive.
 */
import { expect } from 'chai';
import { equals, toHex } from '../../core/bytes.js';
import { settled, type DhtMessage, type DhtTrace } from '../../actors/dht/index.js';
import { createCleartextEnvelope, decodeEnvelope, defaultExpiry, DhtMessageType, encodeDomainMessage, FLAG_ENCRYPTED } from '../../protocols/dht/index.js';
import { nativeProvider } from '../../core/crypto/index.js';
import type { CommsNode } from '../../node/index.js';
import { boundedDegreeGraph, propagationReaches, seededIdentities, seededRandom, startDhtNetwork, xorTopology, type DhtTestNetwork } from '../support/dht-network.js';
import { until } from '../support/wait.js';

const sameKey = (a: Uint8Array | undefined, b: Uint8Array | undefined) => a !== undefined && b !== undefined && equals(a, b);

/** Every trace of each node, kept as it happens. */
function traceAll(nodes: readonly CommsNode[]): DhtTrace[][] {
  return nodes.map((n) => {
    const seen: DhtTrace[] = [];
    n.dht.observe((t) => seen.push(t));
    return seen;
  });
}

describe('DHT networks on the memory transport', function () {
  this.timeout(180_000);
  let net: DhtTestNetwork | undefined;
  afterEach(async () => {
    await net?.stop();
    net = undefined;
  });

  it('50 nodes (8 closest + 2 random each): two unconnected nodes find each other, then an encrypted message goes end to end; no intermediate can read either or learns the origin', async () => {
    const ids = seededIdentities('dht-50', 50);
    const adj = xorTopology(ids, 8, 2, seededRandom(50));
    // A pair with no connection between them whose routing has no dead end (in this topology,
    // greedy Propagate of 9.6 dead-ends for well under 1% of pairs).
    const rnd = seededRandom(7);
    let pair: [number, number] | undefined;
    for (let a = 0; a < ids.length && !pair; a++) {
      for (let t = ids.length - 1; t > a && !pair; t--) if (!adj[a]!.has(t) && propagationReaches(ids, adj, a, t, 50, rnd)) pair = [a, t];
    }
    const [ai, ti] = pair!;
    // Every ENCRYPTED envelope for T that a node other than T receives: does its byte string hold A's key?
    const originKey = ids[ai]!.publicKey;
    const sealedSeen = new Map<number, Array<{ holdsOriginKey: boolean }>>();
    net = await startDhtNetwork(ids, adj, {
      configure: (b, i) =>
        b.withInboundMiddleware((m) => {
          const e = decodeEnvelope(m.body);
          if (i !== ti && (e.header.flags & FLAG_ENCRYPTED) !== 0 && equals(e.header.destination, ids[ti]!.publicKey)) {
            const list = sealedSeen.get(i) ?? [];
            list.push({ holdsOriginKey: Buffer.from(m.body).indexOf(Buffer.from(originKey)) >= 0 });
            sealedSeen.set(i, list);
          }
          return m;
        }),
    });
    const { nodes } = net;
    const [a, t] = [nodes[ai]!, nodes[ti]!];
    expect(a.connection(t.publicKey)).to.equal(undefined);
    const traces = traceAll(nodes);
    // The JOINs of the setup (each node's, on coming online, re-propagated toward it) taught
    // nodes of peers they are not connected to.
    const strangers = async () => {
      const known = await Promise.all(nodes.map((n) => n.peers.random(1_000)));
      return known.reduce((sum, peers, i) => sum + peers.filter((p) => !adj[i]!.has(nodes.findIndex((n) => equals(n.publicKey, p.publicKey)))).length, 0);
    };
    const deadline = Date.now() + 10_000;
    while ((await strangers()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await strangers(), 'claims relayed by JOINs, stored').to.be.greaterThan(0);

    // Discovery: the sealed DISCOVERY travels through nodes that cannot read it; T answers directly.
    const found = await a.dht.discover(t.publicKey);
    expect(found.ok, found.ok ? "" : `${found.error.name}: ${found.error.message}`).to.equal(true);
    if (!found.ok) return;
    expect(found.peer.addresses).to.deep.equal(t.listenAddresses.map(String));
    expect((await a.peers.find({ publicKey: t.publicKey }))?.addresses.map((x) => x.address)).to.include(String(t.listenAddresses[0]));
    const discoveryCarriers = [...sealedSeen.keys()];
    expect(discoveryCarriers.length, 'the DISCOVERY went through intermediates').to.be.greaterThan(0);

    // The answer connected them; part again so that the message is routed through the network.
    a.disconnect(t.publicKey);
    await until('A and T disconnected', () => a.connection(t.publicKey) === undefined && t.connection(a.publicKey) === undefined, 10_000);
    sealedSeen.clear();
    const got = new Promise<DhtMessage>((resolve) => t.dht.on(42, resolve));
    const payload = Buffer.from('for T alone');
    const sent = await settled(await a.dht.send({ to: t.publicKey, type: 42, payload, encrypt: true, sign: true }));
    expect(sent.status, JSON.stringify(sent)).to.equal('queued');
    if (sent.status !== 'queued') return;
    expect(sent.strategy).to.equal('propagate');
    const m = await got;
    expect(Buffer.from(m.payload).equals(payload)).to.equal(true);
    expect(m.encrypted).to.equal(true);
    expect(sameKey(m.origin, a.publicKey), 'T learns the origin').to.equal(true);
    expect(sameKey(m.destination, t.publicKey)).to.equal(true);

    const messageCarriers = [...sealedSeen.keys()];
    expect(messageCarriers.length, 'the message went through intermediates').to.be.greaterThan(0);
    for (const i of new Set([...discoveryCarriers, ...messageCarriers])) {
      // The bytes an intermediate handled never hold A's key ...
      expect(sealedSeen.get(i) ?? [], `node ${i}`).to.satisfy((l: Array<{ holdsOriginKey: boolean }>) => l.every((x) => !x.holdsOriginKey));
    }
    for (const [i, list] of traces.entries()) {
      if (i === ti) continue;
      // ... and no intermediate opened a sealed message or named an origin for one.
      const sealed = list.filter((x) => x.messageType === DhtMessageType.DOMAIN || x.messageType === DhtMessageType.DISCOVERY).filter((x) => x.verdict !== 'drop' || x.reason === 'duplicate');
      for (const x of sealed) {
        expect(x.decrypted, `node ${i}`).to.equal(false);
        if (x.verdict === 'forward') expect(x.origin, `node ${i}`).to.equal(undefined);
      }
    }
    // T opened both (the DISCOVERY and the message) and nobody else delivered anything.
    expect(traces[ti]!.filter((x) => x.decrypted).map((x) => x.messageType)).to.deep.equal([DhtMessageType.DISCOVERY, DhtMessageType.DOMAIN]);
    expect(nodes.reduce((n, x) => n + x.dht.stats.delivered, 0)).to.equal(1);
  });

  it('100 nodes in a random graph: a propagated message reaches every node\'s application exactly once; the other copies are dropped by dedup and counted', async () => {
    const ids = seededIdentities('dht-100', 100);
    // Degrees of at most 4: a node forwards to 4 random connected nodes (9.6), so every
    // neighbour but the sender gets it and the message covers the whole (connected) graph.
    const adj = boundedDegreeGraph(100, 4, 80, seededRandom(100));
    net = await startDhtNetwork(ids, adj);
    const { nodes } = net;
    const traces = traceAll(nodes);
    const deliveries = nodes.map(() => 0);
    nodes.forEach((n, i) => n.dht.on(7, () => void deliveries[i]!++));
    const origin = nodes[0]!;
    const sent = await origin.dht.send({ type: 7, payload: Buffer.from('to everyone'), sign: true });
    expect(sent.status).to.equal('queued');
    if (sent.status !== 'queued') return;
    const key = sent.dedupKey;
    const copies = () => traces.flat().filter((x) => sameKey(x.dedupKey, key));
    // Done when every copy sent (by the origin and by forwarders) has been received.
    const sentCopies = () => sent.peers.length + copies().reduce((n, x) => n + x.forwardedTo, 0);
    await until('the message reached every node', () => deliveries.slice(1).every((d) => d === 1), 60_000);
    await until('every copy in flight arrived', () => copies().length === sentCopies(), 30_000);
    expect(deliveries).to.deep.equal([0, ...Array(99).fill(1)]);
    const duplicates = copies().filter((x) => x.reason === 'duplicate').length;
    expect(copies().filter((x) => x.verdict === 'process+forward').length).to.equal(99);
    expect(duplicates).to.equal(copies().length - 99);
    expect(duplicates, 'the graph has cycles: some copies were duplicates').to.be.greaterThan(0);
    // Counted per sending peer as well.
    const perPeer = nodes.reduce((n, node) => n + nodes.reduce((k, other) => k + node.dht.duplicatesFrom(other.publicKey), 0), 0);
    expect(perPeer).to.be.at.least(duplicates);
    console.log(`      (${copies().length} copies for 99 deliveries: ${duplicates} duplicates dropped)`);
  });

  it('a tampered envelope gets its sender banned (2 h) and goes no further; a destination equal to the sending peer costs 10 min', async () => {
    const ids = seededIdentities('dht-ban', 4);
    // x - y - z, and w - y
    const adj = [new Set([1]), new Set([0, 2, 3]), new Set([1]), new Set([1])];
    net = await startDhtNetwork(ids, adj);
    const [x, y, z, w] = net.nodes as [CommsNode, CommsNode, CommsNode, CommsNode];
    const traces = traceAll(net.nodes);
    const banned: Array<{ publicKey: Uint8Array; durationMs: number; reason: string }> = [];
    y.on('peer.banned', (e) => banned.push(e));
    const now = BigInt(Math.floor(Date.now() / 1000));
    const built = createCleartextEnvelope(nativeProvider, { messageType: DhtMessageType.DOMAIN, expires: defaultExpiry(now, false), body: encodeDomainMessage({ messageType: 1, nonce: 1n, payload: Buffer.from('original') }), signer: x.config.identity });
    const tampered = Uint8Array.from(built.envelope);
    tampered[tampered.length - 1]! ^= 0x01; // the payload's last byte: the signature no longer verifies
    expect((await x.send(y.publicKey, tampered)).ok).to.equal(true);
    await until('Y bans X', () => banned.length === 1, 10_000);
    expect(banned[0]!).to.deep.include({ durationMs: 2 * 60 * 60_000 });
    expect(sameKey(banned[0]!.publicKey, x.publicKey)).to.equal(true);
    expect(banned[0]!.reason).to.match(/signature_invalid/);
    await until('X is disconnected from Y', () => y.connection(x.publicKey) === undefined, 10_000);
    expect(y.dht.stats.byReason).to.deep.include({ signature_invalid: 1 });
    // It went no further: Y forwarded nothing of it, Z and W never saw it.
    expect(traces[1]!.find((t) => t.reason === 'signature_invalid')!.forwardedTo).to.equal(0);
    expect(traces[2]!.concat(traces[3]!).some((t) => t.messageType === DhtMessageType.DOMAIN)).to.equal(false);
    expect(y.dht.stats.delivered).to.equal(0);

    // W names Y's own peer as destination: W's key (the sending peer's): a violation, the short ban.
    const toSender = createCleartextEnvelope(nativeProvider, { messageType: DhtMessageType.DOMAIN, destination: w.publicKey, expires: defaultExpiry(now, false), body: encodeDomainMessage({ messageType: 1, nonce: 2n, payload: new Uint8Array(1) }) });
    expect((await w.send(y.publicKey, toSender.envelope)).ok).to.equal(true);
    await until('Y bans W', () => banned.length === 2, 10_000);
    expect(banned[1]!).to.deep.include({ durationMs: 10 * 60_000 });
    expect(banned[1]!.reason).to.match(/destination_is_sender/);
    expect(traces[2]!.some((t) => t.messageType === DhtMessageType.DOMAIN)).to.equal(false);
    expect(toHex(z.publicKey)).to.not.equal(toHex(w.publicKey));
  });

  it('a flood is cut off by the per-peer limit (and the flooder banned for 10 min) while another peer\'s messages still arrive', async () => {
    const ids = seededIdentities('dht-flood', 3);
    // f - y - g
    const adj = [new Set([1]), new Set([0, 2]), new Set([1])];
    const LIMIT = 200;
    net = await startDhtNetwork(ids, adj, { dht: { floodMaxMessages: LIMIT, floodWindowMs: 10 * 60_000 } });
    const [f, y, g] = net.nodes as [CommsNode, CommsNode, CommsNode];
    const from = { f: 0, g: 0 };
    y.dht.on(3, (m) => void (sameKey(m.origin, f.publicKey) ? from.f++ : sameKey(m.origin, g.publicKey) ? from.g++ : undefined));
    const banned: Array<{ publicKey: Uint8Array; durationMs: number; reason: string }> = [];
    y.on('peer.banned', (e) => banned.push(e));
    // The setup's JOINs (F's and G's, each the first message of its window) have arrived.
    await until('Y has the JOINs of F and G', () => y.dht.stats.received === 2, 10_000);
    // F floods: 1,000 signed messages for Y (not forwarded); their writes are not awaited one by one.
    const floods = [];
    for (let i = 0; i < 1_000; i++) floods.push(f.dht.send({ to: y.publicKey, type: 3, payload: Buffer.from(`f${i}`), sign: true }));
    await Promise.all(floods);
    await until('Y bans F for flooding', () => banned.length === 1, 20_000);
    expect(banned[0]!.durationMs).to.equal(10 * 60_000);
    expect(banned[0]!.reason).to.match(/flooding/);
    expect(sameKey(banned[0]!.publicKey, f.publicKey)).to.equal(true);
    // G's messages still arrive.
    for (let i = 0; i < 50; i++) expect((await g.dht.send({ to: y.publicKey, type: 3, payload: Buffer.from(`g${i}`), sign: true })).status).to.equal('queued');
    await until('G\'s 50 messages', () => from.g === 50, 20_000);
    // F's first LIMIT messages got through (its JOIN and LIMIT - 1 of the flood), none after.
    expect(from.f).to.equal(LIMIT - 1);
    expect(y.dht.stats.byReason.flooding).to.be.at.least(1);
  });

  it('the flood limit is per peer, not per connection: a peer that reconnects keeps its window', async () => {
    // f - y
    const LIMIT = 100;
    net = await startDhtNetwork(seededIdentities('dht-flood-reconnect', 2), [new Set([1]), new Set([0])], { dht: { floodMaxMessages: LIMIT, floodWindowMs: 10 * 60_000 } });
    const [f, y] = net.nodes as [CommsNode, CommsNode];
    let fromF = 0;
    y.dht.on(3, () => void fromF++);
    const banned: Array<{ publicKey: Uint8Array; reason: string }> = [];
    y.on('peer.banned', (e) => banned.push(e));
    const burst = async (from: number) => {
      for (let i = 0; i < 60; i++) expect((await f.dht.send({ to: y.publicKey, type: 3, payload: Buffer.from(`f${from + i}`), strategy: 'direct' })).status).to.equal('queued');
    };
    await burst(0);
    await until('Y has F\'s first 60', () => fromF === 60, 20_000);
    f.disconnect(y.publicKey);
    await until('F and Y parted', () => y.connection(f.publicKey) === undefined && f.connection(y.publicKey) === undefined, 10_000);
    await f.dial(y.publicKey);
    await burst(60);
    await until('Y bans F for flooding across the reconnect', () => banned.length === 1, 20_000);
    expect(banned[0]!.reason).to.match(/flooding/);
    expect(fromF).to.be.lessThan(LIMIT);
  });
});
