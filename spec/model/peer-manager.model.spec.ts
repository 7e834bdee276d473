/**
 * Model-based test (@xstate/graph) of the peer manager (`actors/peer-manager`). The real
 * machine keeps the peers in its store, not in its context, so its own graph is only running,
 * stopping and stopped: the paths come from a model of what it promises (below: per peer, known
 * or not, deleted, its ban and what is left of it, its dial record; the machine's own states
 * around them), in two bounded domains: bans (A and B, bans short and long, lifted or expired
 * by the clock, C allow-listed and never banned, stop while bans are pending) and records (A's
 * dial record going offline and online, delete, queries). One path per transition of each model
 * drives a real peer manager with its real store worker, against a memory store and an LMDB
 * store in a temp dir, on a SimulatedClock; the store's close is held until the step that lets
 * it finish, so that `stopping` can be observed. After every step: the machine's state, every
 * reply, every fact, the store's contents (read from the store; for LMDB after a stop, from the
 * reopened store), the `BanList` index and the timers pending on the clock (one expiry per ban
 * in force, none after the stop) must be what the model says. At the end the real runs
 * must have taken every transition of the real machine.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assign, setup, type SnapshotFrom } from 'xstate';
import { NodeIdentity, x25519PublicOf, type PublicKey } from '../../core/keys.js';
import { peerManagerLogic, type PeerManagerCommand, type PeerManagerEmitted, type PeerManagerReply } from '../../actors/peer-manager/index.js';
import { LmdbPeerStore } from '../../storage/lmdb-store.js';
import { MemoryPeerStore } from '../../storage/memory-store.js';
import type { Peer } from '../../storage/peer.js';
import type { PeerStore } from '../../storage/peer-store.js';
import { testSystem } from '../support/actors.js';
import { CountingClock } from '../support/clock.js';
import { TransitionCoverage, transitionsOf } from '../support/coverage.js';
import { runPath, transitionCover, type ModelPath } from '../support/model.js';
import { eventLog, probe } from '../support/probe.js';

// ---------------------------------------------------------------------------------------------
// The model

type Name = 'A' | 'B' | 'C';
const NAMES: readonly Name[] = ['A', 'B', 'C'];
type BanKind = 'short' | 'long';
const BAN_MS: Record<BanKind, number> = { short: 1_000, long: 2_000 };
const REASON: Record<BanKind, string> = { short: 'short ban', long: 'long ban' };
const ADDRESS: Record<Name, string> = { A: '/ip4/10.0.0.1/tcp/18141', B: '/ip4/10.0.0.2/tcp/18141', C: '/ip4/10.0.0.3/tcp/18141' };
/** C is allow-listed. */
const ALLOWED: Name = 'C';

/** What the model knows of a stored peer (the store's record, abstracted; times relative to now). */
interface PeerModel {
  addresses: string[];
  deleted: boolean;
  ban: { left: number; reason: string } | null;
  attempts: number;
  failures: number;
  succeeded: boolean;
}
type Peers = Record<Name, PeerModel | null>;

type ModelEvent =
  | { type: 'peer.add'; peer: Name }
  /** Several sightings in one command (a peer sync's claims). */
  | { type: 'peer.add-many'; peers: Name[] }
  | { type: 'peer.ban'; peer: Name; kind: BanKind }
  | { type: 'peer.unban'; peer: Name }
  | { type: 'peer.delete'; peer: Name }
  | { type: 'peer.dial-attempted'; peer: Name }
  | { type: 'peer.dial-failed'; peer: Name }
  | { type: 'peer.dial-succeeded'; peer: Name }
  | { type: 'peer.find'; peer: Name }
  | { type: 'peer.closest' }
  | { type: 'peer.random' }
  /** The clock reaches the end of the earliest ban in force. */
  | { type: 'ban.expired' }
  | { type: 'peer-manager.stop' }
  /** The store's close (held by the test) completes. */
  | { type: 'store.closed' };

const COMMANDS = ['peer.add', 'peer.add-many', 'peer.ban', 'peer.unban', 'peer.delete', 'peer.dial-attempted', 'peer.dial-failed', 'peer.dial-succeeded', 'peer.find', 'peer.closest', 'peer.random', 'ban.expired'] as const;

const fresh = (addresses: string[]): PeerModel => ({ addresses, deleted: false, ban: null, attempts: 0, failures: 0, succeeded: false });
const offline = (p: PeerModel) => p.addresses.length > 0 && p.failures > 0;
const eligible = (p: PeerModel | null) => p !== null && !p.deleted && p.ban === null && !offline(p);
/** The time to the end of the earliest ban in force. */
const nextExpiry = (peers: Peers) => Math.min(...NAMES.flatMap((n) => (peers[n]?.ban ? [peers[n].ban.left] : [])));

/** The model's rules: what each command does to the stored peers. */
function apply(peers: Peers, e: ModelEvent): Peers {
  const next = { ...peers };
  const set = (n: Name, f: (p: PeerModel) => PeerModel) => {
    if (next[n]) next[n] = f(next[n]);
  };
  switch (e.type) {
    case 'peer.add':
    case 'peer.add-many':
      // A sighting adds the peer, or merges its address into the record and restores it if deleted.
      for (const n of e.type === 'peer.add' ? [e.peer] : e.peers) next[n] = next[n] ? { ...next[n]!, deleted: false, addresses: [...new Set([...next[n]!.addresses, ADDRESS[n]])] } : fresh([ADDRESS[n]]);
      break;
    case 'peer.ban': {
      if (e.peer === ALLOWED) break;
      const p = next[e.peer] ?? fresh([]); // an unknown peer is banned too (recorded without addresses)
      // The longest ban wins.
      next[e.peer] = p.ban && p.ban.left >= BAN_MS[e.kind] ? p : { ...p, ban: { left: BAN_MS[e.kind], reason: REASON[e.kind] } };
      break;
    }
    case 'peer.unban':
      set(e.peer, (p) => ({ ...p, ban: null }));
      break;
    case 'peer.delete':
      set(e.peer, (p) => ({ ...p, deleted: true }));
      break;
    case 'peer.dial-attempted':
      set(e.peer, (p) => ({ ...p, attempts: p.attempts + 1 }));
      break;
    case 'peer.dial-failed':
      set(e.peer, (p) => ({ ...p, failures: p.failures + 1 }));
      break;
    case 'peer.dial-succeeded':
      set(e.peer, (p) => ({ ...p, failures: 0, succeeded: true }));
      break;
    case 'ban.expired': {
      const d = nextExpiry(peers);
      for (const n of NAMES) set(n, (p) => (p.ban ? { ...p, ban: p.ban.left === d ? null : { ...p.ban, left: p.ban.left - d } } : p));
      break;
    }
    default:
      break;
  }
  return next;
}

/** The model: the real machine's states, with the store's contents as the model sees them. */
const peerManagerModel = setup({
  types: { context: {} as { peers: Peers }, events: {} as ModelEvent, input: {} as { peers: Peers } },
  actions: { apply: assign(({ context, event }) => ({ peers: apply(context.peers, event) })) },
}).createMachine({
  id: 'peerManagerModel',
  context: ({ input }) => input,
  initial: 'running',
  states: {
    running: {
      on: { ...Object.fromEntries(COMMANDS.map((c) => [c, { actions: 'apply' }])), 'peer-manager.stop': { target: 'stopping' } },
    },
    stopping: {
      on: {
        'peer.add': {}, // refused: the store is closing
        'store.closed': { target: 'stopped' },
      },
    },
    stopped: { type: 'final' },
  },
});
type Snap = SnapshotFrom<typeof peerManagerModel>;

/** A domain of the model: which commands are offered where. */
interface Domain {
  name: string;
  events: (s: Snap) => ModelEvent[];
}

/** Bans: A (banned short or long, known or not), B (added, then banned short), C allow-listed; expiry; stop with bans pending. */
const BANS: Domain = {
  name: 'bans',
  events: (s) => {
    const { A, B } = s.context.peers;
    if (s.matches('stopping')) return [{ type: 'peer.add', peer: 'A' }, { type: 'store.closed' }];
    if (!s.matches('running')) return [];
    const events: ModelEvent[] = [{ type: 'peer.add', peer: 'A' }, { type: 'peer.ban', peer: 'A', kind: 'short' }, { type: 'peer.ban', peer: 'A', kind: 'long' }];
    if (A) events.push({ type: 'peer.unban', peer: 'A' });
    if (!B) events.push({ type: 'peer.add', peer: 'B' }, { type: 'peer.add-many', peers: ['A', 'B'] }, { type: 'peer.ban', peer: 'C', kind: 'long' }, { type: 'peer-manager.stop' });
    else events.push(B.ban ? { type: 'peer.unban', peer: 'B' } : { type: 'peer.ban', peer: 'B', kind: 'short' });
    if (A?.ban || B?.ban) events.push({ type: 'ban.expired' });
    return events;
  },
};

/** Records: A's dial record (attempted, failed: offline, succeeded: online, failed again), delete and restore, queries; stop with a record to keep. */
const RECORDS: Domain = {
  name: 'records',
  events: (s) => {
    const { A } = s.context.peers;
    if (s.matches('stopping')) return [{ type: 'peer.add', peer: 'A' }, { type: 'store.closed' }];
    if (!s.matches('running')) return [];
    const events: ModelEvent[] = [{ type: 'peer.add', peer: 'A' }, { type: 'peer.find', peer: 'A' }, { type: 'peer.closest' }, { type: 'peer.random' }];
    if (!A) events.push({ type: 'peer.dial-attempted', peer: 'A' }, { type: 'peer.dial-failed', peer: 'A' }, { type: 'peer.dial-succeeded', peer: 'A' }, { type: 'peer.delete', peer: 'A' });
    else {
      if (!A.deleted) events.push({ type: 'peer.delete', peer: 'A' });
      if (A.attempts === 0) events.push({ type: 'peer.dial-attempted', peer: 'A' });
      if (A.attempts > 0 && A.failures === 0) events.push({ type: 'peer.dial-failed', peer: 'A' });
      if (A.attempts > 0 && (A.failures > 0 || !A.succeeded)) events.push({ type: 'peer.dial-succeeded', peer: 'A' });
      if (A.succeeded && A.failures === 0 && !A.deleted) events.push({ type: 'peer-manager.stop' });
    }
    return events;
  },
};

/** The state, canonically (peers in a fixed order, each record's fields in a fixed order). */
function canonical(value: string, peers: Peers) {
  return {
    value,
    peers: NAMES.map((n) => {
      const p = peers[n];
      return [n, p && { addresses: [...p.addresses].sort(), deleted: p.deleted, ban: p.ban && { left: p.ban.left, reason: p.ban.reason }, attempts: p.attempts, failures: p.failures, succeeded: p.succeeded }];
    }),
  };
}
const modelCanonical = (s: Snap) => canonical(s.value as string, s.context.peers);

const describeState = (s: Snap) => {
  const peers = NAMES.flatMap((n) => {
    const p = s.context.peers[n];
    if (!p) return [];
    const notes = [
      p.addresses.length === 0 ? 'no address' : '',
      p.deleted ? 'deleted' : '',
      p.ban ? `${p.ban.reason} ${p.ban.left} ms left` : '',
      p.attempts ? `${p.attempts} attempt` : '',
      offline(p) ? 'offline' : p.succeeded ? 'online' : '',
    ].filter(Boolean);
    return [`${n}${notes.length ? `(${notes.join(', ')})` : ''}`];
  });
  return `${s.value as string}[${peers.join(' ')}]`;
};

const pathsOf = (domain: Domain) =>
  transitionCover<Snap, ModelEvent>(peerManagerModel, {
    input: { peers: { A: null, B: null, C: null } },
    events: domain.events,
    serializeState: (s) => JSON.stringify(modelCanonical(s)),
    describe: describeState,
  });

// ---------------------------------------------------------------------------------------------
// The real system

const START = 1_000_000;
const KEYS: Record<Name, NodeIdentity> = { A: NodeIdentity.fromSeed(new Uint8Array(32).fill(11)), B: NodeIdentity.fromSeed(new Uint8Array(32).fill(12)), C: NodeIdentity.fromSeed(new Uint8Array(32).fill(13)) };
const pk = (n: Name): PublicKey => KEYS[n].publicKey;
const nameOf = (p: Pick<Peer, 'publicKey'>): Name => NAMES.find((n) => Buffer.from(pk(n)).equals(Buffer.from(p.publicKey)))!;

/** A store whose `close` waits for the test's word (everything else goes straight through). */
function heldClose(store: PeerStore): { store: PeerStore; release(): void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const held = new Proxy(store, {
    get(target, property) {
      if (property === 'close') return () => gate.then(() => target.close());
      const v = Reflect.get(target, property, target) as unknown;
      return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { store: held, release };
}

/** What the model sees of a stored record (times relative to `now`). */
function abstractOf(p: Peer | undefined, now: number): PeerModel | null {
  if (!p) return null;
  return {
    addresses: p.addresses.map((a) => a.address),
    deleted: p.deletedAt !== undefined,
    ban: p.bannedUntil === undefined ? null : { left: p.bannedUntil - now, reason: p.banReason! },
    attempts: p.addresses.reduce((n, a) => n + a.attempts, 0),
    failures: p.addresses.reduce((n, a) => n + a.consecutiveFailures, 0),
    succeeded: p.addresses.some((a) => a.lastSuccess !== undefined),
  };
}

const coverage = new TransitionCoverage(peerManagerLogic);

type Kind = 'memory' | 'lmdb';
/**
 * Where the LMDB stores go: a temp dir on tmpfs where there is one (the same LMDB code and file
 * I/O, without a disk's fsync per write: several hundred stores are opened), else the OS's.
 */
const TMP = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

async function system(kind: Kind, dir: string | undefined) {
  const clock = new CountingClock();
  clock.set(START);
  const path = dir && join(dir, 'peers');
  const inner: PeerStore = kind === 'lmdb' ? await LmdbPeerStore.open({ path: path! }) : new MemoryPeerStore();
  const { store, release } = heldClose(inner);
  const replies = probe<PeerManagerReply>();
  const s = testSystem(
    { replies: { logic: replies.logic }, peerManager: { logic: peerManagerLogic, input: { store, allowList: [Buffer.from(pk(ALLOWED)).toString('hex')], now: () => clock.now() } } },
    { clock, inspect: coverage.inspect },
  );
  const actor = s.get('peerManager');
  const emitted = eventLog<PeerManagerEmitted>();
  actor.on('*', (e) => emitted.push(e as PeerManagerEmitted));
  /** The store's contents as the model sees them (read from the store, or after a stop from the reopened LMDB store). */
  const contents = async (): Promise<Peers | undefined> => {
    let reader: PeerStore = inner;
    if (actor.getSnapshot().status === 'done') {
      if (kind === 'memory') return undefined;
      reader = await LmdbPeerStore.open({ path: path! });
    }
    try {
      const out = {} as Peers;
      for (const n of NAMES) out[n] = abstractOf(await reader.get(pk(n)), clock.now());
      return out;
    } finally {
      if (reader !== inner) await reader.close();
    }
  };
  const close = async () => {
    release();
    s.stop();
    await inner.close();
  };
  /** Where the current step's facts start in `emitted.seen`. */
  const mark = 0;
  return { clock, inner, release, replies, actor, emitted, contents, close, s, replyTo: s.get('replies'), mark };
}
type Sut = Awaited<ReturnType<typeof system>>;

/** The real command for a model event. */
function command(e: ModelEvent, requestId: string): PeerManagerCommand | undefined {
  switch (e.type) {
    case 'peer.add':
      return { type: 'peer.add', requestId, sighting: { publicKey: pk(e.peer), nodeId: KEYS[e.peer].nodeId, addresses: [{ address: ADDRESS[e.peer], source: 'config' }] } };
    case 'peer.add-many':
      return { type: 'peer.add-many', requestId, sightings: e.peers.map((n) => ({ publicKey: pk(n), nodeId: KEYS[n].nodeId, addresses: [{ address: ADDRESS[n], source: 'config' as const }] })) };
    case 'peer.ban':
      return { type: 'peer.ban', requestId, publicKey: pk(e.peer), durationMs: BAN_MS[e.kind], reason: REASON[e.kind] };
    case 'peer.unban':
    case 'peer.delete':
    case 'peer.find':
      return { type: e.type, requestId, publicKey: pk(e.peer) };
    case 'peer.dial-attempted':
      return { type: e.type, requestId, publicKey: pk(e.peer), address: ADDRESS[e.peer] };
    case 'peer.dial-failed':
      return { type: e.type, requestId, publicKey: pk(e.peer), address: ADDRESS[e.peer], reason: 'ConnectionRefused' };
    case 'peer.dial-succeeded':
      return { type: e.type, requestId, publicKey: pk(e.peer), address: ADDRESS[e.peer], dialMs: 40 };
    case 'peer.closest':
      return { type: e.type, requestId, target: KEYS.A.nodeId, n: 3 };
    case 'peer.random':
      return { type: e.type, requestId, n: 3 };
    default:
      return undefined;
  }
}

/** What a step must publish and answer, from the model's states before and after it. */
function expectations(before: Snap, e: ModelEvent, after: Snap) {
  const [b, a] = [before.context.peers, after.context.peers];
  const facts: Array<[string, Name, ...unknown[]]> = [];
  let reply: { ok: true; result: 'peer' | 'none' | Name[] } | { ok: false; error: string } | undefined = { ok: true, result: 'peer' };
  if (before.matches('stopping')) reply = e.type === 'peer.add' ? { ok: false, error: 'PeerManagerStopped' } : undefined;
  else
    switch (e.type) {
      case 'peer.add':
        facts.push([b[e.peer] ? 'peer.updated' : 'peer.added', e.peer]);
        break;
      case 'peer.add-many':
        for (const n of e.peers) facts.push([b[n] ? 'peer.updated' : 'peer.added', n]);
        reply = { ok: true, result: [...e.peers].sort() };
        break;
      case 'peer.ban':
        if (e.peer === ALLOWED) reply = { ok: false, error: 'PeerAllowListed' };
        else if (JSON.stringify(b[e.peer]?.ban) !== JSON.stringify(a[e.peer]!.ban)) facts.push(['peer.banned', e.peer, a[e.peer]!.ban!.left, a[e.peer]!.ban!.reason]);
        break;
      case 'peer.unban':
        if (b[e.peer]?.ban) facts.push(['peer.unbanned', e.peer]);
        break;
      case 'ban.expired':
        for (const n of NAMES) if (b[n]?.ban && !a[n]?.ban) facts.push(['peer.unbanned', n]);
        reply = undefined;
        break;
      case 'peer.delete':
        // A deletion is published (followers, the DHT pools, forget the peer).
        if (b[e.peer] && !b[e.peer]!.deleted) facts.push(['peer.deleted', e.peer]);
        break;
      case 'peer.dial-failed':
        if (b[e.peer] && !offline(b[e.peer]!) && offline(a[e.peer]!)) facts.push(['peer.offline', e.peer]);
        break;
      case 'peer.dial-succeeded':
        if (b[e.peer] && offline(b[e.peer]!) && !offline(a[e.peer]!)) facts.push(['peer.online', e.peer]);
        break;
      case 'peer.closest':
      case 'peer.random':
        reply = { ok: true, result: NAMES.filter((n) => eligible(a[n])) };
        break;
      case 'peer-manager.stop':
      case 'store.closed':
        reply = undefined;
        break;
      default:
        break;
    }
  if (reply?.ok && reply.result === 'peer' && 'peer' in e && !a[e.peer]) reply = { ok: true, result: 'none' };
  return { facts, reply };
}

async function exec(sut: Sut, e: ModelEvent, before: Snap, after: Snap, requestId: string): Promise<PeerManagerReply | undefined> {
  const { facts } = expectations(before, e, after);
  switch (e.type) {
    case 'ban.expired': {
      sut.clock.increment(nextExpiry(before.context.peers));
      // No reply: the lifted bans are published.
      for (const [, n] of facts) await sut.emitted.next(`${n}'s ban lifted`, (f) => f.type === 'peer.unbanned' && nameOf(f.peer) === n && sut.emitted.seen.indexOf(f) >= sut.mark, 3_000);
      return undefined;
    }
    case 'peer-manager.stop':
      sut.actor.send({ type: 'peer-manager.stop' });
      return undefined;
    case 'store.closed':
      sut.release();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the peer manager did not stop')), 8_000);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        if (sut.actor.getSnapshot().status === 'done') return done();
        sut.actor.subscribe({ complete: done, error: done });
      });
      return undefined;
    default: {
      const cmd = command(e, requestId)!;
      // Finds are answered by fact, everything else to the reply mailbox.
      if (e.type === 'peer.find') {
        sut.actor.send(cmd);
        return (await sut.emitted.next(`reply ${requestId}`, (r) => r.type === 'peer-manager.reply' && r.requestId === requestId)) as PeerManagerReply;
      }
      sut.actor.send({ ...cmd, replyTo: sut.replyTo });
      return sut.replies.next(`reply ${requestId}`, (r) => r.requestId === requestId);
    }
  }
}

const sortedEntries = (xs: Array<[string, Name, ...unknown[]]>) => xs.map((x) => JSON.stringify(x)).sort();

async function check(sut: Sut, before: Snap | undefined, e: ModelEvent | undefined, expected: Snap, reply: PeerManagerReply | undefined): Promise<void> {
  const real = sut.actor.getSnapshot();
  const now = sut.clock.now();
  // The machine's state.
  expect(real.value).to.equal(expected.value);
  expect(real.status).to.equal(expected.status);
  // The store's contents.
  if (real.status === 'done') {
    const closed = await sut.inner.count().then(
      () => 'open',
      (err: Error) => err.name,
    );
    expect(closed).to.equal('PeerStoreClosed');
  }
  const stored = await sut.contents();
  if (stored) expect(canonical(real.value as string, stored)).to.deep.equal(modelCanonical(expected));
  // The ban index the listener checks, by public key and by Noise key.
  const bans = real.context.bans;
  const banned = NAMES.filter((n) => expected.context.peers[n]?.ban);
  expect(bans.size).to.equal(banned.length);
  for (const n of NAMES) {
    expect(bans.isBanned(pk(n), now), `${n} banned`).to.equal(banned.includes(n));
    expect(bans.isBannedNoiseKey(x25519PublicOf(pk(n)), now), `${n} banned by Noise key`).to.equal(banned.includes(n));
  }
  // One expiry timer per ban in force (none left behind by a lifted or lengthened ban), none after the stop.
  expect(sut.clock.pending, 'timers pending').to.equal(real.status === 'done' ? 0 : banned.length);
  // The step's facts and reply.
  const facts = sut.emitted.seen.slice(sut.mark).filter((f) => f.type !== 'peer-manager.reply');
  const want = before && e ? expectations(before, e, expected) : { facts: [], reply: undefined };
  const got = facts.map((f): [string, Name, ...unknown[]] => (f.type === 'peer.banned' ? [f.type, nameOf(f.peer), f.until - now, f.reason] : [f.type, nameOf(f.peer)]));
  expect(sortedEntries(got)).to.deep.equal(sortedEntries(want.facts));
  for (const f of facts) expect(abstractOf(f.peer, now)).to.deep.equal(expected.context.peers[nameOf(f.peer)]);
  if (want.reply === undefined) expect(reply).to.equal(undefined);
  else if (!want.reply.ok) expect(reply).to.deep.include({ ok: false }).and.to.have.nested.property('error.name', want.reply.error);
  else {
    expect(reply, JSON.stringify(reply && !reply.ok ? reply.error : '')).to.deep.include({ ok: true });
    const result = (reply as Extract<PeerManagerReply, { ok: true }>).result;
    if (want.reply.result === 'none') expect(result).to.equal(undefined);
    else if (want.reply.result === 'peer') expect(abstractOf(result as Peer, now)).to.deep.equal(expected.context.peers[(e as { peer: Name }).peer]);
    else expect((result as Peer[]).map(nameOf).sort()).to.deep.equal(want.reply.result);
  }
  expect(sut.s.crashes).to.deep.equal([]);
  sut.mark = sut.emitted.seen.length;
}

async function drive(path: ModelPath<Snap, ModelEvent>, kind: Kind): Promise<void> {
  const dir = kind === 'lmdb' ? mkdtempSync(join(TMP, 'tcomms-pm-model-')) : undefined;
  const sut = await system(kind, dir);
  let i = 0;
  let reply: PeerManagerReply | undefined;
  try {
    await runPath(
      path,
      async (event, expected) => {
        reply = await exec(sut, event, path.steps[i - 1]!.state, expected, `model-${i}`);
      },
      async (expected) => {
        const step = path.steps[i]!;
        expect(step.state).to.equal(expected);
        await check(sut, i === 0 ? undefined : path.steps[i - 1]!.state, i === 0 ? undefined : step.event, expected, reply);
        reply = undefined;
        i++;
      },
    );
  } finally {
    await sut.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

const domains = [BANS, RECORDS].map((d) => ({ ...d, paths: pathsOf(d) }));

describe('peer-manager model: the domains cover what the peer manager promises', () => {
  it('bans: short and long, kept or replaced, lifted or expired (one or two at once), of known and unknown peers, never of the allow-listed; stop with bans pending', () => {
    const steps = domains[0]!.paths.flatMap((p) => p.steps.slice(1).map((s, i) => ({ before: p.steps[i]!.state, event: s.event, after: s.state })));
    const facts = steps.map((s) => ({ ...s, ...expectations(s.before, s.event, s.after) }));
    const has = (f: (x: (typeof facts)[number]) => boolean, what: string) => expect(facts.some(f), what).to.equal(true);
    has((x) => x.event.type === 'peer.ban' && !x.before.context.peers.A && x.facts.length === 1, 'an unknown peer banned');
    has((x) => x.event.type === 'peer.ban' && x.facts.length === 0 && x.reply?.ok === true, 'a shorter ban kept the longer one');
    has((x) => x.event.type === 'peer.ban' && x.before.context.peers.A?.ban?.reason === 'short ban' && x.after.context.peers.A?.ban?.reason === 'long ban', 'a longer ban replaced a shorter one');
    has((x) => x.reply?.ok === false && x.reply.error === 'PeerAllowListed', 'an allow-listed peer refused');
    has((x) => x.event.type === 'ban.expired' && x.facts.length === 2, 'two bans expired at once');
    has((x) => x.event.type === 'ban.expired' && x.facts.length === 1 && NAMES.some((n) => x.after.context.peers[n]?.ban), 'one ban expired, one left');
    has((x) => x.event.type === 'peer.unban' && x.facts.length === 0, 'an unban with no ban');
    has((x) => x.event.type === 'peer-manager.stop' && NAMES.some((n) => x.before.context.peers[n]?.ban), 'a stop with a ban pending');
    has((x) => x.before.matches('stopping') && x.reply?.ok === false && x.reply.error === 'PeerManagerStopped', 'a command refused while stopping');
  });

  it('records: offline and online from dial outcomes, delete and restore, queries that skip the offline and deleted', () => {
    const steps = domains[1]!.paths.flatMap((p) => p.steps.slice(1).map((s, i) => ({ before: p.steps[i]!.state, event: s.event, after: s.state })));
    const facts = steps.map((s) => ({ ...s, ...expectations(s.before, s.event, s.after) }));
    const has = (f: (x: (typeof facts)[number]) => boolean, what: string) => expect(facts.some(f), what).to.equal(true);
    has((x) => x.facts.some(([t]) => t === 'peer.offline'), 'offline');
    has((x) => x.facts.some(([t]) => t === 'peer.online'), 'online');
    has((x) => x.event.type === 'peer.add' && x.before.context.peers.A?.deleted === true, 'restored');
    has((x) => x.event.type === 'peer.closest' && x.after.context.peers.A !== null && x.reply?.ok === true && (x.reply.result as Name[]).length === 0, 'a query skipping A');
    has((x) => x.event.type === 'peer.random' && x.reply?.ok === true && (x.reply.result as Name[]).length === 1, 'a query finding A');
    has((x) => x.event.type === 'peer.dial-failed' && x.before.context.peers.A === null, 'a dial outcome for an unknown peer');
    has((x) => x.event.type === 'store.closed', 'a stop');
  });

  it('one path per edge of each domain', () => {
    // bans: with B unknown, A unknown (7 events: B added alone or with A) or known (address or
    // not) without a ban (8) or banned short or long (9); with B known and not banned, A unknown (4), without a ban (5) or
    // banned short, long or long with 1 s left (6); B banned: 5, 6, 6; then 7 stopping states
    // (one for each A with B unknown) with 2 events each.
    expect(domains[0]!.paths).to.have.length(7 + 2 * 8 + 4 * 9 + (4 + 2 * 5 + 6 * 6) + (5 + 2 * 6 + 6 * 6) + 7 * 2);
    // records: A unknown (8 events), or known with its dial record fresh, attempted, failed,
    // recovered or failed again, not deleted (6, 7, 6, 7, 6) or deleted (5, 6, 5, 5, 5); then one
    // stopping state with 2.
    expect(domains[1]!.paths).to.have.length(8 + (6 + 7 + 6 + 7 + 6) + (5 + 6 + 5 + 5 + 5) + 2);
  });
});

for (const kind of ['memory', 'lmdb'] as const) {
  for (const domain of domains) {
    describe(`peer-manager machine, model-based: ${domain.name} (${kind} store)`, function () {
      this.timeout(20_000);
      for (const path of domain.paths) it(path.name, () => drive(path, kind));
    });
  }
}

describe('peer-manager machine, model-based: coverage of the real runs', () => {
  it('the real actors took every transition of the machine', () => {
    expect(coverage.missing()).to.deep.equal([]);
    expect(coverage.taken.size).to.equal(transitionsOf(peerManagerLogic).length);
  });
});
