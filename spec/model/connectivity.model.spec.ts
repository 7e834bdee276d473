/**
 * Model-based test (@xstate/graph) of the connectivity actor (`actors/connectivity`), with
 * minConnectivity 2, a reap threshold of 2 and two idle ticks before a connection may be reaped.
 * Three peers: A and B with idle connections (A may be allow-listed and unlisted again), C with
 * a busy one (an open substream). One path per transition of the graph (connections kept and
 * ended, the initializing timeout, reaper ticks, violations of either kind, allow and disallow,
 * stop) drives the real actor in a test system on a SimulatedClock, with real connections
 * (memory transport, upgraded both ways) and recording stand-ins for the peer manager and the
 * connection manager; B may be kept from the reaper by a holder (`connectivity.keep`) and released. After every step the real actor must be where the model is (status, pool
 * with idle counts, allow-list, the status published), and the step's effects must be those the
 * model calls for: the status published when it changes, bans (short or long, never an
 * allow-listed peer) sent to the peer manager with a disconnect to the connection manager, and
 * reaping of the longest-idle connections above the threshold, never a busy or allow-listed one.
 */
import { expect } from 'chai';
import type { EventFromLogic, SnapshotFrom } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity, type PublicKey } from '../../core/keys.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import type { ConnectionManagerInbox } from '../../actors/connection-manager/index.js';
import type { PeerManagerInbox } from '../../actors/peer-manager/index.js';
import { connectivityLogic, connectivityMachine, type ConnectivityEmitted, type ConnectivityInput } from '../../actors/connectivity/index.js';
import { recorder, testSystem } from '../support/actors.js';
import { CountingClock } from '../support/clock.js';
import { TransitionCoverage, transitionsOf } from '../support/coverage.js';
import { connectedPair, type ConnectedPair } from '../support/connections.js';
import { runPath, transitionCover, type ModelPath } from '../support/model.js';

type Snap = SnapshotFrom<typeof connectivityMachine>;
type Ev = EventFromLogic<typeof connectivityMachine>;

const INPUT = {
  minConnectivity: 2,
  reapThreshold: 2,
  reapIntervalMs: 1_000,
  reapMinIdleMs: 2_000,
  initializingTimeoutMs: 60_000,
  longBanMs: 5_000,
  shortBanMs: 500,
  allowList: [],
} satisfies ConnectivityInput;
const MIN_IDLE_TICKS = INPUT.reapMinIdleMs / INPUT.reapIntervalMs;
const TICK = 'xstate.after.reapInterval.connectivity.running.reaper.waiting';
const INIT_TIMEOUT = 'xstate.after.initializingTimeout.connectivity.running.status.initializing';

type Name = 'A' | 'B' | 'C';
const NAMES: readonly Name[] = ['A', 'B', 'C'];
/** The peers' identities (their connections are made before the paths run). */
const IDS: Record<Name, NodeIdentity> = { A: NodeIdentity.fromSeed(new Uint8Array(32).fill(1)), B: NodeIdentity.fromSeed(new Uint8Array(32).fill(2)), C: NodeIdentity.fromSeed(new Uint8Array(32).fill(3)) };
const KEY: Record<Name, PublicKey> = { A: IDS.A.publicKey, B: IDS.B.publicKey, C: IDS.C.publicKey };
const NAME_OF = new Map<string, Name>(NAMES.map((n) => [toHex(KEY[n]), n]));
const nameOf = (key: string | PublicKey) => NAME_OF.get(typeof key === 'string' ? key : toHex(key))!;
/** C's connection has an open substream; A's and B's are idle. */
const BUSY: Record<Name, boolean> = { A: false, B: false, C: true };
/** The model's stand-in connections: all the reaper reads of one is its open substreams. */
const modelConnection = (n: Name) => ({ muxer: { streamCount: BUSY[n] ? 1 : 0 } }) as unknown as PeerConnection;
/** Violations of the model: A's is short-banned, B's (an invalid identity claim) long-banned. */
const VIOLATION: Record<'A' | 'B', { name: string; message: string; kind: 'protocol' }> = {
  A: { name: 'YamuxProtocolError', message: 'window exceeded', kind: 'protocol' },
  B: { name: 'IdentityInvalid', message: 'signature', kind: 'protocol' },
};

/** The state, canonically: pool and allow-list by peer name, sorted (never in insertion or hash order). */
function canonical(s: Snap) {
  return {
    status: s.status,
    value: s.value,
    pool: [...s.context.pool.entries()].map(([k, e]) => `${nameOf(k)}:${e.idleTicks}${e.connection.muxer.streamCount > 0 ? ':busy' : ''}`).sort(),
    allowed: s.context.allowed.map((k) => nameOf(k)).sort(),
    kept: [...s.context.kept.values()].flat().map((k) => nameOf(k)).sort(),
    published: s.context.published ?? null,
  };
}

const pooled = (s: Snap, n: Name) => s.context.pool.get(toHex(KEY[n]));

function modelEvents(state: Snap): Ev[] {
  if (state.status === 'done') return [];
  const events: Ev[] = [];
  for (const n of NAMES) {
    events.push(pooled(state, n) ? { type: 'peer.disconnected', publicKey: KEY[n] } : { type: 'peer.connected', publicKey: KEY[n], connection: modelConnection(n) });
  }
  // Ticks while no idle connection has reached the reaper's minimum (the idle counts stay bounded).
  if ([...state.context.pool.values()].every((e) => e.idleTicks < MIN_IDLE_TICKS)) events.push({ type: TICK } as unknown as Ev);
  if (state.matches({ running: { status: 'initializing' } })) events.push({ type: INIT_TIMEOUT } as unknown as Ev);
  events.push({ type: 'peer.violation', publicKey: KEY.A, error: VIOLATION.A }, { type: 'peer.violation', publicKey: KEY.B, error: VIOLATION.B });
  events.push(state.context.allowed.includes(toHex(KEY.A)) ? { type: 'connectivity.disallow', publicKey: KEY.A } : { type: 'connectivity.allow', publicKey: KEY.A });
  // B kept from the reaper by a holder (the DHT's pools), and released.
  const keepsB = [...state.context.kept.values()].flat().includes(toHex(KEY.B));
  events.push({ type: 'connectivity.keep', holder: 'pools', publicKeys: keepsB ? [] : [KEY.B] });
  events.push({ type: 'connectivity.stop' });
  return events;
}

const describeState = (s: Snap) => {
  if (s.status === 'done') return 'stopped';
  const c = canonical(s);
  const status = (s.value as { running: { status: string } }).running.status;
  return `${status}(pool [${c.pool.join(' ')}]${c.allowed.length ? `, allowed ${c.allowed.join(' ')}` : ''})`;
};

const paths = transitionCover<Snap, Ev>(connectivityMachine, {
  input: INPUT,
  events: modelEvents,
  serializeState: (s) => JSON.stringify(canonical(s)),
  describe: describeState,
});

const eventName = (e: Ev): string => {
  switch (e.type) {
    case 'peer.connected':
    case 'peer.disconnected':
    case 'peer.violation':
    case 'connectivity.allow':
    case 'connectivity.disallow':
      return `${e.type} ${nameOf(e.publicKey)}`;
    case 'connectivity.keep':
      return `${e.type} [${e.publicKeys.map((k) => nameOf(k)).join()}]`;
    default:
      return (e.type as string) === TICK ? 'reaper tick' : (e.type as string) === INIT_TIMEOUT ? 'initializing timeout' : e.type;
  }
};

/** The effects a step must have, from the model's states before and after it. */
interface Effects {
  status?: { status: string; connections: number };
  ban?: { name: Name; durationMs: number; reason: string };
  /** Reaper ticks: the connections that may be reaped, and how many must be. */
  reap?: { candidates: Map<Name, number>; count: number };
}

function expectedEffects(before: Snap, event: Ev, after: Snap): Effects {
  const effects: Effects = {};
  if (after.status !== 'done' && after.context.published !== before.context.published) {
    effects.status = { status: after.context.published!, connections: after.context.pool.size };
  }
  if (event.type === 'peer.violation' && !before.context.allowed.includes(toHex(event.publicKey))) {
    const name = nameOf(event.publicKey);
    effects.ban = { name, durationMs: event.error.name === 'IdentityInvalid' ? INPUT.longBanMs : INPUT.shortBanMs, reason: `${event.error.name}: ${event.error.message}` };
  }
  if ((event.type as string) === TICK) {
    // Idle (no substream), not allow-listed, idle for long enough; only above the threshold.
    const candidates = new Map<Name, number>();
    for (const [k, e] of after.context.pool) {
      const kept = [...after.context.kept.values()].flat().includes(k);
      if (!BUSY[nameOf(k)] && !after.context.allowed.includes(k) && !kept && e.idleTicks >= MIN_IDLE_TICKS) candidates.set(nameOf(k), e.idleTicks);
    }
    const excess = Math.max(0, after.context.pool.size - INPUT.reapThreshold);
    effects.reap = { candidates, count: Math.min(excess, candidates.size) };
  }
  return effects;
}

/** The transitions the real actors take, over all paths. */
const coverage = new TransitionCoverage(connectivityLogic);

/** The real connections, one per peer (C's with an open substream). */
let pairs: Record<Name, ConnectedPair>;
/** C's open substream. */
let busyStream: ReturnType<PeerConnection['muxer']['newStream']> | undefined;

function system() {
  const clock = new CountingClock();
  const pm = recorder<PeerManagerInbox>();
  const cm = recorder<ConnectionManagerInbox>();
  const s = testSystem({ peerManager: { logic: pm.logic }, connectionManager: { logic: cm.logic }, connectivity: { logic: connectivityLogic, input: INPUT } }, { clock, inspect: coverage.inspect });
  const actor = s.get('connectivity');
  const facts: ConnectivityEmitted[] = [];
  for (const t of ['connectivity.status', 'connectivity.reaped', 'peer.banned'] as const) actor.on(t, (e) => void facts.push(e));
  return { clock, pm, cm, actor, facts, s };
}
type Sut = ReturnType<typeof system>;

function exec(sut: Sut, event: Ev): void {
  switch (event.type as string) {
    case TICK:
      sut.clock.increment(INPUT.reapIntervalMs);
      return;
    case INIT_TIMEOUT:
      sut.clock.set(INPUT.initializingTimeoutMs); // the actor started at 0
      return;
    case 'peer.connected': {
      const n = nameOf((event as Extract<Ev, { type: 'peer.connected' }>).publicKey);
      sut.actor.send({ type: 'peer.connected', publicKey: KEY[n], connection: pairs[n].outbound });
      return;
    }
    default:
      sut.actor.send(event);
  }
}

/** Checks that the step just taken had exactly the effects the model calls for. */
function checkEffects(sut: Sut, effects: Effects, seen: { facts: number; pm: number; cm: number }): void {
  const facts = sut.facts.slice(seen.facts);
  const pm = sut.pm.seen.slice(seen.pm);
  const cm = sut.cm.seen.slice(seen.cm);
  const statuses = facts.filter((f) => f.type === 'connectivity.status');
  expect(statuses).to.deep.equal(effects.status ? [{ type: 'connectivity.status', ...effects.status }] : []);
  const banned = facts.filter((f) => f.type === 'peer.banned');
  if (effects.ban) {
    const { name, durationMs, reason } = effects.ban;
    expect(banned.map((f) => [nameOf(f.publicKey), f.durationMs, f.reason])).to.deep.equal([[name, durationMs, reason]]);
    expect(pm.map((e) => (e.type === 'peer.ban' ? [e.requestId, nameOf(e.publicKey), e.durationMs, e.reason] : e.type))).to.deep.equal([[`ban:${toHex(KEY[name])}`, name, durationMs, reason]]);
    expect(cm.map((e) => (e.type === 'connection-manager.disconnect' ? nameOf(e.publicKey) : e.type))).to.deep.equal([name]);
  } else {
    expect(banned).to.deep.equal([]);
    expect(pm).to.deep.equal([]);
  }
  const reaped = facts.filter((f) => f.type === 'connectivity.reaped').map((f) => f.publicKeys.map((k) => nameOf(k)));
  if (effects.reap && effects.reap.count > 0) {
    const { candidates, count } = effects.reap;
    expect(reaped).to.have.length(1);
    const names = reaped[0]!;
    expect(names).to.have.length(count);
    // Only candidates, and the longest idle of them.
    for (const n of names) expect(candidates.has(n), `${n} may not be reaped`).to.equal(true);
    const least = Math.min(...names.map((n) => candidates.get(n)!));
    for (const [n, ticks] of candidates) if (!names.includes(n)) expect(ticks, `${n} was idle longer`).to.be.at.most(least);
    expect(cm.map((e) => (e.type === 'connection-manager.disconnect' ? nameOf(e.publicKey) : e.type))).to.deep.equal(names);
  } else {
    expect(reaped).to.deep.equal([]);
    if (!effects.ban) expect(cm).to.deep.equal([]);
  }
  seen.facts = sut.facts.length;
  seen.pm = sut.pm.seen.length;
  seen.cm = sut.cm.seen.length;
}

async function drive(path: ModelPath<Snap, Ev>): Promise<void> {
  const sut = system();
  const seen = { facts: 0, pm: 0, cm: 0 };
  let index = 0;
  try {
    await runPath(
      path,
      async (event) => exec(sut, event),
      (expected) => {
        const i = index++;
        expect(path.steps[i]!.state).to.equal(expected);
        expect(canonical(sut.actor.getSnapshot())).to.deep.equal(canonical(expected));
        // Timers: the reaper's, and the initializing timeout while initializing; none once stopped.
        expect(sut.clock.pending, 'timers pending').to.equal(expected.status === 'done' ? 0 : expected.matches({ running: { status: 'initializing' } }) ? 2 : 1);
        if (i > 0) checkEffects(sut, expectedEffects(path.steps[i - 1]!.state, path.steps[i]!.event, expected), seen);
        expect(sut.s.crashes).to.deep.equal([]);
      },
    );
  } finally {
    sut.s.stop();
  }
}

describe('connectivity machine, model-based (paths from its graph drive the real actor over real connections)', function () {
  this.timeout(30_000);

  before(async () => {
    const made = await Promise.all(NAMES.map((n) => connectedPair({ b: { identity: IDS[n] } })));
    pairs = { A: made[0]!, B: made[1]!, C: made[2]! };
    // C is busy for the whole test: a substream stays open (both ends ignore its end at close).
    pairs.C.inbound.on('stream', (stream) => void stream.on('error', () => undefined).resume());
    pairs.C.inbound.release();
    busyStream = pairs.C.outbound.muxer.newStream().on('error', () => undefined);
    expect(pairs.C.outbound.muxer.streamCount).to.equal(1);
    expect(pairs.A.outbound.muxer.streamCount + pairs.B.outbound.muxer.streamCount).to.equal(0);
  });
  after(async () => {
    busyStream?.destroy();
    await Promise.all(Object.values(pairs ?? {}).map((p) => p.close()));
  });

  it('the paths take every transition: statuses, the initializing timeout, reaping (and not, of a kept peer), violations (banned or not), allow, disallow, keep, stop', () => {
    const steps = paths.flatMap((p) => p.steps.slice(1).map((s, i) => ({ from: p.steps[i]!.state, event: s.event, to: s.state })));
    const status = (s: Snap) => (s.status === 'done' ? 'stopped' : (s.value as { running: { status: string } }).running.status);
    const moves = new Set(steps.map((s) => `${eventName(s.event).replace(/ [ABC]$/, '')}: ${status(s.from)} -> ${status(s.to)}`));
    for (const m of [
      'peer.connected: initializing -> degraded',
      'peer.connected: degraded -> online',
      'peer.connected: offline -> degraded',
      'peer.connected: online -> online',
      'peer.disconnected: online -> degraded',
      'peer.disconnected: online -> online',
      'peer.disconnected: degraded -> offline',
      'initializing timeout: initializing -> offline',
      'reaper tick: online -> online',
      'reaper tick: initializing -> initializing',
      'peer.violation: online -> online',
      'connectivity.allow: degraded -> degraded',
      'connectivity.disallow: online -> online',
      'connectivity.stop: initializing -> stopped',
      'connectivity.stop: online -> stopped',
    ]) {
      expect(moves).to.include(m);
    }
    const effects = steps.map((s) => ({ ...s, effects: s.to.status === 'done' ? {} : expectedEffects(s.from, s.event, s.to) }));
    // Reaping happens, of A or B, and not of an allow-listed A, nor of busy C (which is never a candidate).
    const reaps = effects.filter((e) => (e.effects.reap?.count ?? 0) > 0);
    expect(reaps.some((e) => e.effects.reap!.candidates.has('A'))).to.equal(true);
    expect(reaps.some((e) => e.effects.reap!.candidates.has('B') && !e.effects.reap!.candidates.has('A') && pooled(e.to, 'A')!.idleTicks >= MIN_IDLE_TICKS)).to.equal(true);
    expect(reaps.some((e) => e.effects.reap!.candidates.size === 2)).to.equal(true); // two as idle: one is reaped
    // A tick above the threshold with nothing to reap (the idle ones not idle for long enough).
    expect(effects.some((e) => (e.event.type as string) === TICK && e.to.context.pool.size > INPUT.reapThreshold && e.effects.reap!.count === 0)).to.equal(true);
    // Violations: short and long bans, and none for an allow-listed peer.
    expect(effects.some((e) => e.effects.ban?.durationMs === INPUT.shortBanMs)).to.equal(true);
    expect(effects.some((e) => e.effects.ban?.durationMs === INPUT.longBanMs)).to.equal(true);
    expect(effects.some((e) => e.event.type === 'peer.violation' && !e.effects.ban)).to.equal(true);
    // A kept B is never a candidate, however long idle.
    const keptB = (s: Snap) => [...s.context.kept.values()].flat().includes(toHex(KEY.B));
    expect(effects.some((e) => (e.event.type as string) === TICK && keptB(e.to) && (pooled(e.to, 'B')?.idleTicks ?? 0) >= MIN_IDLE_TICKS && !e.effects.reap!.candidates.has('B'))).to.equal(true);
    // One path per edge: 128 states past initializing (A and B absent or idle 0..2, C absent or
    // present, A allowed or not, B kept or not) with 8 events each (3 connects or disconnects, 2
    // violations, allow or disallow, keep or release, stop), a tick from the 72 of them with no
    // connection idle 2 yet, and the 4 initializing states (A allowed or not, B kept or not) with 10
    // (those, a tick and the timeout).
    expect(paths).to.have.length(128 * 8 + 72 + 4 * 10);
  });

  for (const path of paths) it(path.name, () => drive(path));

  it('the real actors took every transition of the machine', () => {
    expect(coverage.missing()).to.deep.equal([]);
    expect(coverage.taken.size).to.equal(transitionsOf(connectivityLogic).length);
  });
});
