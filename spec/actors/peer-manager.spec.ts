import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedClock } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { MAX_ADD_MANY, PeerManagerRequestFailed, type PeerManagerClient, type PeerManagerFact } from '../../actors/peer-manager/index.js';
import { LmdbPeerStore } from '../../storage/lmdb-store.js';
import { MemoryPeerStore } from '../../storage/memory-store.js';
import type { PeerStore } from '../../storage/peer-store.js';
import { ask } from '../../actors/request.js';
import { CountingClock } from '../support/clock.js';
import { randomSighting, startPeerManager } from '../support/peers.js';
import { collector } from '../support/gc.js';

function recordFacts(client: PeerManagerClient): PeerManagerFact[] {
  const facts: PeerManagerFact[] = [];
  for (const type of ['peer.added', 'peer.updated', 'peer.banned', 'peer.unbanned', 'peer.offline', 'peer.online', 'peer.deleted'] as const) {
    client.actor.on(type, (f) => facts.push(f as PeerManagerFact));
  }
  return facts;
}

for (const kind of ['memory', 'lmdb'] as const) {
  describe(`peer manager actor (${kind} store)`, function () {
    this.timeout(20_000);
    let dir: string | undefined;
    let store: PeerStore;
    let clock: SimulatedClock;
    let pm: PeerManagerClient;
    let facts: PeerManagerFact[];

    beforeEach(async () => {
      if (kind === 'lmdb') {
        dir = mkdtempSync(join(tmpdir(), 'tcomms-pm-'));
        store = await LmdbPeerStore.open({ path: join(dir, 'peers') });
      } else store = new MemoryPeerStore();
      clock = new SimulatedClock();
      clock.set(1_000_000);
      pm = startPeerManager({ store, now: () => clock.now(), allowList: [] }, { clock });
      facts = recordFacts(pm);
    });
    afterEach(async () => {
      await pm.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('publishes peer.deleted for a deletion, and for each record the store evicts past maxUnverified (relayed claims only), before the fact of the record that pushed it out', async () => {
      await pm.stop();
      store = kind === 'lmdb' ? await LmdbPeerStore.open({ path: join(dir!, 'bounded'), maxUnverified: 2 }) : new MemoryPeerStore({ maxUnverified: 2 });
      pm = startPeerManager({ store, now: () => clock.now(), allowList: [] }, { clock });
      facts = recordFacts(pm);
      const relayed = () => {
        const s = randomSighting({ relayed: true });
        return { ...s, addresses: (s.addresses ?? []).map((a) => ({ ...a, source: 'peer-sync' as const })) };
      };
      const [a, b, c] = [relayed(), relayed(), relayed()];
      await pm.add(a);
      clock.increment(1);
      await pm.addMany([b]);
      clock.increment(1);
      await pm.add(c);
      expect(facts.map((f) => [f.type, f.type === 'peer.deleted' ? f.reason : '', toHex(f.peer.publicKey)])).to.deep.equal([
        ['peer.added', '', toHex(a.publicKey)],
        ['peer.added', '', toHex(b.publicKey)],
        ['peer.deleted', 'evicted', toHex(a.publicKey)],
        ['peer.added', '', toHex(c.publicKey)],
      ]);
      expect(await pm.find({ publicKey: a.publicKey })).to.equal(undefined);
      expect(await store.countUnverified()).to.equal(2);
      await pm.delete(b.publicKey);
      expect(facts.at(-1)).to.include({ type: 'peer.deleted', reason: 'deleted' });
    });

    it('adds, merges and finds peers, publishing peer.added and peer.updated', async () => {
      const s = randomSighting();
      const added = await pm.add(s);
      expect(added.addedAt).to.equal(1_000_000);
      clock.increment(10);
      const again = await pm.add({ ...s, addresses: [{ address: '/dns4/x.example/tcp/1', source: 'peer-sync' }] });
      expect(again.addresses).to.have.length(2);
      expect(again.updatedAt).to.equal(1_000_010);
      expect(facts.map((f) => f.type)).to.deep.equal(['peer.added', 'peer.updated']);
      expect(toHex((await pm.find({ nodeId: s.nodeId }))!.publicKey)).to.equal(toHex(s.publicKey));
      expect(await pm.find({ publicKey: randomSighting().publicKey })).to.equal(undefined);
      const others = await Promise.all(Array.from({ length: 20 }, () => pm.add(randomSighting())));
      expect(await pm.closest(others[0]!.nodeId, 3)).to.have.length(3);
      expect(toHex((await pm.closest(others[0]!.nodeId, 1))[0]!.publicKey)).to.equal(toHex(others[0]!.publicKey));
      expect(await pm.random(5)).to.have.length(5);
    });

    it('adds several sightings in one command: the peers in order, one fact each, merged like single adds', async () => {
      const known = randomSighting();
      await pm.add(known);
      clock.increment(5);
      const fresh = [randomSighting(), randomSighting()];
      const merged = { ...known, addresses: [{ address: '/dns4/y.example/tcp/2', source: 'peer-sync' as const }] };
      const peers = await pm.addMany([fresh[0]!, merged, fresh[1]!]);
      expect(peers.map((p) => toHex(p.publicKey))).to.deep.equal([fresh[0]!, known, fresh[1]!].map((s) => toHex(s.publicKey)));
      expect(peers[1]!.addresses).to.have.length(2);
      expect(peers[1]!.addedAt).to.equal(1_000_000);
      expect(peers[1]!.updatedAt).to.equal(1_000_005);
      expect(peers[0]!.addedAt).to.equal(peers[0]!.updatedAt);
      expect(facts.map((f) => f.type)).to.deep.equal(['peer.added', 'peer.added', 'peer.updated', 'peer.added']);
      expect(await pm.addMany([])).to.deep.equal([]);
      expect(toHex((await pm.find({ publicKey: fresh[1]!.publicKey }))!.publicKey)).to.equal(toHex(fresh[1]!.publicKey));
    });

    it('refuses more sightings in one command than MAX_ADD_MANY, storing none of them', async () => {
      const many = Array.from({ length: MAX_ADD_MANY + 1 }, () => randomSighting());
      const err = await pm.addMany(many).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(PeerManagerRequestFailed);
      expect((err as PeerManagerRequestFailed).error.name).to.equal('PeerManagerTooMany');
      expect(await pm.find({ publicKey: many[0]!.publicKey })).to.equal(undefined);
    });

    it('bans for a duration and lifts the ban when the (simulated) time comes', async () => {
      const s = randomSighting();
      await pm.add(s);
      const banned = await pm.ban(s.publicKey, 60_000, 'protocol violation');
      expect(banned.bannedUntil).to.equal(1_060_000);
      expect(facts.at(-1)).to.deep.include({ type: 'peer.banned', until: 1_060_000, reason: 'protocol violation' });
      expect(await pm.closest(s.nodeId, 5)).to.have.length(0);
      expect(await pm.closest(s.nodeId, 5, { includeBanned: true })).to.have.length(1);
      clock.increment(59_999);
      await pm.find({ publicKey: s.publicKey }); // let any expiry run
      expect(facts.some((f) => f.type === 'peer.unbanned')).to.equal(false);
      clock.increment(1);
      const until = Date.now() + 5000;
      while (!facts.some((f) => f.type === 'peer.unbanned') && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      expect(facts.at(-1)!.type).to.equal('peer.unbanned');
      expect((await pm.find({ publicKey: s.publicKey }))!.bannedUntil).to.equal(undefined);
      expect(await pm.closest(s.nodeId, 5)).to.have.length(1);
    });

    it('keeps the longest ban; an unknown peer can be banned; unban lifts at once', async () => {
      const s = randomSighting();
      await pm.ban(s.publicKey, 10_000, 'first');
      expect((await pm.ban(s.publicKey, 1_000, 'shorter')).banReason).to.equal('first');
      expect(facts.filter((f) => f.type === 'peer.banned')).to.have.length(1);
      await pm.unban(s.publicKey);
      expect((await pm.find({ publicKey: s.publicKey }))!.bannedUntil).to.equal(undefined);
      clock.increment(20_000); // the old expiry fires and finds nothing to do
      await pm.find({ publicKey: s.publicKey });
      expect(facts.filter((f) => f.type === 'peer.unbanned')).to.have.length(1);
    });

    it('detects a peer going offline and coming back, with times from the clock', async () => {
      const s = randomSighting({
        addresses: [
          { address: '/ip4/10.0.0.1/tcp/1', source: 'config' },
          { address: '/ip4/10.0.0.2/tcp/1', source: 'config' },
        ],
      });
      await pm.add(s);
      await pm.dialAttempted(s.publicKey, '/ip4/10.0.0.1/tcp/1');
      clock.increment(500);
      await pm.dialFailed(s.publicKey, '/ip4/10.0.0.1/tcp/1', 'ConnectionRefused');
      expect(facts.some((f) => f.type === 'peer.offline')).to.equal(false);
      clock.increment(500);
      const failed = await pm.dialFailed(s.publicKey, '/ip4/10.0.0.2/tcp/1', 'DialTimeout');
      expect(failed!.addresses.map((a) => a.lastFailure)).to.deep.equal([1_000_500, 1_001_000]);
      expect(facts.at(-1)!.type).to.equal('peer.offline');
      expect(await pm.closest(s.nodeId, 1)).to.have.length(0);
      clock.increment(60_000);
      const back = await pm.dialSucceeded(s.publicKey, '/ip4/10.0.0.2/tcp/1', 120, 30);
      expect(back!.addresses[1]).to.deep.include({ lastSuccess: 1_061_000, avgDialMs: 120, avgLatencyMs: 30, consecutiveFailures: 0 });
      expect(facts.at(-1)!.type).to.equal('peer.online');
    });

    it("an outcome with attemptMs counts its attempt in the same write (the dial's one write per attempt); without it, it does not", async () => {
      const address = '/ip4/10.0.0.3/tcp/1';
      const s = randomSighting({ addresses: [{ address, source: 'config' }] });
      await pm.add(s);
      const outcome = (command: { type: 'peer.dial-succeeded'; dialMs: number } | { type: 'peer.dial-failed'; reason: string }, attemptMs?: number) =>
        ask(pm.actor).reply('peer-manager.reply', (requestId) => ({ ...command, requestId, publicKey: s.publicKey, address, ...(attemptMs === undefined ? {} : { attemptMs }) }), 5_000);
      clock.increment(1_000);
      await outcome({ type: 'peer.dial-failed', reason: 'ConnectionRefused' }, 200);
      let a = (await pm.find({ publicKey: s.publicKey }))!.addresses[0]!;
      expect(a).to.deep.include({ attempts: 1, lastAttempt: 1_000_800, lastFailure: 1_001_000, consecutiveFailures: 1 });
      clock.increment(1_000);
      await outcome({ type: 'peer.dial-succeeded', dialMs: 300 }, 300);
      a = (await pm.find({ publicKey: s.publicKey }))!.addresses[0]!;
      expect(a).to.deep.include({ attempts: 2, lastAttempt: 1_001_700, lastSuccess: 1_002_000, consecutiveFailures: 0 });
      await outcome({ type: 'peer.dial-succeeded', dialMs: 300 });
      expect((await pm.find({ publicKey: s.publicKey }))!.addresses[0]!.attempts, 'not counted without attemptMs').to.equal(2);
    });

    it('soft-deletes: hidden from queries, kept for its ban', async () => {
      const s = randomSighting();
      await pm.add(s);
      await pm.ban(s.publicKey, 1_000_000, 'abuse');
      await pm.delete(s.publicKey);
      expect(await pm.closest(s.nodeId, 5, { includeBanned: true })).to.have.length(0);
      expect((await pm.find({ publicKey: s.publicKey }))!.bannedUntil).to.equal(2_000_000);
    });
  });
}

describe('peer manager actor: limits and failures', function () {
  this.timeout(20_000);

  it('keeps one expiry timer per ban in force: a longer ban replaces it, an unban cancels it, and a stop leaves none', async () => {
    const counting = new CountingClock();
    counting.set(1_000_000);
    const timed = startPeerManager({ store: new MemoryPeerStore(), now: () => counting.now() }, { clock: counting });
    const [s, t] = [randomSighting(), randomSighting()];
    await timed.ban(s.publicKey, 1_000, 'short');
    await timed.ban(s.publicKey, 60_000, 'longer');
    expect(counting.pending).to.equal(1);
    await timed.ban(t.publicKey, 1_000, 'other');
    await timed.unban(t.publicKey);
    expect(counting.pending).to.equal(1);
    counting.increment(1_000); // the replaced expiry does not fire: the longer ban stands
    await timed.find({ publicKey: s.publicKey });
    expect((await timed.find({ publicKey: s.publicKey }))!.banReason).to.equal('longer');
    await timed.ban(t.publicKey, 120_000, 'pending at stop');
    await timed.stop();
    // (A timer left on the node's real clock would keep the process alive for the rest of the ban.)
    expect(counting.pending).to.equal(0);
  });

  it('never bans an allow-listed peer', async () => {
    const s = randomSighting();
    const pm = startPeerManager({ store: new MemoryPeerStore(), allowList: [toHex(s.publicKey)] });
    await pm.add(s);
    const err = await pm.ban(s.publicKey, 1000, 'x').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PeerManagerRequestFailed);
    expect((err as PeerManagerRequestFailed).error.name).to.equal('PeerAllowListed');
    expect((await pm.find({ publicKey: s.publicKey }))!.bannedUntil).to.equal(undefined);
    await pm.stop();
  });

  it('holds nothing of the results it answered (its ordering chains settle with nothing)', async () => {
    const store = new MemoryPeerStore();
    const pm = startPeerManager({ store });
    const s = randomSighting();
    await pm.add(s);
    // A read's result travels only in its answer: weakly held, it is collected once answered.
    const refs: Array<WeakRef<object>> = [];
    for (let i = 0; i < 20; i++) refs.push(new WeakRef((await pm.closest(s.nodeId, 1)) as object));
    for (let i = 0; i < 20; i++) refs.push(new WeakRef((await pm.add(randomSighting())) as object));
    const gc = collector();
    if (!gc) return;
    await new Promise((r) => setImmediate(r));
    gc();
    await new Promise((r) => setImmediate(r));
    gc();
    expect(refs.filter((r) => r.deref() !== undefined).length, 'answers still held').to.be.at.most(2);
    await pm.stop();
  });

  it('bounds its queue: commands beyond it fail at once with PeerManagerBusy', async () => {
    const pm = startPeerManager({ store: new MemoryPeerStore(), maxQueue: 3, maxInFlight: 2 });
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => pm.add(randomSighting())));
    const busy = results.filter((r) => r.status === 'rejected' && (r.reason as PeerManagerRequestFailed).error.name === 'PeerManagerBusy');
    const done = results.filter((r) => r.status === 'fulfilled');
    expect(done.length).to.equal(5); // two being served and three queued
    expect(busy.length).to.equal(15);
    await pm.stop();
  });

  it('starts writes without waiting for the one before (one LMDB commit for a burst); a read waits for the writes before it and is not overtaken by later ones; answers keep arrival order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcomms-pm-'));
    const store = await LmdbPeerStore.open({ path: join(dir, 'peers') });
    const original = store.update.bind(store);
    let running = 0;
    let most = 0;
    store.update = (async (...args: Parameters<typeof store.update>) => {
      running++;
      most = Math.max(most, running);
      try {
        return await original(...args);
      } finally {
        running--;
      }
    }) as typeof store.update;
    const pm = startPeerManager({ store });
    try {
      const sightings = Array.from({ length: 30 }, () => randomSighting());
      const order: number[] = [];
      const adds = sightings.map((s, i) => pm.add(s).then(() => order.push(i)));
      // Sent after the writes: it sees every one of them.
      const found = sightings.map((s) => pm.find({ publicKey: s.publicKey }));
      await Promise.all(adds);
      expect((await Promise.all(found)).every((p) => p !== undefined), 'each read sees the writes sent before it').to.equal(true);
      expect(order, 'answered in arrival order').to.deep.equal(sightings.map((_, i) => i));
      expect(most, 'the writes were in flight together').to.be.greaterThan(1);
      // A read is not overtaken by a write sent after it (even while an earlier write holds it back).
      const later = randomSighting();
      const writing = pm.add(randomSighting());
      const before = pm.find({ publicKey: later.publicKey });
      const adding = pm.add(later);
      expect(await before, 'the read sees the store as it was when it was sent').to.equal(undefined);
      await Promise.all([writing, adding]);
      expect(await pm.find({ publicKey: later.publicKey })).to.not.equal(undefined);
    } finally {
      await pm.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops after serving its queue, closes the store, and refuses later commands', async () => {
    const store = new MemoryPeerStore();
    const pm = startPeerManager({ store });
    const pending = Array.from({ length: 5 }, () => pm.add(randomSighting()));
    const stopped = pm.stop();
    // While stopping, a new command is refused at once (not left to time out).
    const started = Date.now();
    const during = await pm.add(randomSighting()).catch((e: unknown) => e);
    expect((during as PeerManagerRequestFailed).error.name).to.equal('PeerManagerStopped');
    expect(Date.now() - started).to.be.lessThan(1000);
    expect((await Promise.allSettled(pending)).every((r) => r.status === 'fulfilled')).to.equal(true);
    await stopped;
    expect(await store.count().catch((e: unknown) => (e as Error).name)).to.equal('PeerStoreClosed');
    expect(await pm.add(randomSighting()).catch((e: unknown) => (e as Error).name)).to.equal('PeerManagerStopped');
  });

  it('turns a store failure into a typed reply, and keeps serving', async () => {
    const store = new MemoryPeerStore();
    const pm = startPeerManager({ store });
    const original = store.update.bind(store);
    let fail = true;
    store.update = (async (...args: Parameters<typeof store.update>) => {
      if (fail) {
        fail = false;
        throw new Error('disk on fire');
      }
      return original(...args);
    }) as typeof store.update;
    const err = await pm.add(randomSighting()).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PeerManagerRequestFailed);
    expect((err as PeerManagerRequestFailed).kind).to.equal('internal');
    expect((await pm.add(randomSighting())).addresses).to.have.length(1);
    await pm.stop();
  });

  it('a peer.add-many whose store write fails for one sighting fails, and still publishes the fact of each one it stored', async () => {
    const store = new MemoryPeerStore();
    const pm = startPeerManager({ store });
    const facts = recordFacts(pm);
    const [a, bad, c] = [randomSighting(), randomSighting(), randomSighting()];
    const original = store.update.bind(store);
    store.update = (async (...args: Parameters<typeof store.update>) => {
      if (toHex(args[0]) === toHex(bad.publicKey)) throw new Error('disk on fire');
      return original(...args);
    }) as typeof store.update;
    const err = await pm.addMany([a, bad, c]).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PeerManagerRequestFailed);
    // The two that were written are in the store, and their followers (the DHT pools) heard of them.
    expect(await store.get(a.publicKey)).to.not.equal(undefined);
    expect(await store.get(c.publicKey)).to.not.equal(undefined);
    expect(facts.map((f) => [f.type, toHex(f.peer.publicKey)])).to.deep.equal([
      ['peer.added', toHex(a.publicKey)],
      ['peer.added', toHex(c.publicKey)],
    ]);
    await pm.stop();
  });
});

describe('peer manager: a ban longer than a timer can wait', () => {
  it('is looked at again until it ends (Node timers wait at most about 24.8 days)', async () => {
    const { SimulatedClock } = await import('xstate');
    /** A simulated clock that remembers every delay asked of it (Node's own timers overflow past 2^31 - 1 ms and fire at once). */
    class RecordingClock extends SimulatedClock {
      readonly delays: number[] = [];
      override setTimeout(fn: (...args: unknown[]) => void, timeout: number): number {
        this.delays.push(timeout);
        return super.setTimeout(fn, timeout) as number;
      }
    }
    const clock = new RecordingClock();
    clock.set(1_000);
    const pm = startPeerManager({ store: new MemoryPeerStore(), now: () => clock.now() }, { clock });
    const s = randomSighting();
    await pm.add(s);
    const days = 40 * 24 * 60 * 60_000;
    await pm.ban(s.publicKey, days, 'a long ban');
    expect(Math.max(...clock.delays)).to.be.at.most(2 ** 31 - 1);
    clock.increment(2 ** 31 - 1); // the first timer fires early: still banned
    await pm.find({ publicKey: s.publicKey });
    expect((await pm.find({ publicKey: s.publicKey }))!.bannedUntil).to.equal(1_000 + days);
    clock.increment(days - (2 ** 31 - 1)); // the second one, at the ban's end
    await pm.find({ publicKey: s.publicKey });
    expect((await pm.find({ publicKey: s.publicKey }))!.bannedUntil).to.equal(undefined);
    expect(Math.max(...clock.delays)).to.be.at.most(2 ** 31 - 1);
    await pm.stop();
  });
});
