/**
 * The peer-store compliance suite: every PeerStore implementation runs it.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { compareDistance, distance, type NodeId } from '../../core/keys.js';
import { PeerStoreClosed } from '../../storage/errors.js';
import { banPeer, mergePeer, recordDial, type Peer } from '../../storage/peer.js';
import { matchesFilter, type PeerFilter, type PeerStore } from '../../storage/peer-store.js';
import { randomPeer, randomSighting } from '../support/peers.js';

export interface PeerStoreFixture {
  open(): Promise<PeerStore>;
  /** Closes and opens the same store again (persistent stores only). */
  reopen?(store: PeerStore): Promise<PeerStore>;
  cleanup?(): Promise<void>;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const keysOf = (peers: Peer[]) => peers.map((p) => hex(p.publicKey));

async function put(store: PeerStore, peer: Peer): Promise<Peer> {
  return (await store.update(peer.publicKey, () => peer))!;
}

export function peerStoreCompliance(name: string, fixture: PeerStoreFixture): void {
  describe(`peer store compliance: ${name}`, function () {
    this.timeout(60_000);
    let store: PeerStore;
    beforeEach(async () => {
      store = await fixture.open();
    });
    afterEach(async () => {
      await store.close();
      await fixture.cleanup?.();
    });

    it('stores and finds a peer by public key and by NodeId, bytes and all', async () => {
      const peer = randomPeer(5, {
        claim: { version: 0, updatedAt: 99, features: 3, addresses: [Uint8Array.of(4, 127, 0, 0, 1, 6, 0x46, 0xdd)], signature: new Uint8Array(64).fill(9) },
      });
      const banned = banPeer(recordDial(peer, peer.addresses[0]!.address, { kind: 'failure', reason: 'refused' }, 6), 10_000, 'spam', 6);
      await put(store, banned);
      expect(await store.get(peer.publicKey)).to.deep.equal(banned);
      expect(await store.getByNodeId(peer.nodeId)).to.deep.equal(banned);
      expect(await store.get(randomPeer().publicKey)).to.equal(undefined);
      expect(await store.count()).to.equal(1);
    });

    it('shares nothing with its callers: changing a record given, seen in a change or returned alters nothing stored', async () => {
      const claim = { version: 0, updatedAt: 7, features: 1, addresses: [Uint8Array.of(4, 127, 0, 0, 1, 6, 0x46, 0xdd)], signature: new Uint8Array(64).fill(3) };
      const peer = randomPeer(5, { claim });
      const expected = structuredClone(peer);
      // Every nested value of a record, as a list of mutations (an object field added to Peer
      // and shared by a store shows up here as a field the mutations reach).
      const scribble = (p: Peer) => {
        p.publicKey[0]! ^= 0xff;
        p.nodeId[0]! ^= 0xff;
        p.addresses[0]!.attempts += 100;
        p.addresses.push({ address: '/ip4/10.0.0.9/tcp/9', source: 'manual', attempts: 0, consecutiveFailures: 0 });
        p.supportedProtocols.push('/scribbled');
        p.claim!.addresses[0]![0] = 99;
        p.claim!.addresses.push(Uint8Array.of(1));
        p.claim!.signature[0] = 0;
        p.claim!.features = 99;
        p.flags = 99;
        for (const value of Object.values(p)) {
          if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || Array.isArray(value)) continue;
          (value as Record<string, unknown>).scribbled = true;
        }
      };
      const returned = await put(store, peer);
      scribble(peer);
      scribble(returned);
      await store.update(expected.publicKey, (current) => {
        scribble(current!);
        return undefined;
      });
      for (const found of [await store.get(expected.publicKey), await store.getByNodeId(expected.nodeId)]) {
        expect(found).to.deep.equal(expected);
        scribble(found!);
      }
      expect(await store.findByNodeIdPrefix(expected.nodeId.subarray(0, 4), 5)).to.deep.equal([expected]);
      expect(await store.get(expected.publicKey)).to.deep.equal(expected);
    });

    it('writes nothing when the change returns undefined', async () => {
      const peer = randomPeer();
      expect(await store.update(peer.publicKey, () => undefined)).to.equal(undefined);
      expect(await store.count()).to.equal(0);
      await put(store, peer);
      expect(await store.update(peer.publicKey, () => undefined)).to.deep.equal(peer);
    });

    it('applies concurrent read-modify-writes one after another (none lost)', async () => {
      const peer = randomPeer();
      await put(store, peer);
      const address = peer.addresses[0]!.address;
      await Promise.all(Array.from({ length: 200 }, (_, i) => store.update(peer.publicKey, (p) => recordDial(p!, address, { kind: 'attempt' }, i))));
      expect((await store.get(peer.publicKey))!.addresses[0]!.attempts).to.equal(200);
    });

    it('finds peers by NodeId prefix', async () => {
      const peers = await Promise.all(Array.from({ length: 300 }, () => put(store, randomPeer())));
      const prefix = peers[0]!.nodeId.subarray(0, 1);
      const expected = peers.filter((p) => p.nodeId[0] === prefix[0]).map((p) => hex(p.publicKey));
      const found = await store.findByNodeIdPrefix(prefix, 1000);
      expect(keysOf(found).sort()).to.deep.equal(expected.sort());
      expect(await store.findByNodeIdPrefix(prefix, 1)).to.have.length(Math.min(1, expected.length));
    });

    it('closest-N equals a full sort by XOR distance, with every filter', async () => {
      const now = 50_000;
      const peers: Peer[] = [];
      for (let i = 0; i < 1500; i++) {
        let p = randomPeer(1, { features: i % 4 });
        if (i % 7 === 0) p = banPeer(p, i % 14 === 0 ? now + 1000 : now - 1000, 'spam', 1); // half the bans have expired
        if (i % 11 === 0) p = recordDial(p, p.addresses[0]!.address, { kind: 'failure', reason: 'x' }, 2);
        if (i % 13 === 0) p = { ...p, deletedAt: 3 };
        peers.push(p);
      }
      await Promise.all(peers.map((p) => put(store, p)));
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 13, maxLength: 13 }),
          fc.integer({ min: 0, max: 40 }),
          fc.record({ includeBanned: fc.boolean(), includeOffline: fc.boolean(), features: fc.constantFrom(undefined, 0, 1, 2, 3), excludeSome: fc.boolean() }),
          async (target, n, f) => {
            const filter: PeerFilter = { now, includeBanned: f.includeBanned, includeOffline: f.includeOffline };
            if (f.features !== undefined) filter.features = f.features;
            if (f.excludeSome) filter.exclude = [peers[0]!.publicKey, peers[1]!.nodeId];
            const expected = peers
              .filter((p) => matchesFilter(p, filter))
              .sort((a, b) => compareDistance(distance(target as NodeId, a.nodeId), distance(target as NodeId, b.nodeId)))
              .slice(0, n);
            const got = await store.closest(target as NodeId, n, filter);
            expect(keysOf(got)).to.deep.equal(keysOf(expected));
          },
        ),
        { numRuns: 60 },
      );
      // The exact id of a stored peer comes first.
      const [first] = await store.closest(peers[5]!.nodeId, 1, { now, includeBanned: true, includeOffline: true });
      expect(hex(first!.publicKey)).to.equal(hex(peers[5]!.publicKey));
    });

    it('random-N gives distinct eligible peers, all of them when n is large', async () => {
      const now = 10;
      const peers = await Promise.all(Array.from({ length: 60 }, (_, i) => put(store, i % 3 === 0 ? banPeer(randomPeer(), now + 5, 'x', 1) : randomPeer())));
      const eligible = new Set(peers.filter((p) => matchesFilter(p, { now })).map((p) => hex(p.publicKey)));
      const some = await store.random(10, { now });
      expect(new Set(keysOf(some)).size).to.equal(10);
      for (const k of keysOf(some)) expect(eligible.has(k)).to.equal(true);
      const every = await store.random(1000, { now });
      expect(new Set(keysOf(every))).to.deep.equal(eligible);
      // Over many draws every eligible peer shows up.
      const seen = new Set<string>();
      for (let i = 0; i < 300; i++) for (const k of keysOf(await store.random(3, { now }))) seen.add(k);
      expect(seen.size).to.equal(eligible.size);
    });

    it('lists with a predicate, hides soft-deleted peers from queries but keeps them (and their ban)', async () => {
      const a = await put(store, randomPeer(1, { userAgent: 'a' }));
      const b = await put(store, banPeer(randomPeer(1, { userAgent: 'b' }), 99_999, 'abuse', 1));
      await store.update(b.publicKey, (p) => ({ ...p!, deletedAt: 2 }));
      expect(keysOf(await store.all())).to.deep.equal([hex(a.publicKey)]);
      expect(keysOf(await store.all((p) => p.userAgent === 'b'))).to.deep.equal([]);
      expect(await store.count()).to.equal(2);
      const kept = await store.get(b.publicKey);
      expect(kept!.bannedUntil).to.equal(99_999);
      expect(await store.findByNodeIdPrefix(b.nodeId, 5)).to.deep.equal([]);
      // Seen again: restored, still banned (the longest ban is kept).
      const back = await store.update(b.publicKey, (p) => mergePeer(p!, randomSighting({ publicKey: b.publicKey, nodeId: b.nodeId }), 3));
      expect(back!.deletedAt).to.equal(undefined);
      expect(back!.bannedUntil).to.equal(99_999);
    });

    it('refuses use after close with PeerStoreClosed', async () => {
      await store.close();
      expect(await store.get(randomPeer().publicKey).catch((e: unknown) => e)).to.be.instanceOf(PeerStoreClosed);
      store = await fixture.open();
    });

    it('keeps what it stored across a reopen (persistent stores)', async function () {
      if (!fixture.reopen) this.skip();
      const peers = await Promise.all(Array.from({ length: 50 }, () => put(store, randomPeer())));
      store = await fixture.reopen!(store);
      for (const p of peers) expect(await store.get(p.publicKey)).to.deep.equal(p);
      expect(await store.count()).to.equal(50);
    });
  });
}
