/**
 * The peer-store compliance suite: every PeerStore implementation runs it.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { compareDistance, distance, type NodeId } from '../../core/keys.js';
import { PeerStoreClosed } from '../../storage/errors.js';
import { banPeer, FLAG_SEED, isUnverified, mergePeer, newPeer, recordDial, unbanPeer, type Peer, type PeerSighting } from '../../storage/peer.js';
import { matchesFilter, type PeerFilter, type PeerStore, type PeerStoreLimits } from '../../storage/peer-store.js';
import { randomPeer, randomSighting } from '../support/peers.js';

export interface PeerStoreFixture {
  open(limits?: PeerStoreLimits): Promise<PeerStore>;
  /** Closes and opens the same store again (persistent stores only). */
  reopen?(store: PeerStore, limits?: PeerStoreLimits): Promise<PeerStore>;
  cleanup?(): Promise<void>;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const keysOf = (peers: Peer[]) => peers.map((p) => hex(p.publicKey));

async function put(store: PeerStore, peer: Peer): Promise<Peer> {
  return (await store.update(peer.publicKey, () => peer))!;
}

/** A relayed claim's sighting (peer sync, JOIN, discovery): the record it makes is unverified. */
const relayedSighting = (extra: Partial<PeerSighting> = {}) => {
  const s = randomSighting({ relayed: true, ...extra });
  return { ...s, addresses: (s.addresses ?? []).map((a) => ({ ...a, source: 'peer-sync' as const })) };
};

/** Merges `s` at `now` as the peer manager does, collecting what the write evicted. */
async function sight(store: PeerStore, s: PeerSighting, now: number, evicted: Peer[] = []): Promise<Peer> {
  return (await store.update(s.publicKey, (p) => (p ? mergePeer(p, s, now) : newPeer(s, now)), (e) => evicted.push(e)))!;
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

    describe('unverified records (learned only from relayed claims) are bounded', () => {
      it('keeps at most maxUnverified: one past the bound evicts the one written longest ago, for good, in the same write, handed to onEvicted', async () => {
        await store.close();
        store = await fixture.open({ maxUnverified: 3 });
        const sightings = Array.from({ length: 5 }, () => relayedSighting());
        const evicted: Peer[] = [];
        for (const [i, s] of sightings.entries()) {
          const stored = await sight(store, s, 1_000 + i, evicted);
          expect(isUnverified(stored)).to.equal(true);
        }
        expect(keysOf(evicted)).to.deep.equal(keysOf(sightings.slice(0, 2).map((s) => newPeer(s, 0))));
        expect(await store.countUnverified()).to.equal(3);
        expect(await store.count()).to.equal(3);
        for (const s of sightings.slice(0, 2)) {
          expect(await store.get(s.publicKey)).to.equal(undefined);
          expect(await store.getByNodeId(s.nodeId)).to.equal(undefined);
        }
        const left = await store.closest(sightings[0]!.nodeId, 10, { now: 0 });
        expect(keysOf(left).sort()).to.deep.equal(sightings.slice(2).map((s) => hex(s.publicKey)).sort());
        if ('verify' in store) expect((await (store as unknown as { verify(): Promise<{ problems: string[] }> }).verify()).problems).to.deep.equal([]);
      });

      it('a relayed claim stored again moves its record to the back of the eviction order', async () => {
        await store.close();
        store = await fixture.open({ maxUnverified: 2 });
        const [a, b, c] = [relayedSighting(), relayedSighting(), relayedSighting()];
        const evicted: Peer[] = [];
        await sight(store, a, 1_000, evicted);
        await sight(store, b, 2_000, evicted);
        await sight(store, a, 3_000, evicted);
        await sight(store, c, 4_000, evicted);
        expect(keysOf(evicted)).to.deep.equal([hex(b.publicKey)]);
        expect(await store.get(a.publicKey)).to.not.equal(undefined);
      });

      it('never counts nor evicts a record seen first-hand, dialled with success, a seed or a ban; one that is stops counting', async () => {
        await store.close();
        store = await fixture.open({ maxUnverified: 2 });
        const evicted: Peer[] = [];
        // First-hand records (a connection's identity, addPeer, a seed) are not bounded.
        for (let i = 0; i < 5; i++) await sight(store, randomSighting(), 1_000 + i, evicted);
        await sight(store, randomSighting({ flags: FLAG_SEED, relayed: true }), 1_010, evicted);
        expect(await store.countUnverified()).to.equal(0);
        const [a, b, c, d] = [relayedSighting(), relayedSighting(), relayedSighting(), relayedSighting()];
        await sight(store, a, 2_000, evicted);
        await sight(store, b, 2_001, evicted);
        expect(await store.countUnverified()).to.equal(2);
        // a connects (its identity: a first-hand sighting); b is dialled with success.
        const aSeen = await sight(store, { ...randomSighting(), publicKey: a.publicKey, nodeId: a.nodeId }, 2_002, evicted);
        expect(isUnverified(aSeen)).to.equal(false);
        await store.update(b.publicKey, (p) => recordDial(p!, p!.addresses[0]!.address, { kind: 'success', dialMs: 5 }, 2_003), (e) => evicted.push(e));
        expect(await store.countUnverified()).to.equal(0);
        // A relayed claim about a verified peer leaves it verified.
        expect(isUnverified(await sight(store, { ...relayedSighting(), publicKey: a.publicKey, nodeId: a.nodeId }, 2_004, evicted))).to.equal(false);
        // c is banned: kept (the ban must be), not counted; unbanned, it counts again.
        await sight(store, c, 2_005, evicted);
        await store.update(c.publicKey, (p) => banPeer(p!, 99_000, 'spam', 2_006), (e) => evicted.push(e));
        expect(await store.countUnverified()).to.equal(0);
        await sight(store, d, 2_007, evicted);
        await sight(store, relayedSighting(), 2_008, evicted);
        expect(evicted).to.deep.equal([]);
        await store.update(c.publicKey, (p) => unbanPeer(p!, 2_009), (e) => evicted.push(e));
        expect(await store.countUnverified()).to.equal(2);
        expect(keysOf(evicted)).to.deep.equal([hex(d.publicKey)]);
        expect(await store.count()).to.equal(5 + 1 + 2 + 2);
        if ('verify' in store) expect((await (store as unknown as { verify(): Promise<{ problems: string[] }> }).verify()).problems).to.deep.equal([]);
      });

      it('keeps its count and eviction order across a reopen (persistent stores)', async function () {
        if (!fixture.reopen) this.skip();
        await store.close();
        store = await fixture.open({ maxUnverified: 3 });
        const sightings = Array.from({ length: 3 }, () => relayedSighting());
        for (const [i, s] of sightings.entries()) await sight(store, s, 1_000 + i);
        store = await fixture.reopen!(store, { maxUnverified: 3 });
        expect(await store.countUnverified()).to.equal(3);
        const evicted: Peer[] = [];
        const x = relayedSighting();
        await sight(store, x, 5_000, evicted);
        expect(keysOf(evicted)).to.deep.equal([hex(sightings[0]!.publicKey)]);
        // Reopened with a smaller bound, the next insert brings it down to the bound.
        store = await fixture.reopen!(store, { maxUnverified: 1 });
        await sight(store, relayedSighting(), 6_000, evicted);
        expect(keysOf(evicted).slice(1)).to.deep.equal([sightings[1]!, sightings[2]!, x].map((s) => hex(s.publicKey)));
        expect(await store.countUnverified()).to.equal(1);
      });
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
