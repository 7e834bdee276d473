/**
 * The store-and-forward store compliance suite (PROTOCOL.md 9.7): every SafStore implementation
 * runs it, including a property test against the naive model of `spec/support/saf-model.ts`.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { decodeSafStoredMessages, encodeSafStoredMessages } from '../../protocols/dht/messages.js';
import { FLAG_ENCRYPTED, MAX_SAF_ENVELOPE_BYTES, SAF_RESPONSE_MAX_BYTES } from '../../protocols/dht/constants.js';
import { createHeader, encodeEnvelope } from '../../protocols/dht/envelope.js';
import { DhtMessageType } from '../../proto/gen/tcomms/dht/dht_pb.js';
import { InternalError } from '../../core/errors.js';
import { nodeIdOf } from '../../core/keys.js';
import { SafStoreClosed } from '../../storage/errors.js';
import { storedMessageBytes } from '../../storage/saf-size.js';
import {
  DEFAULT_SAF_LIMITS,
  SAF_PRIORITY_HIGH,
  type SafFetchResult,
  type SafMessageInit,
  type SafPutResult,
  type SafRegionResult,
  type SafStore,
  type SafStoreLimits,
} from '../../storage/saf-store.js';
import { SafModel } from '../support/saf-model.js';

/** How a suite opens the implementation under test. */
export interface SafStoreFixture {
  open(limits?: Partial<SafStoreLimits>): Promise<SafStore>;
  /** Closes and opens the same store again (persistent stores only). */
  reopen?(store: SafStore, limits?: Partial<SafStoreLimits>): Promise<SafStore>;
  cleanup?(): Promise<void>;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const key = (n: number) => new Uint8Array(32).fill(n);
const A = key(0xa1);
const B = key(0xb2);
const S1 = key(0x51);
const S2 = key(0x52);
const ALL = { since: 0, limit: 50, maxBytes: SAF_RESPONSE_MAX_BYTES };

/** A message to store: a random envelope of `size` bytes and a fresh dedup key unless given. */
function message(over: Partial<SafMessageInit> & { size?: number } = {}): SafMessageInit {
  const { size = 100, ...rest } = over;
  return { destination: A, envelope: new Uint8Array(randomBytes(size)), expires: 1_000_000, sender: S1, dedupKey: new Uint8Array(randomBytes(32)), storedAt: 1_000, destinationKnown: true, ...rest };
}

function stored(result: SafPutResult): number {
  if (!result.stored) throw new Error(`not stored: ${result.reason}`);
  return result.id;
}

/** Runs the suite against `fixture`. */
export function safStoreCompliance(name: string, fixture: SafStoreFixture): void {
  describe(`SAF store compliance: ${name}`, function () {
    this.timeout(120_000);
    let store: SafStore;
    const openWith = async (limits?: Partial<SafStoreLimits>) => {
      await store.close();
      await fixture.cleanup?.();
      store = await fixture.open(limits);
    };
    beforeEach(async () => {
      store = await fixture.open();
    });
    afterEach(async () => {
      await store.close();
      await fixture.cleanup?.();
    });

    it('has the bounds of 9.7 by default', () => {
      expect(store.limits).to.deep.equal(DEFAULT_SAF_LIMITS);
      expect(store.limits).to.deep.equal({ maxMessages: 100_000, maxBytes: 1024 ** 3, maxMessagesPerPeer: 10_000, maxBytesPerPeer: Math.floor(1024 ** 3 / 10), maxCursors: 10_000 });
    });

    it('serves a message to its destination only, bytes intact, with the storing clock as stored_at', async () => {
      const m = message({ storedAt: 5_000n, expires: 90_000n });
      const put = await store.put(m);
      expect(put).to.deep.include({ stored: true, retainUntil: 90_000, evicted: [] });
      const got = await store.messagesFor(A, { ...ALL, now: 5_001 });
      expect(got.ids).to.deep.equal([stored(put)]);
      expect(got.messages[0]!.storedAt).to.equal(5_000n);
      expect(hex(got.messages[0]!.envelope)).to.equal(hex(m.envelope));
      expect(got.more).to.equal(false);
      expect((await store.messagesFor(B, { ...ALL, now: 5_001 })).messages).to.deep.equal([]);
      expect(await store.stats()).to.deep.equal({ count: 1, bytes: 100, senders: 1 });
      expect(await store.usageOf(S1)).to.deep.equal({ count: 1, bytes: 100 });
      expect(await store.usageOf(S2)).to.deep.equal({ count: 0, bytes: 0 });
    });

    it('counts the exact size of the SafStoredMessages encoding', async () => {
      // stored_at of 0 (omitted), then 1-, 2- and 3-byte varints; envelopes across length-varint steps.
      const times = [0, 100, 200, 20_000, 200_000, 259_200];
      for (const [i, size] of [1, 100, 128, 16_300, 16_384, 70_000].entries()) {
        const header = createHeader({ messageType: DhtMessageType.DOMAIN, destination: A, flags: FLAG_ENCRYPTED, expires: 1_000_000n, ephemeralPublicKey: key(9) });
        await store.put(message({ envelope: encodeEnvelope(header, new Uint8Array(randomBytes(size))), storedAt: times[i]! }));
      }
      const got = await store.messagesFor(A, { ...ALL, now: 259_200 });
      expect(got.messages).to.have.length(6);
      const encoded = encodeSafStoredMessages(got.messages);
      expect(got.encodedBytes).to.equal(encoded.length);
      expect(decodeSafStoredMessages(encoded).map((m) => [m.storedAt, hex(m.envelope)])).to.deep.equal(got.messages.map((m) => [m.storedAt, hex(m.envelope)]));
    });

    it('fills maxBytes exactly and stops at the first message that does not fit (oldest first stays contiguous)', async () => {
      const sizes = [300, 200, 100];
      for (const [i, size] of sizes.entries()) await store.put(message({ size, storedAt: 1_000 + i }));
      const exact = storedMessageBytes(1_000, 300) + storedMessageBytes(1_001, 200);
      const fits = await store.messagesFor(A, { since: 0, limit: 50, maxBytes: exact, now: 2_000 });
      expect(fits.messages.map((m) => m.envelope.length)).to.deep.equal([300, 200]);
      expect(fits).to.deep.include({ encodedBytes: exact, more: true });
      const short = await store.messagesFor(A, { since: 0, limit: 50, maxBytes: exact - 1, now: 2_000 });
      expect(short.messages.map((m) => m.envelope.length)).to.deep.equal([300]); // the 100-byte one is not taken out of order
      expect((await store.messagesFor(A, { since: 0, limit: 50, maxBytes: 10, now: 2_000 })).messages).to.deep.equal([]);
    });

    it('refuses an envelope over 524,288 bytes (and an empty one), takes one of exactly 524,288', async () => {
      expect(await store.put(message({ size: MAX_SAF_ENVELOPE_BYTES + 1 }))).to.deep.include({ stored: false, reason: 'too_large' });
      expect(await store.put(message({ size: 0 }))).to.deep.include({ stored: false, reason: 'too_large' });
      expect((await store.put(message({ size: MAX_SAF_ENVELOPE_BYTES }))).stored).to.equal(true);
      expect(await store.stats()).to.deep.equal({ count: 1, bytes: MAX_SAF_ENVELOPE_BYTES, senders: 1 });
    });

    it('refuses a second copy of a message (same dedup key, whoever sends it), and takes it again once removed', async () => {
      const m = message();
      const id = stored(await store.put(m));
      expect(await store.put({ ...m, sender: S2, destination: B })).to.deep.include({ stored: false, reason: 'duplicate' });
      expect(await store.remove(A, [id])).to.deep.equal({ count: 1, bytes: 100 });
      expect((await store.put(m)).stored).to.equal(true);
    });

    it('keeps a message until expires, or stored_at + 3 days (destination known) / + 6 h (unknown)', async () => {
      const known = await store.put(message({ storedAt: 1_000, expires: 10n ** 12n, destinationKnown: true }));
      const unknown = await store.put(message({ storedAt: 1_000, expires: 10n ** 12n, destinationKnown: false }));
      const early = await store.put(message({ storedAt: 1_000, expires: 5_000, destinationKnown: true }));
      expect([known, unknown, early].map((r) => r.stored && r.retainUntil)).to.deep.equal([1_000 + 259_200, 1_000 + 21_600, 5_000]);
      const served = async (now: number) => (await store.messagesFor(A, { since: 0, limit: 50, maxBytes: 1e9, now })).ids;
      expect(await served(5_000)).to.have.length(3); // kept through its last second
      expect(await served(5_001)).to.deep.equal([stored(known), stored(unknown)]); // past retention: not served, even before a sweep
      expect(await store.expire(5_001)).to.deep.equal({ count: 1, bytes: 100, more: false });
      expect(await store.expire(1_000 + 21_601)).to.deep.include({ count: 1 });
      expect(await served(1_000 + 21_601)).to.deep.equal([stored(known)]);
      expect(await store.expire(1_000 + 259_201)).to.deep.include({ count: 1 });
      expect(await store.stats()).to.deep.equal({ count: 0, bytes: 0, senders: 0 });
    });

    it('refuses a message whose retention ended before it was stored', async () => {
      expect(await store.put(message({ storedAt: 1_000, expires: 999 }))).to.deep.include({ stored: false, reason: 'expired' });
      expect((await store.put(message({ storedAt: 1_000, expires: 1_000 }))).stored).to.equal(true);
    });

    it('takes u64 times: expires and since beyond 2^53 clamp, since within [now - 3 days, now]', async () => {
      const id = stored(await store.put(message({ storedAt: 400_000n, expires: 2n ** 64n - 1n })));
      await store.put(message({ storedAt: 100_000, expires: 2n ** 64n - 1n }));
      const ids = async (since: number | bigint, now: number) => (await store.messagesFor(A, { since, limit: 50, maxBytes: 1e9, now })).ids;
      expect(await ids(2n ** 64n - 1n, 400_000)).to.deep.equal([id]); // since > now: now
      expect(await ids(0, 400_000)).to.deep.equal([id]); // since < now - 259,200: that (100,000 is older)
      expect(await ids(0, 359_200)).to.have.length(2);
      expect(await ids(400_001, 500_000)).to.deep.equal([]);
    });

    it('serves oldest first by stored_at (then order of storing), at most limit (0 or over 50: 50)', async () => {
      const times = [50, 10, 30, 10, 20, 40];
      const ids: number[] = [];
      for (const t of times) ids.push(stored(await store.put(message({ storedAt: t, size: 10 }))));
      const order = times.map((t, i) => ({ t, id: ids[i]! })).sort((a, b) => a.t - b.t || a.id - b.id).map((x) => x.id);
      const fetch = (since: number, limit: number) => store.messagesFor(A, { since, limit, maxBytes: 1e9, now: 60 });
      expect((await fetch(0, 0)).ids).to.deep.equal(order);
      expect((await fetch(0, 3)).ids).to.deep.equal(order.slice(0, 3));
      expect((await fetch(0, 3)).more).to.equal(true);
      expect((await fetch(30, 50)).ids).to.deep.equal(order.slice(3));
      for (let i = 0; i < 60; i++) await store.put(message({ storedAt: 100 + i, size: 10 }));
      for (const limit of [0, 51, 2 ** 32 - 1]) expect((await store.messagesFor(A, { since: 0, limit, maxBytes: 1e9, now: 200 })).ids).to.have.length(50);
    });

    it('serves a NodeId region: the destinations whose NodeId shares the prefix, oldest first across them', async () => {
      const keys = Array.from({ length: 16 }, (_, i) => key(i + 1));
      const ids = new Map<string, number[]>();
      for (const [i, k] of keys.entries()) ids.set(hex(k), [stored(await store.put(message({ destination: k, storedAt: 100 - i }))), stored(await store.put(message({ destination: k, storedAt: 200 + i })))]);
      const bits = (b: Uint8Array) => Array.from(b, (x) => x.toString(2).padStart(8, '0')).join('');
      const byStoredAt = (a: { storedAt: bigint; id: number }, b: { storedAt: bigint; id: number }) => Number(a.storedAt - b.storedAt) || a.id - b.id;
      for (const k of keys.slice(0, 4)) {
        for (const prefixBits of [0, 1, 2, 3, 7, 9, 104]) {
          const center = nodeIdOf(k);
          const got = await store.messagesInRegion({ center, prefixBits }, { since: 0, limit: 50, maxBytes: 1e9, now: 300 });
          const inside = keys.filter((d) => bits(nodeIdOf(d)).slice(0, prefixBits) === bits(center).slice(0, prefixBits));
          expect(got.messages.map((m) => hex(m.destination)).sort()).to.deep.equal(inside.flatMap((d) => [hex(d), hex(d)]).sort());
          expect([...got.messages].sort(byStoredAt).map((m) => m.id)).to.deep.equal(got.ids);
          for (const m of got.messages) expect(ids.get(hex(m.destination))).to.include(m.id);
          expect(got.encodedBytes).to.equal(encodeSafStoredMessages(got.messages).length);
        }
      }
      // The whole space: all 32, oldest first, since and limit as in messagesFor.
      const all = await store.messagesInRegion({ center: new Uint8Array(13), prefixBits: 0 }, { since: 200, limit: 5, maxBytes: 1e9, now: 300 });
      expect(all.messages.map((m) => m.storedAt)).to.deep.equal([200n, 201n, 202n, 203n, 204n]);
      expect(all.more).to.equal(true);
      const none = await store.messagesInRegion({ center: nodeIdOf(key(0x77)), prefixBits: 104 }, { ...ALL, now: 300 });
      expect(none).to.deep.equal({ messages: [], ids: [], encodedBytes: 0, more: false });
      expect(await store.messagesInRegion({ center: new Uint8Array(12), prefixBits: 0 }, { ...ALL, now: 1 }).catch((e: unknown) => e)).to.be.instanceOf(InternalError);
      expect(await store.messagesInRegion({ center: new Uint8Array(13), prefixBits: 105 }, { ...ALL, now: 1 }).catch((e: unknown) => e)).to.be.instanceOf(InternalError);
    });

    it('stays consistent under concurrent writes (puts evicting, removes, sweeps in flight together)', async () => {
      await openWith({ maxMessages: 60, maxBytes: 1_000_000, maxMessagesPerPeer: 25, maxBytesPerPeer: 1_000_000 });
      const senders = [S1, S2, key(0x53), key(0x54)];
      const ops: Array<Promise<unknown>> = [];
      for (let i = 0; i < 300; i++) {
        ops.push(store.put(message({ destination: i % 3 ? A : B, sender: senders[i % 4]!, storedAt: 1_000 + (i >> 2), expires: i % 7 === 0 ? 1_010 : 1_000_000 })));
        if (i % 10 === 9) ops.push(store.messagesFor(A, { ...ALL, now: 1_000 + (i >> 2) }).then((r) => store.remove(A, r.ids.slice(0, 3))));
        if (i % 50 === 49) ops.push(store.expire(1_000 + (i >> 2)));
      }
      await Promise.all(ops);
      const stats = await store.stats();
      const usage = await Promise.all(senders.map((s) => store.usageOf(s)));
      expect(stats.count).to.equal(usage.reduce((n, u) => n + u.count, 0));
      expect(stats.bytes).to.equal(usage.reduce((n, u) => n + u.bytes, 0));
      expect(stats.senders).to.equal(usage.filter((u) => u.count > 0).length);
      expect(stats.count).to.be.at.most(60);
      for (const u of usage) expect(u.count).to.be.at.most(25);
      const region = await store.messagesInRegion({ center: new Uint8Array(13), prefixBits: 0 }, { since: 0, limit: 50, maxBytes: 1e9, now: 1_075 });
      expect(region.messages.length).to.equal(Math.min(50, stats.count));
    });

    it('remembers each peer\'s since (the largest stored_at it served), bounded, the stalest forgotten first', async () => {
      expect(await store.sinceOf(S1)).to.equal(0);
      await store.noteServed(S1, 500n);
      await store.noteServed(S1, 400);
      expect(await store.sinceOf(S1)).to.equal(500); // never moves back
      await store.noteServed(S1, 2n ** 64n - 1n);
      expect(await store.sinceOf(S1)).to.equal(Number.MAX_SAFE_INTEGER);
      await openWith({ maxCursors: 2 });
      await store.noteServed(S1, 10);
      await store.noteServed(S2, 20);
      await store.noteServed(A, 30); // over the bound: S1 (10) goes
      expect([await store.sinceOf(S1), await store.sinceOf(S2), await store.sinceOf(A)]).to.deep.equal([0, 20, 30]);
      await store.noteServed(B, 5); // the stalest is the newcomer itself
      expect([await store.sinceOf(B), await store.sinceOf(S2), await store.sinceOf(A)]).to.deep.equal([0, 20, 30]);
      expect(await store.noteServed(new Uint8Array(31), 1).catch((e: unknown) => e)).to.be.instanceOf(InternalError);
      expect(await store.stats()).to.deep.equal({ count: 0, bytes: 0, senders: 0 });
    });

    it('removes exactly the ids given for that destination, nothing of another requester', async () => {
      const a1 = stored(await store.put(message({ destination: A, storedAt: 1 })));
      const a2 = stored(await store.put(message({ destination: A, storedAt: 2 })));
      const b1 = stored(await store.put(message({ destination: B, storedAt: 3 })));
      const served = await store.messagesFor(A, { ...ALL, now: 10 });
      const a3 = stored(await store.put(message({ destination: A, storedAt: 4 }))); // came in meanwhile
      expect(await store.remove(A, [...served.ids, b1, 999_999, a1])).to.deep.equal({ count: 2, bytes: 200 });
      expect((await store.messagesFor(A, { ...ALL, now: 10 })).ids).to.deep.equal([a3]);
      expect((await store.messagesFor(B, { ...ALL, now: 10 })).ids).to.deep.equal([b1]);
      expect(await store.remove(A, [a1, a2])).to.deep.equal({ count: 0, bytes: 0 });
      expect(await store.stats()).to.deep.equal({ count: 2, bytes: 200, senders: 1 });
    });

    it('over a peer bound evicts that peer\'s oldest, and reports it', async () => {
      await openWith({ maxMessages: 100, maxBytes: 100_000, maxMessagesPerPeer: 3, maxBytesPerPeer: 1_000 });
      const s1 = [];
      for (let t = 1; t <= 3; t++) s1.push(stored(await store.put(message({ sender: S1, storedAt: t }))));
      const other = stored(await store.put(message({ sender: S2, storedAt: 0 })));
      const put = await store.put(message({ sender: S1, storedAt: 4, destination: B }));
      expect(put.stored && put.evicted.map((e) => ({ id: e.id, destination: hex(e.destination), sender: hex(e.sender), bytes: e.bytes, bound: e.bound }))).to.deep.equal([
        { id: s1[0], destination: hex(A), sender: hex(S1), bytes: 100, bound: 'peer' },
      ]);
      expect(await store.usageOf(S1)).to.deep.equal({ count: 3, bytes: 300 });
      expect((await store.messagesFor(A, { ...ALL, now: 10 })).ids).to.deep.equal([other, s1[1], s1[2]]);
      // Bytes: a 900-byte message from S1 leaves room for one 100-byte message of its own.
      const big = await store.put(message({ sender: S1, storedAt: 5, size: 900 }));
      expect(big.stored && big.evicted.map((e) => e.id)).to.deep.equal([s1[1], s1[2]]);
      expect(await store.usageOf(S1)).to.deep.equal({ count: 2, bytes: 1_000 });
    });

    it('over a total bound evicts the store\'s oldest, whoever sent it', async () => {
      await openWith({ maxMessages: 4, maxBytes: 100_000, maxMessagesPerPeer: 4, maxBytesPerPeer: 100_000 });
      const ids = [];
      for (let t = 1; t <= 4; t++) ids.push(stored(await store.put(message({ sender: t % 2 === 0 ? S1 : S2, storedAt: t }))));
      const put = await store.put(message({ sender: S1, storedAt: 5 }));
      expect(put.stored && put.evicted.map((e) => [e.id, e.bound])).to.deep.equal([[ids[0], 'total']]);
      await openWith({ maxMessages: 100, maxBytes: 1_000, maxMessagesPerPeer: 100, maxBytesPerPeer: 1_000 });
      const first = stored(await store.put(message({ sender: S2, storedAt: 1, size: 600 })));
      const second = await store.put(message({ sender: S1, storedAt: 2, size: 600 }));
      expect(second.stored && second.evicted.map((e) => [e.id, e.bound])).to.deep.equal([[first, 'total']]);
    });

    it('evicts lower priority first, and refuses a message that would itself be the first to go', async () => {
      await openWith({ maxMessages: 100, maxBytes: 100_000, maxMessagesPerPeer: 2, maxBytesPerPeer: 100_000 });
      const high = stored(await store.put(message({ storedAt: 1, priority: SAF_PRIORITY_HIGH })));
      const normal = stored(await store.put(message({ storedAt: 2 })));
      const newer = await store.put(message({ storedAt: 3, priority: SAF_PRIORITY_HIGH }));
      expect(newer.stored && newer.evicted.map((e) => e.id)).to.deep.equal([normal]); // newer than it, but of lower priority
      const refused = await store.put(message({ storedAt: 4 }));
      expect(refused).to.deep.include({ stored: false, reason: 'no_room' });
      expect((await store.messagesFor(A, { ...ALL, now: 10 })).ids).to.deep.equal([high, stored(newer)]);
      // A message sent with an older clock than every stored one of its priority is refused too.
      await openWith({ maxMessages: 100, maxBytes: 100_000, maxMessagesPerPeer: 1, maxBytesPerPeer: 100_000 });
      await store.put(message({ storedAt: 10 }));
      expect(await store.put(message({ storedAt: 9 }))).to.deep.include({ stored: false, reason: 'no_room' });
      expect((await store.put(message({ storedAt: 10 }))).stored).to.equal(true); // same second: the earlier goes
      expect(await store.put(message({ size: 200_000 }))).to.deep.include({ stored: false, reason: 'no_room' }); // over the byte bound alone
    });

    it('drops what is past retention before applying the bounds, and reports it', async () => {
      await openWith({ maxMessages: 2, maxBytes: 100_000, maxMessagesPerPeer: 2, maxBytesPerPeer: 100_000 });
      await store.put(message({ storedAt: 1, expires: 50 }));
      const keep = stored(await store.put(message({ storedAt: 2 })));
      const put = await store.put(message({ storedAt: 60 }));
      expect(put).to.deep.include({ stored: true, evicted: [], expired: { count: 1, bytes: 100 } });
      expect((await store.messagesFor(A, { ...ALL, now: 60 })).ids).to.deep.equal([keep, stored(put)]);
    });

    it('expires at most max per call, earliest retention first, and says whether more is due', async () => {
      for (let i = 0; i < 5; i++) await store.put(message({ storedAt: 1, expires: 100 + i }));
      expect(await store.expire(103, 2)).to.deep.equal({ count: 2, bytes: 200, more: true });
      expect(await store.expire(103, 0)).to.deep.equal({ count: 0, bytes: 0, more: true });
      expect(await store.expire(103)).to.deep.equal({ count: 1, bytes: 100, more: false });
      expect((await store.messagesFor(A, { ...ALL, now: 103 })).messages.map((m) => m.envelope.length)).to.have.length(2);
    });

    it('shares nothing with its callers', async () => {
      const m = message({ size: 64 });
      const copy = m.envelope.slice();
      const dest = m.destination.slice();
      await store.put(m);
      m.envelope.fill(0);
      m.destination[0]! ^= 0xff;
      const got = await store.messagesFor(dest, { ...ALL, now: 1_000 });
      expect(hex(got.messages[0]!.envelope)).to.equal(hex(copy));
      got.messages[0]!.envelope.fill(1);
      expect(hex((await store.messagesFor(dest, { ...ALL, now: 1_000 })).messages[0]!.envelope)).to.equal(hex(copy));
    });

    it('refuses use after close with SafStoreClosed', async () => {
      await store.close();
      await store.close();
      for (const op of [() => store.put(message()), () => store.messagesFor(A, { ...ALL, now: 1 }), () => store.remove(A, [1]), () => store.expire(1), () => store.stats(), () => store.usageOf(S1), () => store.sinceOf(S1), () => store.noteServed(S1, 1), () => store.messagesInRegion({ center: new Uint8Array(13), prefixBits: 0 }, { ...ALL, now: 1 })]) {
        expect(await op().catch((e: unknown) => e)).to.be.instanceOf(SafStoreClosed);
      }
      store = await fixture.open();
    });

    it('keeps what it stored across a reopen, ids never reused (persistent stores)', async function () {
      if (!fixture.reopen) this.skip();
      const ids: number[] = [];
      for (let i = 0; i < 20; i++) ids.push(stored(await store.put(message({ destination: i % 2 ? A : B, sender: i % 3 ? S1 : S2, storedAt: 100 + i }))));
      await store.remove(A, [ids[19]!]);
      await store.noteServed(S2, 12_345);
      const before = { a: await store.messagesFor(A, { ...ALL, now: 200 }), b: await store.messagesFor(B, { ...ALL, now: 200 }), stats: await store.stats(), s1: await store.usageOf(S1), since: await store.sinceOf(S2) };
      store = await fixture.reopen!(store);
      const after = { a: await store.messagesFor(A, { ...ALL, now: 200 }), b: await store.messagesFor(B, { ...ALL, now: 200 }), stats: await store.stats(), s1: await store.usageOf(S1), since: await store.sinceOf(S2) };
      expect(after).to.deep.equal(before);
      expect(stored(await store.put(message()))).to.equal(21);
    });

    it('gives the answers of the naive model for random operations', async () => {
      const keys = [1, 2, 3].map(key);
      const dedups = Array.from({ length: 80 }, (_, i) => key(100 + i));
      // Small bounds, so that every run evicts; per-peer ones at most the totals.
      const limits = fc
        .record({ maxMessages: fc.integer({ min: 1, max: 12 }), maxBytes: fc.integer({ min: 300, max: 2_000 }), peerCount: fc.integer({ min: 1, max: 12 }), peerBytes: fc.integer({ min: 300, max: 2_000 }), maxCursors: fc.integer({ min: 1, max: 3 }) })
        .map((l): SafStoreLimits => ({ maxMessages: l.maxMessages, maxBytes: l.maxBytes, maxMessagesPerPeer: Math.min(l.peerCount, l.maxMessages), maxBytesPerPeer: Math.min(l.peerBytes, l.maxBytes), maxCursors: l.maxCursors }));
      // The clock mostly stays or creeps (ties in stored_at, retention edges), sometimes steps back or jumps.
      const step = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(-1, 0, 0, 0, 1, 2) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 300 }) });
      const small = (max: number) => fc.oneof(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max }));
      const op = fc.oneof(
        { weight: 6, arbitrary: fc.record({ kind: fc.constant('put' as const), dest: fc.nat(2), sender: fc.nat(2), dedup: fc.nat(79), size: fc.integer({ min: 1, max: 300 }), dt: step, ttl: fc.oneof(fc.integer({ min: -2, max: 8 }), fc.integer({ min: 0, max: 500 })), known: fc.boolean(), high: fc.boolean() }) },
        { weight: 3, arbitrary: fc.record({ kind: fc.constant('fetch' as const), dest: fc.nat(2), dt: step, back: fc.oneof(fc.integer({ min: -10, max: 3 }), fc.integer({ min: 0, max: 500 })), limit: small(60), maxBytes: fc.oneof(fc.integer({ min: 0, max: 700 }), fc.constant(1e9)), thenRemove: fc.boolean() }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), dest: fc.nat(2), ids: fc.array(fc.nat(60), { maxLength: 5 }) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('region' as const), dest: fc.nat(2), flip: fc.nat(103), prefixBits: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 104 })), back: fc.integer({ min: 0, max: 500 }), limit: small(60), maxBytes: fc.oneof(fc.integer({ min: 0, max: 700 }), fc.constant(1e9)) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('cursor' as const), peer: fc.nat(3), storedAt: fc.integer({ min: 0, max: 20 }) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), dt: step, max: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }) }) },
      );
      const plain = (r: SafPutResult) => (r.stored ? { ...r, evicted: r.evicted.map((e) => ({ ...e, destination: hex(e.destination), sender: hex(e.sender) })) } : r);
      const served = (r: SafFetchResult) => ({ ...r, messages: r.messages.map((m) => ({ id: m.id, storedAt: m.storedAt, envelope: hex(m.envelope) })) });
      await fc.assert(
        fc.asyncProperty(limits, fc.array(op, { minLength: 1, maxLength: 80, size: 'max' }), async (bounds, ops) => {
          await openWith(bounds);
          const model = new SafModel(bounds);
          let now = 1_000;
          for (const o of ops) {
            now += o.kind === 'remove' || o.kind === 'region' || o.kind === 'cursor' ? 0 : o.dt; // the clock may step back a little
            if (o.kind === 'put') {
              const m: SafMessageInit = { destination: keys[o.dest]!, sender: keys[o.sender]!, dedupKey: dedups[o.dedup]!, envelope: new Uint8Array(randomBytes(o.size)), storedAt: now, expires: BigInt(now + o.ttl), destinationKnown: o.known, priority: o.high ? 1 : 0 };
              expect(plain(await store.put(m)), 'put').to.deep.equal(plain(model.put(m)));
            } else if (o.kind === 'fetch') {
              const options = { since: Math.max(0, now - o.back), limit: o.limit, maxBytes: o.maxBytes, now };
              const got = await store.messagesFor(keys[o.dest]!, options);
              expect(served(got), 'messagesFor').to.deep.equal(served(model.messagesFor(keys[o.dest]!, options)));
              if (o.thenRemove) expect(await store.remove(keys[o.dest]!, got.ids), 'remove served').to.deep.equal(model.remove(keys[o.dest]!, got.ids));
            } else if (o.kind === 'region') {
              // Around one destination's NodeId with one bit flipped: in or out, by the prefix.
              const center = nodeIdOf(keys[o.dest]!).slice();
              center[o.flip >> 3]! ^= 0x80 >> (o.flip & 7);
              const region = { center, prefixBits: o.prefixBits };
              const options = { since: Math.max(0, now - o.back), limit: o.limit, maxBytes: o.maxBytes, now };
              const plainRegion = (r: SafRegionResult) => ({ ...served(r), destinations: r.messages.map((m) => hex(m.destination)) });
              expect(plainRegion(await store.messagesInRegion(region, options)), 'messagesInRegion').to.deep.equal(plainRegion(model.messagesInRegion(region, options)));
            } else if (o.kind === 'cursor') {
              const peer = key(200 + o.peer);
              await store.noteServed(peer, o.storedAt);
              model.noteServed(peer, o.storedAt);
              for (let p = 0; p < 4; p++) expect(await store.sinceOf(key(200 + p)), 'sinceOf').to.equal(model.sinceOf(key(200 + p)));
            } else if (o.kind === 'remove') {
              expect(await store.remove(keys[o.dest]!, o.ids), 'remove').to.deep.equal(model.remove(keys[o.dest]!, o.ids));
            } else {
              expect(await store.expire(now, o.max), 'expire').to.deep.equal(model.expire(now, o.max));
            }
            expect(await store.stats(), 'stats').to.deep.equal(model.stats());
          }
          for (const k of keys) expect(await store.usageOf(k)).to.deep.equal(model.usageOf(k));
        }),
        { numRuns: name === 'lmdb' ? 40 : 300 },
      );
    });
  });
}
