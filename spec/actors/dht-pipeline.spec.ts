/**
 * The DHT's inbound pipeline on its own (no network): a runtime with a recording messaging
 * sender, a table of connected peers and a recording DHT actor. Properties: random bytes and
 * mutated valid envelopes never crash it, each gives one verdict. Behaviour: the stages in
 * tari's order (sender checks, judgement, dedup, forward, DHT handlers, application), with the
 * state changes going to the actor as typed events.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import { toHex } from '../../core/bytes.js';
import { nativeProvider, stablelibProvider } from '../../core/crypto/index.js';
import type { CryptoProvider } from '../../core/crypto/provider.js';
import { compareDistance, distance, NodeIdentity, type PublicKey } from '../../core/keys.js';
import {
  createCleartextEnvelope,
  createHeader,
  createPeerClaim,
  defaultExpiry,
  dhtReceiver,
  DhtMessageType,
  DROP_REASONS,
  encodeDiscoveryMessage,
  encodeDomainMessage,
  encodeEnvelope,
  encodePeerClaim,
  FLAG_ENCRYPTED,
  OPEN_FAILURE_REASONS,
  sealEnvelope,
  VIOLATION_REASONS,
  type BuiltEnvelope,
} from '../../protocols/dht/index.js';
import { addressToBytes, parseAddress } from '../../core/address.js';
import { fullKeyChecks } from '../../core/ed25519-point.js';
import { ConnectedPeers, DedupCache, DEFAULT_DHT_CONFIG, DhtDelivery, DhtOutbound, DhtPipeline, emptyStats, type DhtConfig, type DhtInbox, type DhtMessage, type DhtTrace } from '../../actors/dht/index.js';
import type { DhtRuntime } from '../../actors/dht/index.js';
import { recorder, startActor } from '../support/actors.js';

const NOW_MS = 1_750_000_000_000;
const nowS = BigInt(NOW_MS / 1000);

interface Harness {
  pipeline: DhtPipeline;
  rt: DhtRuntime;
  sent: Array<{ to: PublicKey; body: Uint8Array }>;
  events: DhtInbox[];
  delivered: DhtMessage[];
  traces: DhtTrace[];
  errors: unknown[];
  self: NodeIdentity;
  peers: NodeIdentity[];
  /** The node's clock (ms), which a test may move. */
  clock: { ms: number };
}

function harness(provider: CryptoProvider, over: Partial<DhtConfig> & { propagates?: boolean } = {}, keys?: { self: NodeIdentity; peers: NodeIdentity[] }): Harness {
  const self = keys?.self ?? NodeIdentity.generate();
  const peers = keys?.peers ?? Array.from({ length: 6 }, () => NodeIdentity.generate());
  const connected = new ConnectedPeers();
  for (const p of peers) connected.put({ publicKey: p.publicKey, nodeId: p.nodeId, hex: toHex(p.publicKey), features: 1 });
  const sent: Harness['sent'] = [];
  const clock = { ms: NOW_MS };
  const config = { ...DEFAULT_DHT_CONFIG, ...over };
  const rt: DhtRuntime = {
    config,
    identity: self,
    provider,
    receiver: dhtReceiver(self, provider),
    now: () => clock.ms,
    allowMemory: false,
    propagates: over.propagates ?? true,
    maxMessageBytes: 8 * 1024 * 1024,
    connected,
    dedup: new DedupCache({ capacity: config.dedupCapacity, minAgeMs: config.dedupMinAgeMs, maxKeys: config.dedupMaxKeys, maxPinned: config.maxDeliveredKeys, maxPinnedPerOwner: config.maxDeliveredKeysPerPeer }),
    stats: emptyStats(),
    messaging: {
      send: (to, body) => {
        sent.push({ to, body });
        return Promise.resolve({ ok: true });
      },
    },
  };
  const recording = recorder<DhtInbox>();
  const events = recording.seen;
  const actor = startActor(recording.logic);
  const delivery = new DhtDelivery(16);
  const delivered: DhtMessage[] = [];
  delivery.on('any', (m) => delivered.push(m));
  const errors: unknown[] = [];
  const outbound = new DhtOutbound(rt, () => undefined);
  const pipeline = new DhtPipeline(rt, { outbound, delivery, actor: () => actor, allowList: new Set(), onError: (e) => errors.push(e) });
  const traces: DhtTrace[] = [];
  pipeline.observe((t) => traces.push(t));
  return { pipeline, rt, sent, events, delivered, traces, errors, self, peers, clock };
}

const claimOf = (id: NodeIdentity) => createPeerClaim(id, { addresses: [addressToBytes(parseAddress('/ip4/10.0.0.1/tcp/18141'))], features: 1, userAgent: 'test', updatedAt: nowS });

/** Valid envelopes of every kind, for the harness's node, from `from` (a connected peer). */
function valid(provider: CryptoProvider, h: Harness, from: NodeIdentity): BuiltEnvelope[] {
  const expires = defaultExpiry(nowS, false);
  const domain = encodeDomainMessage({ messageType: 5, nonce: 9n, payload: new Uint8Array([1, 2, 3]) });
  return [
    createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, expires, body: domain, signer: from }),
    createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: h.self.publicKey, expires, body: domain }),
    createCleartextEnvelope(provider, { messageType: DhtMessageType.JOIN, destination: from.publicKey, expires, body: encodePeerClaim(claimOf(from)), signer: from }),
    sealEnvelope(provider, { recipient: h.self.publicKey, messageType: DhtMessageType.DOMAIN, expires: defaultExpiry(nowS, true), innerBody: domain, origin: from }),
    sealEnvelope(provider, { recipient: h.peers[5]!.publicKey, messageType: DhtMessageType.DOMAIN, expires: defaultExpiry(nowS, true), innerBody: domain }),
    sealEnvelope(provider, { recipient: h.self.publicKey, messageType: DhtMessageType.DISCOVERY, expires: defaultExpiry(nowS, true), innerBody: encodeDiscoveryMessage({ claim: claimOf(from), nonce: 77n }), origin: from }),
    createCleartextEnvelope(provider, { messageType: DhtMessageType.DISCOVERY_RESPONSE, destination: h.self.publicKey, expires, body: encodeDiscoveryMessage({ claim: claimOf(from), nonce: 78n }), signer: from }),
  ];
}

const VERDICTS = new Set(['process', 'forward', 'process+forward', 'drop', 'violation', 'banned', 'flooding']);
const REASONS = new Set<string>([...VIOLATION_REASONS, ...DROP_REASONS, ...OPEN_FAILURE_REASONS, 'banned', 'flooding', 'key_check_budget']);
const EVENT_TYPES = new Set(['dht.violation', 'dht.join-received', 'dht.discovery-requested', 'dht.discovery-response']);

for (const provider of [stablelibProvider, nativeProvider]) {
  describe(`DHT inbound pipeline (${provider.name})`, function () {
    this.timeout(60_000);

    it('property: random bytes and mutated valid envelopes never crash it; each gives one verdict with a known reason, and only typed events go to the actor', async () => {
      const keys = { self: NodeIdentity.generate(), peers: Array.from({ length: 6 }, () => NodeIdentity.generate()) };
      const envelopes = valid(provider, harness(provider, {}, keys), keys.peers[0]!).map((b) => b.envelope);
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ bytes, mutate: undefined })),
            fc.record({ pick: fc.nat(6), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }), cut: fc.boolean() }).map((mutate) => ({ bytes: undefined, mutate })),
          ),
          async (input) => {
            const h = harness(provider, {}, keys);
            const from = h.peers[0]!;
            let bytes: Uint8Array | undefined = input.bytes;
            if (input.mutate) {
              const e = envelopes[input.mutate.pick]!;
              const at = input.mutate.at % e.length;
              bytes = input.mutate.cut ? e.subarray(0, at) : Uint8Array.from(e, (b, i) => (i === at ? input.mutate!.value : b));
            }
            await h.pipeline.handle(from.publicKey, bytes!);
            expect(h.errors).to.deep.equal([]);
            expect(h.traces).to.have.length(1);
            const t = h.traces[0]!;
            expect(VERDICTS.has(t.verdict), t.verdict).to.equal(true);
            if (t.reason !== undefined) expect(REASONS.has(t.reason), t.reason).to.equal(true);
            for (const e of h.events) expect(EVENT_TYPES.has(e.type)).to.equal(true);
            expect(h.rt.stats.received).to.equal(1);
          },
        ),
        { numRuns: 500 },
      );
    });

    it('each valid kind goes its way: delivered, forwarded (not to the sending peer nor the origin), or told to the actor; a copy is a duplicate, counted per peer', async () => {
      const h = harness(provider);
      const from = h.peers[0]!;
      const [signedForNobody, forMe, join, sealedForMe, sealedForOther, discovery, response] = valid(provider, h, from);
      for (const b of [signedForNobody, forMe, join, sealedForMe, sealedForOther, discovery, response]) await h.pipeline.handle(from.publicKey, b!.envelope);
      expect(h.errors).to.deep.equal([]);
      expect(h.traces.map((t) => t.verdict)).to.deep.equal(['process+forward', 'process', 'process+forward', 'process', 'forward', 'process', 'process']);
      // Delivered: the signed DOMAIN for nobody, the one for this node, the sealed one (its origin opened).
      expect(h.delivered.map((m) => [m.encrypted, m.origin === undefined ? undefined : toHex(m.origin)])).to.deep.equal([
        [false, toHex(from.publicKey)],
        [false, undefined],
        [true, toHex(from.publicKey)],
      ]);
      // Forwarded bytes are the received ones, never to the sending peer.
      expect(h.sent.every((s) => toHex(s.to) !== toHex(from.publicKey))).to.equal(true);
      const sealedForward = h.sent.filter((s) => Buffer.from(s.body).equals(Buffer.from(sealedForOther!.envelope)));
      expect(sealedForward.map((s) => toHex(s.to))).to.deep.equal([toHex(h.peers[5]!.publicKey)]); // the destination is connected: it alone
      expect(h.events.map((e) => e.type)).to.deep.equal(['dht.join-received', 'dht.discovery-requested', 'dht.discovery-response']);
      // The same bytes again, from another peer: duplicates, counted against that peer.
      const other = h.peers[1]!;
      await h.pipeline.handle(other.publicKey, forMe!.envelope);
      await h.pipeline.handle(other.publicKey, sealedForMe!.envelope);
      expect(h.traces.slice(-2).map((t) => t.reason)).to.deep.equal(['duplicate', 'duplicate']);
      expect(h.pipeline.duplicatesByPeer.get(toHex(other.publicKey))).to.equal(2);
      expect(h.delivered).to.have.length(3);
    });

    it('a client (no feature bit 0) forwards nothing; the forward backlog is bounded', async () => {
      const client = harness(provider, { propagates: false });
      await client.pipeline.handle(client.peers[0]!.publicKey, valid(provider, client, client.peers[0]!)[0]!.envelope);
      expect(client.sent).to.deep.equal([]);
      const h = harness(provider, { maxForwardBacklog: 2 });
      // The recording sender never settles in this case: forwards pile up.
      h.rt.messaging.send = () => new Promise(() => {});
      for (let i = 0; i < 3; i++) {
        const b = createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, expires: defaultExpiry(nowS, false), body: encodeDomainMessage({ messageType: 1, nonce: BigInt(i), payload: new Uint8Array(0) }) });
        await h.pipeline.handle(h.peers[0]!.publicKey, b.envelope);
      }
      expect(h.rt.stats.forwarded).to.be.at.most(4); // the first forward went to up to 4 peers; the backlog then refused
      expect(h.rt.stats.forwardDropped).to.be.at.least(1);
    });

    it('a violation is reported with its ban length (2 h; 10 min for destination_is_sender), and the peer\'s next messages are dropped at once', async () => {
      const h = harness(provider);
      const [x, w] = h.peers as [NodeIdentity, NodeIdentity];
      const good = valid(provider, h, x)[0]!.envelope;
      const bad = Uint8Array.from(good);
      bad[bad.length - 1]! ^= 1;
      await h.pipeline.handle(x.publicKey, bad);
      await h.pipeline.handle(x.publicKey, good);
      expect(h.traces.map((t) => [t.verdict, t.reason])).to.deep.equal([
        ['violation', 'signature_invalid'],
        ['banned', 'banned'],
      ]);
      const toSender = createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: w.publicKey, expires: defaultExpiry(nowS, false), body: encodeDomainMessage({ messageType: 1, nonce: 1n, payload: new Uint8Array(0) }) });
      await h.pipeline.handle(w.publicKey, toSender.envelope);
      expect(h.events.map((e) => (e.type === 'dht.violation' ? [toHex(e.publicKey), e.reason, e.durationMs] : e.type))).to.deep.equal([
        [toHex(x.publicKey), 'signature_invalid', 7_200_000],
        [toHex(w.publicKey), 'destination_is_sender', 600_000],
      ]);
      expect(h.delivered).to.deep.equal([]);
    });

    it('flooding: the message over the limit is reported once (10 min), the rest of the window dropped', async () => {
      const h = harness(provider, { floodMaxMessages: 3, floodWindowMs: 60_000 });
      const p = h.peers[0]!;
      for (let i = 0; i < 6; i++) {
        const b = createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: h.self.publicKey, expires: defaultExpiry(nowS, false), body: encodeDomainMessage({ messageType: 1, nonce: BigInt(i), payload: new Uint8Array(0) }) });
        await h.pipeline.handle(p.publicKey, b.envelope);
      }
      expect(h.traces.map((t) => t.verdict)).to.deep.equal(['process', 'process', 'process', 'flooding', 'banned', 'banned']);
      expect(h.delivered).to.have.length(3);
      expect(h.events.filter((e) => e.type === 'dht.violation').map((e) => (e.type === 'dht.violation' ? [e.reason, e.durationMs] : []))).to.deep.include(['flooding', 600_000]);
    });
  });
}

describe('DHT inbound pipeline under attack', function () {
  this.timeout(60_000);
  const provider = nativeProvider;
  const domain = (i: number, payload = new Uint8Array(0)) => encodeDomainMessage({ messageType: 1, nonce: BigInt(i), payload });
  const farExpiry = nowS + 259_200n; // 3 days: anyone may choose it

  it('pins cannot be exhausted: junk broadcasts are not pinned, junk addressed to this node demotes its sender\'s own pins; an honest message is still delivered once', async () => {
    const h = harness(provider, { maxDeliveredKeys: 1_000, maxDeliveredKeysPerPeer: 100 });
    const [attacker, honest, relay] = h.peers as [NodeIdentity, NodeIdentity, NodeIdentity];
    for (let i = 0; i < 1_000; i++) {
      const b = createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, expires: farExpiry, body: domain(i) });
      await h.pipeline.handle(attacker.publicKey, b.envelope);
    }
    expect(h.rt.dedup.pinnedSize, 'broadcasts go in the ordinary dedup').to.equal(0);
    for (let i = 0; i < 1_000; i++) {
      const b = createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: h.self.publicKey, expires: farExpiry, body: domain(10_000 + i) });
      await h.pipeline.handle(attacker.publicKey, b.envelope);
    }
    expect(h.rt.dedup.pinnedBy(toHex(attacker.publicKey)), 'its share').to.equal(100);
    const before = h.delivered.length;
    expect(before).to.equal(2_000);
    const legit = createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: h.self.publicKey, expires: defaultExpiry(nowS, false), body: domain(1, new Uint8Array([1])), signer: honest });
    await h.pipeline.handle(honest.publicKey, legit.envelope);
    await h.pipeline.handle(relay.publicKey, legit.envelope); // a replay through another peer
    expect(h.delivered.length - before, 'delivered exactly once').to.equal(1);
    expect(h.traces.at(-1)!.reason).to.equal('duplicate');
    expect(h.rt.stats.byReason['delivery_refused']).to.equal(undefined);
    expect(h.rt.dedup.pinnedBy(toHex(honest.publicKey))).to.equal(1);
  });

  it('pins full of many attackers\' shares: each new pin demotes the largest sharer\'s oldest, never the honest one\'s', async () => {
    const h = harness(provider, { maxDeliveredKeys: 50, maxDeliveredKeysPerPeer: 20 });
    const attackers = h.peers.slice(0, 3);
    const honest = h.peers[3]!;
    const legit = createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: h.self.publicKey, expires: defaultExpiry(nowS, false), body: domain(1), signer: honest });
    await h.pipeline.handle(honest.publicKey, legit.envelope);
    for (const [n, a] of attackers.entries()) {
      for (let i = 0; i < 30; i++) {
        const b = createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: h.self.publicKey, expires: farExpiry, body: domain(n * 1_000 + i) });
        await h.pipeline.handle(a.publicKey, b.envelope);
      }
    }
    expect(h.rt.dedup.pinnedSize).to.equal(50);
    expect(h.rt.dedup.pinnedBy(toHex(honest.publicKey)), 'the honest pin stays').to.equal(1);
    expect(h.delivered).to.have.length(91);
    await h.pipeline.handle(h.peers[4]!.publicKey, legit.envelope);
    expect(h.traces.at(-1)!.reason).to.equal('duplicate');
  });

  const joinOf = (origin: NodeIdentity, updatedAt: bigint, expires = defaultExpiry(nowS, false)) =>
    createCleartextEnvelope(provider, {
      messageType: DhtMessageType.JOIN,
      destination: origin.publicKey,
      expires,
      body: encodePeerClaim(createPeerClaim(origin, { addresses: [addressToBytes(parseAddress('/ip4/10.0.0.1/tcp/1'))], features: 1, userAgent: 'x', updatedAt })),
      signer: origin,
    }).envelope;

  it('a JOIN whose claim is within 10 min of this node\'s claim limit (now + 86,400 s) is taken but not forwarded: a receiver whose clock is a little behind would ban this node for it', async () => {
    const h = harness(provider);
    const [origin, relay] = h.peers as [NodeIdentity, NodeIdentity];
    const other = NodeIdentity.generate();
    await h.pipeline.handle(relay.publicKey, joinOf(origin, nowS + 86_400n));
    expect(h.traces.at(-1)!.verdict).to.equal('process+forward');
    expect(h.traces.at(-1)!.forwardedTo).to.equal(0);
    expect(h.rt.stats.byReason['forward_clock_margin']).to.equal(1);
    expect(h.events.map((e) => e.type), 'stored all the same').to.deep.equal(['dht.join-received']);
    await h.pipeline.handle(relay.publicKey, joinOf(other, nowS + 86_400n - 600n));
    expect(h.rt.stats.byReason['forward_clock_margin'], 'within the margin: forwarded as usual').to.equal(1);
  });

  it('JOINs are taken once per origin per 10 min (the others dropped, not forwarded); a claim not newer than the last one taken is not stored again', async () => {
    const h = harness(provider);
    const [origin, relay] = h.peers as [NodeIdentity, NodeIdentity];
    for (let i = 0; i < 5; i++) await h.pipeline.handle(relay.publicKey, joinOf(origin, nowS, defaultExpiry(nowS, false) + BigInt(i)));
    expect(h.events.filter((e) => e.type === 'dht.join-received')).to.have.length(1);
    expect(h.rt.stats.byReason['join_rate']).to.equal(4);
    expect(h.traces.slice(1).map((t) => [t.verdict, t.reason, t.forwardedTo])).to.deep.equal(Array.from({ length: 4 }, () => ['drop', 'join_rate', 0]));
    const sentBefore = h.sent.length;
    // A copy of a dropped one is a duplicate.
    await h.pipeline.handle(h.peers[2]!.publicKey, joinOf(origin, nowS, defaultExpiry(nowS, false) + 1n));
    expect(h.traces.at(-1)!.reason).to.equal('duplicate');
    // 10 min later: the same claim again is taken (and may be forwarded) but not stored again; a newer one is.
    h.clock.ms += 600_000;
    await h.pipeline.handle(relay.publicKey, joinOf(origin, nowS, defaultExpiry(nowS + 600n, false)));
    expect(h.traces.at(-1)!.verdict).to.equal('process+forward');
    expect(h.events.filter((e) => e.type === 'dht.join-received')).to.have.length(1);
    h.clock.ms += 600_000;
    await h.pipeline.handle(relay.publicKey, joinOf(origin, nowS + 1_200n, defaultExpiry(nowS + 1_200n, false)));
    expect(h.events.filter((e) => e.type === 'dht.join-received')).to.have.length(2);
    expect(h.sent.length).to.be.at.least(sentBefore);
  });

  it('a replayed old JOIN taken first does not hold back its origin\'s newer claim within the window; the newer one does hold back more of the same', async () => {
    const h = harness(provider);
    const [origin, relay] = h.peers as [NodeIdentity, NodeIdentity];
    await h.pipeline.handle(relay.publicKey, joinOf(origin, nowS - 3_600n)); // an hour-old claim, replayed
    await h.pipeline.handle(relay.publicKey, joinOf(origin, nowS)); // the origin's current claim
    expect(h.events.filter((e) => e.type === 'dht.join-received').map((e) => e.type === 'dht.join-received' && e.claim.updatedAt)).to.deep.equal([nowS - 3_600n, nowS]);
    expect(h.traces.at(-1)!.verdict).to.equal('process+forward');
    await h.pipeline.handle(relay.publicKey, joinOf(origin, nowS, defaultExpiry(nowS, false) + 1n)); // the same claim again
    await h.pipeline.handle(relay.publicKey, joinOf(origin, nowS - 3_600n, defaultExpiry(nowS, false) + 2n)); // the old one again
    expect(h.rt.stats.byReason['join_rate']).to.equal(2);
  });

  it('a key signing ever newer claims gets at most 3 JOINs taken per 10-min window (1 and 2 newer), not one per claim', async () => {
    const h = harness(provider);
    const [origin, relay] = h.peers as [NodeIdentity, NodeIdentity];
    for (let i = 1n; i <= 50n; i++) await h.pipeline.handle(relay.publicKey, joinOf(origin, i));
    expect(h.events.filter((e) => e.type === 'dht.join-received')).to.have.length(3);
    expect(h.rt.stats.byReason['join_rate']).to.equal(47);
  });

  it('forwards to one peer are capped per flood window (below its flood limit): peers each under their own limit cannot make this node flood a neighbour', async () => {
    const h = harness(provider, { maxForwardsPerPeer: 3, floodWindowMs: 60_000 });
    const senders = h.peers.slice(0, 5);
    const neighbour = h.peers[5]!;
    const toNeighbour = () => h.sent.filter((x) => toHex(x.to) === toHex(neighbour.publicKey)).length;
    for (let i = 0; i < 10; i++) {
      const b = createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: neighbour.publicKey, expires: defaultExpiry(nowS, false), body: domain(i) });
      await h.pipeline.handle(senders[i % senders.length]!.publicKey, b.envelope);
    }
    expect(toNeighbour()).to.equal(3);
    expect(h.rt.stats.byReason['forward_rate']).to.equal(7);
    expect(h.rt.stats.forwardDropped).to.equal(7);
    h.clock.ms += 60_000; // the next window
    const b = createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: neighbour.publicKey, expires: defaultExpiry(nowS, false), body: domain(99) });
    await h.pipeline.handle(senders[0]!.publicKey, b.envelope);
    expect(toNeighbour()).to.equal(4);
  });

  it('a message this node can give to nobody (no connected peer closer to its destination, the sender left out) is counted as a dead end; one it passes on is not', async () => {
    const h = harness(provider);
    const from = h.peers[0]!;
    const others = h.peers.slice(1);
    const closer = (d: NodeIdentity, p: NodeIdentity) => compareDistance(distance(p.nodeId, d.nodeId), distance(h.self.nodeId, d.nodeId)) < 0;
    // Destinations (not connected) with no other connected peer closer than this node, and with one.
    const pick = (wanted: boolean) => {
      for (let i = 0; i < 10_000; i++) {
        const d = NodeIdentity.generate();
        if (others.some((p) => closer(d, p)) === wanted) return d;
      }
      throw new Error('no such destination in 10,000 keys');
    };
    const send = async (d: NodeIdentity, i: number) =>
      h.pipeline.handle(from.publicKey, createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: d.publicKey, expires: defaultExpiry(nowS, false), body: domain(i) }).envelope);
    await send(pick(true), 1);
    expect(h.traces.at(-1)!.forwardedTo).to.be.above(0);
    expect(h.rt.stats.byReason['dead_end']).to.equal(undefined);
    await send(pick(false), 2);
    await send(pick(false), 3);
    expect(h.traces.at(-1)!.forwardedTo).to.equal(0);
    expect(h.rt.stats.byReason['dead_end']).to.equal(2);
    // A full forward backlog is a forward drop of its own, not a dead end.
    const busy = harness(provider, { maxForwardBacklog: 0 });
    await busy.pipeline.handle(busy.peers[0]!.publicKey, createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: NodeIdentity.generate().publicKey, expires: defaultExpiry(nowS, false), body: domain(4) }).envelope);
    expect([busy.rt.stats.byReason['forward_backlog'], busy.rt.stats.byReason['dead_end']]).to.deep.equal([1, undefined]);
  });

  it('full key checks are budgeted per sending peer: garbage sealed messages with fresh destinations cost at most the budget, the rest dropped unjudged (not forwarded, no ban)', async () => {
    const h = harness(provider, { maxKeyChecksPerPeer: 5 });
    const [attacker, honest] = h.peers as [NodeIdentity, NodeIdentity];
    const garbage = Array.from({ length: 20 }, () => {
      // A valid key never checked by this process yet, and a "sealed" body that is random bytes: no crypto work for the sender.
      const destination = NodeIdentity.generate().publicKey;
      const header = createHeader({ messageType: DhtMessageType.DOMAIN, destination, flags: FLAG_ENCRYPTED, expires: defaultExpiry(nowS, true), ephemeralPublicKey: randomBytes(32) });
      return encodeEnvelope(header, randomBytes(6_016));
    });
    const checksBefore = fullKeyChecks();
    for (const e of garbage) await h.pipeline.handle(attacker.publicKey, e);
    expect(fullKeyChecks() - checksBefore, 'full checks').to.equal(5);
    expect(h.traces.filter((t) => t.verdict === 'forward')).to.have.length(5);
    expect(h.traces.filter((t) => t.reason === 'key_check_budget')).to.have.length(15);
    expect(h.traces.filter((t) => t.reason === 'key_check_budget').every((t) => t.forwardedTo === 0)).to.equal(true);
    expect(h.rt.stats.violations).to.equal(0);
    expect(h.events).to.deep.equal([]);
    // Nothing was recorded: the same message from a peer with budget left is judged (and forwarded).
    await h.pipeline.handle(honest.publicKey, garbage[19]!);
    expect(h.traces.at(-1)!.verdict).to.equal('forward');
    // A key checked lately costs nothing from the budget: the attacker's messages to a known destination still pass.
    await h.pipeline.handle(attacker.publicKey, createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: h.peers[5]!.publicKey, expires: defaultExpiry(nowS, false), body: domain(1) }).envelope);
    expect(h.traces.at(-1)!.verdict).to.equal('forward');
  });

  it('this node\'s own messages enter its dedup cache when sent: their echoes are duplicates, never delivered or forwarded', async () => {
    const h = harness(provider);
    const outbound = new DhtOutbound(h.rt, () => undefined);
    for (const [i, built] of [
      outbound.domainEnvelope({ to: undefined, type: 1, payload: new Uint8Array([1]), encrypt: false, sign: false }),
      outbound.domainEnvelope({ to: undefined, type: 1, payload: new Uint8Array([2]), encrypt: false, sign: true }),
    ].entries()) {
      const out = await outbound.dispatch(built, undefined, 'flood');
      expect(out.status).to.equal('queued');
      const echo = h.sent.at(-1)!.body;
      await h.pipeline.handle(h.peers[i]!.publicKey, echo);
      expect(h.traces.at(-1)!.reason).to.equal('duplicate');
    }
    expect(h.delivered).to.deep.equal([]);
    expect(h.rt.stats.forwarded).to.equal(0);
  });

  it('the budget covers the origin key inside a message sealed for this node: fresh origins beyond it are dropped unjudged, not recorded', async () => {
    const h = harness(provider, { maxKeyChecksPerPeer: 3 });
    const attacker = h.peers[0]!;
    const sealed = Array.from({ length: 6 }, (_, i) => sealEnvelope(provider, { recipient: h.self.publicKey, messageType: DhtMessageType.DOMAIN, expires: defaultExpiry(nowS, true), innerBody: domain(i), origin: NodeIdentity.generate() }).envelope);
    const checksBefore = fullKeyChecks();
    for (const e of sealed) await h.pipeline.handle(attacker.publicKey, e);
    expect(fullKeyChecks() - checksBefore).to.equal(3);
    expect(h.delivered).to.have.length(3);
    expect(h.traces.map((t) => t.reason ?? t.verdict)).to.deep.equal(['process', 'process', 'process', 'key_check_budget', 'key_check_budget', 'key_check_budget']);
    await h.pipeline.handle(h.peers[1]!.publicKey, sealed[5]!);
    expect(h.delivered, 'not recorded: judged when it comes from a peer with budget left').to.have.length(4);
  });
});
