/**
 * Model-based test (@xstate/graph) of the DHT connectivity actor (`actors/dht-connectivity`,
 * PROTOCOL.md 9.9) with pools of 1 neighbour and 1 random node, 2 failures before a member is
 * replaced, shunning for one check, re-dial backoffs of 1 and 2 ticks, and minimizing above 2
 * connections. The world: the peer store knows P1 and P2 (nearest first to this node); X is a
 * node in no pool that this node may connect to (outside the pools). One path per transition of the graph (the first choice, empty
 * or failed, waiting, going online, refreshes, members connected, lost, dialled, failing and
 * replaced, banned, re-dial ticks, checks, minimizing, stop) drives the real actor in a test
 * system: its `selectPools` effect is a promise the step settles with what the world's store
 * answers (checking what it was asked to leave out), the connection manager and connectivity
 * are recorders, and the siblings' facts are sent as the follower would. Timers are the actor's
 * own on a SimulatedClock that never moves: each delayed transition is the model's event, sent as
 * such, so that one timer's step never fires another. After every step the real actor must be
 * where the model is, and the dials, disconnects and reaper protection it sent must be those the
 * model's step calls for; at the end every transition of the real machine was taken.
 */
import { expect } from 'chai';
import { fromCallback, fromPromise, SimulatedClock, type EventFromLogic, type SnapshotFrom } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity, type PublicKey } from '../../core/keys.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import type { ConnectionManagerInbox } from '../../actors/connection-manager/index.js';
import type { ConnectivityInbox } from '../../actors/connectivity/index.js';
import { byDistance } from '../../actors/dht/strategies.js';
import { dhtConnectivityMachine, POOL_DIAL, type DhtConnectivityConfig, type DhtConnectivityInput, type PoolMember, type PoolSelection, type SelectPoolsInput } from '../../actors/dht-connectivity/index.js';
import { recorder, testSystem } from '../support/actors.js';
import { TransitionCoverage, transitionsOf } from '../support/coverage.js';
import { runPath, transitionCover } from '../support/model.js';
import { until } from '../support/wait.js';

type Snap = SnapshotFrom<typeof dhtConnectivityMachine>;
type Ev = EventFromLogic<typeof dhtConnectivityMachine>;

const CONFIG: DhtConnectivityConfig = {
  numNeighbours: 1,
  numRandom: 1,
  checkIntervalMs: 120_000,
  refreshIntervalMs: 7_200_000,
  neighbourSettleMs: 30_000,
  redialBackoffMs: 5_000,
  maxRedialBackoffMs: 10_000,
  maxMemberFailures: 2,
  shunMs: 120_000,
  minimizeConnections: true,
  minimizeThreshold: 2,
  minimizeClients: false,
};

const SELF = NodeIdentity.fromSeed(new Uint8Array(32).fill(9));
type Name = 'P1' | 'P2' | 'P3' | 'X';
const [P1, P2, P3] = byDistance(
  [1, 2, 3].map((i) => NodeIdentity.fromSeed(new Uint8Array(32).fill(i))),
  SELF.nodeId,
);
const IDS: Record<Name, NodeIdentity> = { P1: P1!, P2: P2!, P3: P3!, X: NodeIdentity.fromSeed(new Uint8Array(32).fill(4)) };
const NAMES = Object.keys(IDS) as Name[];
const KEY = (n: Name): PublicKey => IDS[n].publicKey;
const HEX = (n: Name) => toHex(KEY(n));
const NAME_OF = new Map(NAMES.map((n) => [HEX(n), n]));
const nameOf = (k: string | Uint8Array) => NAME_OF.get(typeof k === 'string' ? k : toHex(k))!;
const peer = (n: Name) => ({ publicKey: KEY(n), nodeId: IDS[n].nodeId, hex: HEX(n), features: 1 });
/** The store, nearest first. */
const STORE: readonly Name[] = ['P1', 'P2'];

const AFTER = {
  redialTick: 'xstate.after.redialTick.dhtConnectivity.running.redial.backingOff',
  check: 'xstate.after.checkInterval.dhtConnectivity.running.checker.waiting',
  refresh: 'xstate.after.refreshInterval.dhtConnectivity.running.refresher.waiting',
  settle: 'xstate.after.neighbourSettle.dhtConnectivity.running.settler.settling',
  waitingCheck: 'xstate.after.checkInterval.dhtConnectivity.waiting',
} as const;
const AFTER_TYPES = new Set<string>(Object.values(AFTER));
const DONE = 'xstate.done.actor.selectPools';
const ERROR = 'xstate.error.actor.selectPools';

/** What the world's store answers a selection that leaves out `shunned`. */
function answer(shunned: readonly Name[]): PoolSelection {
  const known = STORE.filter((n) => !shunned.includes(n));
  return { neighbours: known.slice(0, CONFIG.numNeighbours).map(peer), random: known.slice(CONFIG.numNeighbours, CONFIG.numNeighbours + CONFIG.numRandom).map(peer) };
}
const shunnedOf = (s: Snap): Name[] => [...s.context.shunned.keys()].map(nameOf).sort();
const members = (s: Snap): PoolMember[] => [...s.context.neighbours, ...s.context.random];
const ev = (e: unknown) => e as Ev;

/**
 * The events the world may send in a state. To keep the graph small (every event offered in a
 * state is a path), the world does one thing at a time: while something is under way (a
 * selection, a dial, a backoff) it only makes progress (the selection answers, the dial connects
 * or fails, the tick comes); the other events (checks, refreshes, bans, new peers, losses, a
 * connection to X that this node dialled outside the pools, stop) come when all is quiet. A dial's connection is reported before its
 * answer, as the connection manager does; the random member only ever connects; the node's status
 * changes before the pools run; X connects once the pools are full and connected (minimizing
 * must close it); P1 may connect before the first choice (a connection the pools then find).
 */
function modelEvents(s: Snap): Ev[] {
  if (s.status === 'done') return [];
  const c = s.context;
  const events: Ev[] = [];
  if (s.matches('initializing')) {
    events.push({ type: 'dht-connectivity.status', status: c.online ? 'offline' : 'online' });
    // (The pools run online here: a selection is answered once the node is.)
    if (c.online) events.push(ev({ type: DONE, output: answer(shunnedOf(s)) }));
    events.push(ev({ type: DONE, output: { neighbours: [], random: [] } }), ev({ type: ERROR, error: new Error('store closed') }));
    events.push({ type: 'dht-connectivity.peer-stored', peer: peer('P1') });
    events.push(c.connections.has(HEX('P1')) ? { type: 'dht-connectivity.disconnected', publicKey: KEY('P1') } : { type: 'dht-connectivity.connected', connection: { ...peer('P1'), direction: 'inbound' } });
    return events;
  }
  if (s.matches('waiting')) {
    events.push({ type: 'dht-connectivity.stop' }, { type: 'dht-connectivity.status', status: 'online' }, { type: 'dht-connectivity.status', status: 'offline' });
    events.push({ type: 'dht-connectivity.peer-stored', peer: peer('P1') }, { type: 'dht-connectivity.refresh' }, ev({ type: AFTER.waitingCheck }));
    return events;
  }
  const neighbour = c.neighbours[0];
  let busy = false;
  if (s.matches({ running: { pools: 'selecting' } })) {
    busy = true;
    events.push(ev({ type: DONE, output: answer(shunnedOf(s)) }), ev({ type: ERROR, error: new Error('store busy') }));
  }
  if (s.matches({ running: { redial: 'backingOff' } })) {
    busy = true;
    events.push(ev({ type: AFTER.redialTick }));
  }
  if (s.matches({ running: { settler: 'settling' } })) {
    // A closer node waits for the neighbour pool to settle: the wait ends before anything else.
    busy = true;
    events.push(ev({ type: AFTER.settle }));
  }
  for (const m of members(s)) {
    if (!m.dialing) continue;
    busy = true;
    // The random member's dial goes on once the neighbour's is over.
    if (m !== neighbour && neighbour?.dialing) continue;
    const n = nameOf(m.hex);
    if (c.connections.has(m.hex)) events.push({ type: 'connection-manager.reply', requestId: POOL_DIAL + m.hex, ok: true, connection: {} as PeerConnection });
    else {
      events.push({ type: 'dht-connectivity.connected', connection: { ...peer(n), direction: 'outbound' } });
      if (m === neighbour) events.push({ type: 'connection-manager.reply', requestId: POOL_DIAL + m.hex, ok: false, error: { name: 'ConnectionRefused', message: 'refused', kind: 'transport' } });
    }
  }
  if (busy) return events;
  // Quiet: checks and losses anywhere; the rest at home (the first choice made, all connected, nothing failed or shunned).
  events.push(ev({ type: AFTER.check }));
  if (neighbour && c.connections.has(neighbour.hex)) events.push({ type: 'dht-connectivity.disconnected', publicKey: KEY(nameOf(neighbour.hex)) });
  // A stored peer the pools may want: P1 (a neighbour), P2 (a random member once P1 is the neighbour).
  for (const n of ['P1', 'P2'] as const) if (!members(s).some((m) => m.hex === HEX(n)) && !c.shunned.has(HEX(n))) events.push({ type: 'dht-connectivity.peer-stored', peer: peer(n) });
  const full = c.neighbours.length === 1 && c.random.length === 1 && members(s).every((m) => c.connections.has(m.hex));
  const xConnected = c.connections.has(HEX('X'));
  // X connects while the neighbour pool is empty (a check will find it once the pools are full again).
  if (!neighbour && c.shunned.size === 0 && !xConnected) events.push({ type: 'dht-connectivity.connected', connection: { ...peer('X'), direction: 'outbound' } });
  if (xConnected) events.push({ type: 'dht-connectivity.disconnected', publicKey: KEY('X') });
  const home = full && c.shunned.size === 0 && members(s).every((m) => m.failures === 0) && neighbour?.hex === HEX('P1');
  if (home) {
    events.push({ type: 'dht-connectivity.stop' }, { type: 'dht-connectivity.refresh' }, ev({ type: AFTER.refresh }), { type: 'dht-connectivity.peer-stored', peer: peer('P1') });
    events.push({ type: 'dht-connectivity.peer-banned', publicKey: KEY('P1') }, { type: 'dht-connectivity.peer-banned', publicKey: KEY('P2') });
    // (Deleted, or evicted by the store: a member is dropped as a banned one is.)
    events.push({ type: 'dht-connectivity.peer-deleted', publicKey: KEY('P1') });
    if (!xConnected) events.push({ type: 'dht-connectivity.connected', connection: { ...peer('X'), direction: 'outbound' } });
  }
  return events;
}

function serializeEvent(e: Ev): string {
  const t = e.type as string;
  if (t === DONE) return `${t}:${(e as unknown as { output: PoolSelection }).output.neighbours.map((p) => nameOf(p.hex)).join()}`;
  switch (e.type) {
    case 'dht-connectivity.status':
      return `${t}:${e.status}`;
    case 'dht-connectivity.peer-stored':
      return `${t}:${nameOf(e.peer.hex)}`;
    case 'dht-connectivity.connected':
      return `${t}:${nameOf(e.connection.hex)}`;
    case 'dht-connectivity.disconnected':
    case 'dht-connectivity.peer-banned':
    case 'dht-connectivity.peer-deleted':
      return `${t}:${nameOf(e.publicKey)}`;
    case 'connection-manager.reply':
      return `${t}:${nameOf(e.requestId.slice(POOL_DIAL.length))}:${e.ok}`;
    default:
      return t;
  }
}

const memberView = (m: PoolMember) => `${nameOf(m.hex)}:${m.failures}:${m.waitTicks ?? '-'}${m.dialing ? ':dialing' : ''}${m.stable ? ':stable' : ''}`;
const canonical = (s: Snap) => ({
  value: s.value,
  online: s.context.online,
  due: s.context.due ?? null,
  closerPending: s.context.closerPending,
  selecting: s.matches('initializing') || s.matches({ running: { pools: 'selecting' } }) ? s.context.selecting : null,
  neighbours: s.context.neighbours.map(memberView),
  random: s.context.random.map(memberView),
  connections: [...s.context.connections.keys()].map(nameOf).sort(),
  shunned: [...s.context.shunned.entries()].map(([k, v]) => `${nameOf(k)}:${v.checksLeft}`).sort(),
});
const describe_ = (s: Snap) => {
  const c = canonical(s);
  const v = typeof s.value === 'string' ? s.value : `running(${Object.entries((s.value as { running: Record<string, string> }).running).filter(([, x]) => x !== 'idle' && x !== 'waiting').map(([k, x]) => `${k}:${x}`).join(' ')})`;
  return `${v}[${c.neighbours.join(' ')}|${c.random.join(' ')}${c.connections.length ? ` c=${c.connections.join('+')}` : ''}${c.shunned.length ? ` shun=${c.shunned.join('+')}` : ''}]`;
};

const INPUT: DhtConnectivityInput = { self: { publicKey: SELF.publicKey, nodeId: SELF.nodeId }, config: CONFIG };

const paths = transitionCover<Snap, Ev>(dhtConnectivityMachine, {
  input: INPUT,
  events: modelEvents,
  serializeState: (s) => JSON.stringify(canonical(s)),
  serializeEvent,
  describe: describe_,
  describeEvent: (e) => serializeEvent(e).replace(/^xstate\.after\.(\w+)\..*/, 'after $1').replace(/^xstate\.(done|error)\.actor\./, '$1 '),
});

/** The real system: the actor with a settled-by-the-step `selectPools`, recorders for its siblings. */
function system() {
  const clock = new SimulatedClock();
  let pending: { input: SelectPoolsInput; resolve(s: PoolSelection): void; reject(e: Error): void } | undefined;
  const logic = dhtConnectivityMachine.provide({
    actors: {
      selectPools: fromPromise<PoolSelection, SelectPoolsInput>(({ input }) => new Promise((resolve, reject) => (pending = { input, resolve, reject }))),
      followSiblings: fromCallback(() => {}),
    },
  });
  const coverage = new TransitionCoverage(logic);
  const cm = recorder<ConnectionManagerInbox>();
  const connectivity = recorder<ConnectivityInbox>();
  const s = testSystem({ connectionManager: { logic: cm.logic }, connectivity: { logic: connectivity.logic }, dhtConnectivity: { logic, input: INPUT } }, { clock, inspect: coverage.inspect });
  return { actor: s.get('dhtConnectivity'), cm, connectivity, pending: () => pending, clear: () => (pending = undefined), coverage, s };
}
type Sut = ReturnType<typeof system>;

async function exec(sut: Sut, event: Ev, expected: Snap): Promise<void> {
  const t = event.type as string;
  const before = sut.pending();
  if (t === DONE || t === ERROR) {
    await until('the selection was asked for', () => sut.pending() !== undefined);
    const p = sut.pending()!;
    sut.clear();
    if (t === DONE) p.resolve((event as unknown as { output: PoolSelection }).output);
    else p.reject(new Error('store closed'));
  } else if (AFTER_TYPES.has(t)) {
    // The delayed transition itself (the clock never moves: no other timer fires with it).
    sut.actor.send(event as never);
  } else sut.actor.send(event as Exclude<Ev, { type: `xstate.${string}` }>);
  await until(`the actor reaches ${JSON.stringify(canonical(expected))}`, () => JSON.stringify(canonical(sut.actor.getSnapshot())) === JSON.stringify(canonical(expected)) && sut.actor.getSnapshot().status === expected.status);
  // A selection asked for in this step leaves out the peers shunned then.
  const asked = sut.pending();
  if (asked && asked !== before) expect(asked.input.exclude.map(nameOf).sort(), 'the selection leaves out the shunned peers').to.deep.equal(shunnedOf(expected));
}

describe('DHT connectivity machine, model-based (paths from its graph drive a real actor)', function () {
  this.timeout(300_000);

  it('the paths take every kind of step: the first choice (found, empty, failed), waiting, refreshes, dials answered both ways, losses, replacement, bans, re-dial ticks, checks, minimizing, stop', () => {
    const taken = new Set(paths.flatMap((p) => p.steps.map((s) => serializeEvent(s.event))));
    if (process.env.MODEL_DEBUG) for (const p of paths) console.log(p.name);
    for (const e of [`${DONE}:`, `${DONE}:P1`, `${DONE}:P2`, ERROR, AFTER.redialTick, AFTER.check, AFTER.refresh, AFTER.settle, AFTER.waitingCheck, 'connection-manager.reply:P1:false', 'connection-manager.reply:P2:true', 'dht-connectivity.peer-banned:P1', 'dht-connectivity.peer-deleted:P1', 'dht-connectivity.connected:X', 'dht-connectivity.stop']) {
      expect(taken, e).to.include(e);
    }
    expect(paths.some((p) => p.steps.some((s) => s.state.context.shunned.size > 0)), 'a member replaced and shunned').to.equal(true);
    expect(paths.some((p) => p.steps.some((s) => s.event.type === 'dht-connectivity.connected' && s.event.connection.hex === HEX('X') && !s.state.context.connections.has(HEX('X')))), 'X minimized').to.equal(true);
    console.log(`      (${paths.length} paths)`);
  });

  const taken = new Set<string>();
  for (const path of paths) {
    it(path.name, async () => {
      const sut = system();
      try {
        await runPath(
          path,
          async (event, expected) => {
            const before = { snap: sut.actor.getSnapshot(), dials: sut.cm.seen.length, keeps: sut.connectivity.seen.length };
            await exec(sut, event, expected);
            // The dials sent are those of the members that began dialling in this step.
            const dialling = (s: Snap) => new Set(members(s).filter((m) => m.dialing).map((m) => nameOf(m.hex)));
            const was = dialling(before.snap);
            const began = [...dialling(expected)].filter((n) => !was.has(n) || (event.type === 'connection-manager.reply' && nameOf(event.requestId.slice(POOL_DIAL.length)) === n));
            const sent = sut.cm.seen.slice(before.dials);
            expect(sent.filter((e) => e.type === 'connection-manager.dial').map((e) => e.type === 'connection-manager.dial' && nameOf(e.publicKey)).sort(), 'dials').to.deep.equal(began.sort());
            // Disconnects: the connections minimizing closed (gone from the model's connections without a disconnected fact).
            const closed = event.type === 'dht-connectivity.disconnected' ? [nameOf(event.publicKey)] : [];
            const had = [...before.snap.context.connections.keys(), ...(event.type === 'dht-connectivity.connected' ? [event.connection.hex] : [])];
            const gone = [...new Set(had)].filter((k) => !expected.context.connections.has(k)).map(nameOf).filter((n) => !closed.includes(n));
            expect(sent.filter((e) => e.type === 'connection-manager.disconnect').map((e) => e.type === 'connection-manager.disconnect' && nameOf(e.publicKey)).sort(), 'minimized').to.deep.equal(gone.sort());
            // The reaper is told of the pools whenever they change (and released at the end).
            const keeps = sut.connectivity.seen.slice(before.keeps);
            const poolsOf = (s: Snap) => `${s.context.neighbours.map((m) => nameOf(m.hex)).join()}|${s.context.random.map((m) => nameOf(m.hex)).join()}`;
            if (expected.status === 'done') expect(keeps.at(-1)).to.deep.include({ type: 'connectivity.keep', publicKeys: [] });
            else if (poolsOf(before.snap) !== poolsOf(expected)) expect(keeps.map((k) => k.type === 'connectivity.keep' && k.publicKeys.map(nameOf).join())).to.deep.equal([members(expected).map((m) => nameOf(m.hex)).join()]);
            else expect(keeps).to.deep.equal([]);
          },
          (expected) => {
            expect(canonical(sut.actor.getSnapshot())).to.deep.equal(canonical(expected));
            expect(sut.s.crashes).to.deep.equal([]);
          },
        );
        for (const t of sut.coverage.taken) taken.add(t);
      } finally {
        sut.s.stop();
      }
    });
  }

  it('the real actors took every transition of the machine', () => {
    const all = transitionsOf(dhtConnectivityMachine);
    expect(all.filter((t) => !taken.has(t))).to.deep.equal([]);
  });
});
