/**
 * Store-and-forward in running nodes (PROTOCOL.md 9.7), on the memory transport: a node goes
 * offline, others send it encrypted messages, a store-and-forward node keeps them with its own
 * clock as `stored_at`, and the node, back, receives each exactly once marked late; responses
 * nobody asked for are dropped and reported, forged ones cost the forger a ban; the store and the
 * requester's `since` survive restarts on LMDB.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { equals, toHex } from '../../core/bytes.js';
import { cryptoProvider } from '../../core/crypto/index.js';
import { compareDistance, distance, NodeIdentity, type PublicKey } from '../../core/keys.js';
import type { DhtMessage } from '../../actors/dht/index.js';
import type { SafEmitted } from '../../actors/saf/index.js';
import {
  createCleartextEnvelope,
  decodeEnvelope,
  defaultExpiry,
  DhtMessageType,
  encodeDomainMessage,
  encodeSafStoredMessages,
  FEATURE_STORE_AND_FORWARD,
  sealEnvelope,
} from '../../protocols/dht/index.js';
import { CommsBuilder, type CommsNode } from '../../node/index.js';
import { LmdbSafStore } from '../../storage/saf-lmdb-store.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import type { InboundMiddleware } from '../../actors/messaging/messaging.logic.js';
import { until } from '../support/wait.js';

const provider = cryptoProvider('native');
const nowSeconds = () => BigInt(Math.floor(Date.now() / 1000));

/** A node on `network`: the DHT, and store-and-forward as `saf` says (none: no store-and-forward). */
function build(
  network: MemoryNetwork,
  identity: NodeIdentity,
  saf: 'node' | 'client' | 'none',
  extra: (b: CommsBuilder) => CommsBuilder = (b) => b,
): CommsNode {
  let b = new CommsBuilder()
    .withNodeIdentity(identity)
    .withTransport(new MemoryTransport({ network }))
    .withListenAddress('/memory/0')
    .withTimeouts({ keepaliveIntervalMs: 0, closeGraceMs: 300 })
    .withDialPolicy({ rounds: 1 })
    .withDht({ propagate: saf !== 'client', autoJoin: false });
  if (saf !== 'none') b = b.withStoreAndForward({ store: saf === 'node' });
  return extra(b).build();
}

async function connect(from: CommsNode, to: CommsNode): Promise<void> {
  await from.addPeer(to.publicKey, to.listenAddresses.map(String));
  await from.dial(to.publicKey, { timeoutMs: 20_000 });
}

async function parted(a: CommsNode, b: CommsNode): Promise<void> {
  await until('the connection is gone on both sides', () => a.connection(b.publicKey) === undefined && b.connection(a.publicKey) === undefined, 10_000);
}

/** Collects what `node`'s DHT delivers and what its store-and-forward component publishes. */
function watch(node: CommsNode): { delivered: DhtMessage[]; facts: SafEmitted[] } {
  const w = { delivered: [] as DhtMessage[], facts: [] as SafEmitted[] };
  node.dht.on('any', (m) => w.delivered.push(m));
  node.once('listening', () => {
    const saf = node.actors.saf;
    if (!saf) return;
    for (const type of ['saf.request-started', 'saf.request-ended', 'saf.response-rejected', 'saf.request-skipped'] as const) saf.on(type, (e) => w.facts.push(e));
  });
  return w;
}

const ended = (w: { facts: SafEmitted[] }) => w.facts.filter((f): f is Extract<SafEmitted, { type: 'saf.request-ended' }> => f.type === 'saf.request-ended');
const text = (m: DhtMessage) => Buffer.from(m.payload).toString();

/** A sealed DOMAIN envelope for `to`. */
function sealedFor(to: PublicKey, payload: string): Uint8Array {
  return sealEnvelope(provider, { recipient: to, messageType: DhtMessageType.DOMAIN, expires: defaultExpiry(nowSeconds(), true), innerBody: encodeDomainMessage({ messageType: 7, nonce: 1n, payload: Buffer.from(payload) }) }).envelope;
}

/** A SAF_STORED_MESSAGES envelope for `to`, holding `envelopes`. */
function storedResponse(to: PublicKey, envelopes: Uint8Array[]): Uint8Array {
  const body = encodeSafStoredMessages(envelopes.map((envelope) => ({ storedAt: nowSeconds(), envelope })));
  return createCleartextEnvelope(provider, { messageType: DhtMessageType.SAF_STORED_MESSAGES, destination: to, expires: defaultExpiry(nowSeconds(), false), body }).envelope;
}

describe('store-and-forward (PROTOCOL.md 9.7)', function () {
  this.timeout(60_000);
  const running: CommsNode[] = [];
  const started = async (...nodes: CommsNode[]) => {
    running.push(...nodes);
    await Promise.all(nodes.map((n) => n.start()));
  };
  afterEach(async () => {
    await Promise.all(running.splice(0).map((n) => n.stop()));
  });

  it('a node that was offline receives what was sent to it meanwhile, each message once, marked late, stored_at from the storing node\'s clock', async () => {
    const network = new MemoryNetwork();
    const [ia, is, id] = [NodeIdentity.generate(), NodeIdentity.generate(), NodeIdentity.generate()];
    // The storing node's clock runs two hours ahead of everyone's: stored_at must be its own.
    const AHEAD_MS = 2 * 3600 * 1000;
    const a = build(network, ia, 'none');
    const s = build(network, is, 'node', (b) => b.withClock({ setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout), now: () => Date.now() + AHEAD_MS }));
    const d1 = build(network, id, 'client');
    const w1 = watch(d1);
    await started(a, s, d1);
    expect(s.config.features & FEATURE_STORE_AND_FORWARD).to.equal(FEATURE_STORE_AND_FORWARD);
    expect(d1.config.features & FEATURE_STORE_AND_FORWARD).to.equal(0);
    await connect(a, s);
    await connect(d1, s);
    // On connecting, d asks s (a store-and-forward peer): nothing is kept for it yet.
    await until('d asked s, and was answered', () => ended(w1).length === 1);
    expect(ended(w1)[0]).to.deep.include({ outcome: 'answered', messages: 0 });
    expect(equals(ended(w1)[0]!.publicKey, s.publicKey)).to.equal(true);
    await d1.stop();
    await parted(s, d1);

    // d is offline: a sends it three encrypted messages; only s can take them.
    for (const body of ['one', 'two', 'three']) {
      const sent = await a.dht.send({ to: id.publicKey, type: 7, payload: Buffer.from(body), encrypt: true, sign: true });
      expect(sent.status).to.equal('queued');
    }
    await until('s stored the three', () => s.dht.saf!.stats.stored === 3);
    // A cleartext message for d is not stored (9.7: ENCRYPTED DOMAIN only).
    await a.dht.send({ to: id.publicKey, payload: Buffer.from('clear') });
    await until('s saw it', () => s.dht.stats.received === 4);
    expect(s.dht.saf!.stats.stored).to.equal(3);
    // s had no one to pass them on to: the three it stored are not lost there, the cleartext one is.
    await until('s counted the cleartext one a dead end', () => s.dht.stats.byReason['dead_end'] === 1);
    expect(s.dht.stats.byReason['dead_end']).to.equal(1);

    // d comes back (a new process: same identity, fresh state) and connects to s.
    const d2 = build(network, id, 'client');
    const w2 = watch(d2);
    await started(d2);
    await connect(d2, s);
    await until('d received the three', () => w2.delivered.length === 3);
    await until('its request ended', () => ended(w2).length === 1);
    expect(ended(w2)[0]).to.deep.include({ outcome: 'answered', messages: 3 });
    expect(w2.delivered.map(text)).to.deep.equal(['one', 'two', 'three']);
    const sAt = Math.floor((Date.now() + AHEAD_MS) / 1000);
    for (const m of w2.delivered) {
      expect(m).to.deep.include({ late: true, encrypted: true, type: 7 });
      expect(equals(m.origin!, ia.publicKey)).to.equal(true);
      // s's clock, not a's (which is two hours behind).
      expect(m.storedAt).to.be.within(sAt - 60, sAt + 1);
    }
    expect(s.dht.saf!.stats).to.deep.include({ requestsServed: 2, messagesServed: 3 });

    // Served messages were removed: reconnecting asks again (since = the last stored_at) and gets nothing.
    d2.disconnect(s.publicKey);
    await parted(s, d2);
    await connect(d2, s);
    await until('the second request ended', () => ended(w2).length === 2);
    expect(ended(w2)[1]).to.deep.include({ outcome: 'answered', messages: 0 });
    expect(w2.delivered).to.have.length(3);
    // A message sent now, with d online, comes directly and is not late.
    await connect(a, d2);
    await a.dht.send({ to: id.publicKey, payload: Buffer.from('now'), encrypt: true });
    await until('d received it', () => w2.delivered.length === 4);
    expect(w2.delivered[3]).to.deep.include({ late: false, storedAt: undefined });
  });

  it('a message for another node that a store-and-forward node neither passes on nor keeps (outside its region) is counted as a dead end', async () => {
    const network = new MemoryNetwork();
    const [ia, is] = [NodeIdentity.generate(), NodeIdentity.generate()];
    const a = build(network, ia, 'none');
    const s = build(network, is, 'node');
    await started(a, s);
    await connect(a, s);
    // s knows 9 nodes (a, and 8 it was told of, never connected): a destination farther from s
    // than all of them is outside its region (9.7), one nearer than all of them inside.
    const known = Array.from({ length: 8 }, () => NodeIdentity.generate());
    for (const [i, k] of known.entries()) await s.peers.add({ publicKey: k.publicKey, nodeId: k.nodeId, features: 1, addresses: [{ address: `/memory/${900_000 + i}`, source: 'config' }] });
    const from = (d: NodeIdentity) => distance(is.nodeId, d.nodeId);
    const distances = [...known, ia].map(from).sort(compareDistance);
    const pick = (outside: boolean) => {
      for (let i = 0; i < 10_000; i++) {
        const d = NodeIdentity.generate();
        if (outside ? compareDistance(from(d), distances.at(-1)!) > 0 : compareDistance(from(d), distances[0]!) < 0) return d;
      }
      throw new Error('no such destination in 10,000 keys');
    };
    await a.send(is.publicKey, sealedFor(pick(true).publicKey, 'lost'));
    await until('s judged it', () => s.dht.saf!.stats.notStored === 1);
    expect([s.dht.stats.byReason['saf_out_of_region'], s.dht.stats.byReason['dead_end']]).to.deep.equal([1, 1]);
    await a.send(is.publicKey, sealedFor(pick(false).publicKey, 'kept'));
    await until('s stored it', () => s.dht.saf!.stats.stored === 1);
    expect(s.dht.stats.byReason['dead_end']).to.equal(1);
  });

  it('a backlog larger than one response arrives on one connection, in rounds (a full response is followed by another request)', async () => {
    const network = new MemoryNetwork();
    const [ia, is, id] = [NodeIdentity.generate(), NodeIdentity.generate(), NodeIdentity.generate()];
    const a = build(network, ia, 'none');
    const s = build(network, is, 'node');
    await started(a, s);
    await connect(a, s);
    for (let i = 0; i < 12; i++) await a.dht.send({ to: id.publicKey, payload: Buffer.from(`m${i}`), encrypt: true });
    await until('s stored the twelve', () => s.dht.saf!.stats.stored === 12);
    const d = build(network, id, 'client', (b) => b.withStoreAndForward({ requestLimit: 5 }));
    const w = watch(d);
    await started(d);
    await connect(d, s);
    await until('d received the twelve', () => w.delivered.length === 12);
    await until('three rounds ended', () => ended(w).length === 3);
    expect(ended(w).map((e) => e.messages)).to.deep.equal([5, 5, 2]);
    expect(w.facts.filter((f) => f.type === 'saf.request-started').map((f) => (f.type === 'saf.request-started' ? f.round : 0))).to.deep.equal([1, 2, 3]);
    expect(new Set(w.delivered.map(text)).size).to.equal(12);
  });

  it('a response nobody asked for is dropped and reported; a forged one (a bad envelope, too many messages) costs the forger a ban', async () => {
    const network = new MemoryNetwork();
    const id = NodeIdentity.generate();
    const d = build(network, id, 'client');
    const wd = watch(d);
    const banned: string[] = [];
    d.on('peer.banned', (e) => banned.push(toHex(e.publicKey)));
    // u: no store-and-forward, sends d a response out of the blue.
    const u = build(network, NodeIdentity.generate(), 'none');
    // m1, m2: store-and-forward nodes that answer d's request with a forgery of their own.
    const forger = (reply: () => Uint8Array) => {
      let self: CommsNode | undefined;
      const middleware: InboundMiddleware = (message) => {
        if (decodeEnvelope(message.body).header.messageType !== DhtMessageType.SAF_REQUEST_MESSAGES) return message;
        void self!.send(message.from, reply());
        return undefined; // its own store-and-forward never sees the request
      };
      self = build(network, NodeIdentity.generate(), 'node', (b) => b.withInboundMiddleware(middleware));
      return self;
    };
    const cleartextForD = () => createCleartextEnvelope(provider, { messageType: DhtMessageType.DOMAIN, destination: id.publicKey, expires: defaultExpiry(nowSeconds(), false), body: encodeDomainMessage({ messageType: 7, nonce: 2n, payload: Buffer.from('forged') }) }).envelope;
    const m1 = forger(() => storedResponse(id.publicKey, [cleartextForD()]));
    const m2 = forger(() => storedResponse(id.publicKey, Array.from({ length: 51 }, (_, i) => sealedFor(id.publicKey, `flood ${i}`))));
    await started(d, u, m1, m2);

    await connect(u, d);
    await u.send(d.publicKey, storedResponse(id.publicKey, [sealedFor(id.publicKey, 'unasked')]));
    await until('d dropped and reported it', () => wd.facts.some((f) => f.type === 'saf.response-rejected'));
    expect(d.dht.saf!.stats.responsesRejected).to.equal(1);
    expect(d.dht.stats.byReason['saf_unsolicited']).to.equal(1);
    expect(banned).to.deep.equal([]);

    await connect(d, m1);
    await until('m1 was banned', () => banned.includes(toHex(m1.publicKey)));
    await connect(d, m2);
    await until('m2 was banned', () => banned.includes(toHex(m2.publicKey)));
    await until('both requests ended', () => ended(wd).length === 2);
    expect(ended(wd).map((e) => [toHex(e.publicKey), e.outcome])).to.have.deep.members([
      [toHex(m1.publicKey), 'rejected'],
      [toHex(m2.publicKey), 'rejected'],
    ]);
    expect(d.dht.stats.byReason['stored_not_sealed_domain_for_receiver']).to.equal(1);
    expect(d.dht.stats.byReason['saf_too_many_messages']).to.equal(1);
    expect(wd.delivered, 'nothing forged or unasked reached the application').to.deep.equal([]);
  });

  it('survives restarts on LMDB: the stored messages, and the requester\'s since', async () => {
    const network = new MemoryNetwork();
    const dir = mkdtempSync(join(tmpdir(), 'tcomms-saf-node-'));
    try {
      const [ia, is, id] = [NodeIdentity.generate(), NodeIdentity.generate(), NodeIdentity.generate()];
      const onDisk = (name: string) => (b: CommsBuilder) => b.withPeerStore({ kind: 'lmdb', path: join(dir, name, 'peers') });
      const a = build(network, ia, 'none');
      const s1 = build(network, is, 'node', onDisk('s'));
      expect(s1.config.saf!.storage).to.deep.equal({ kind: 'lmdb', path: join(dir, 's', 'saf') });
      await started(a, s1);
      await connect(a, s1);
      for (const body of ['kept 1', 'kept 2']) await a.dht.send({ to: id.publicKey, payload: Buffer.from(body), encrypt: true });
      await until('s stored both', () => s1.dht.saf!.stats.stored === 2);
      await s1.stop();

      // s restarts from its data directory, d (also on disk) comes online and asks it.
      const s2 = build(network, is, 'node', onDisk('s'));
      const d1 = build(network, id, 'client', onDisk('d'));
      const w1 = watch(d1);
      await started(s2, d1);
      await connect(d1, s2);
      await until('d received both', () => w1.delivered.length === 2);
      expect(w1.delivered.map(text)).to.deep.equal(['kept 1', 'kept 2']);
      expect(w1.delivered.every((m) => m.late)).to.equal(true);
      await until('its request ended (since saved)', () => ended(w1).length === 1);
      await d1.stop();
      const cursor = await LmdbSafStore.open({ path: join(dir, 'd', 'saf') });
      const since = await cursor.sinceOf(is.publicKey);
      await cursor.close();
      expect(since).to.equal(w1.delivered[1]!.storedAt);
      expect(s2.dht.saf!.stats).to.deep.include({ requestsServed: 1, messagesServed: 2 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
