/**
 * Model-based test (@xstate/graph) of network discovery (`actors/network-discovery`, PROTOCOL.md
 * 9.9). The model's states are the actor's value, its rounds in the cycle (at most 2 here), the
 * peers tried this cycle, and the on-connect queue and memory. One path per transition drives the
 * real machine in a system with a connectivity stand-in that records the bans; its effects
 * (storing the seeds, counting and picking peers, a round of syncs) are promises the step
 * settles, and its connections follower is a callback the step calls; timers run on a
 * SimulatedClock. After every step the real actor must be where the model is; the bans, the
 * peers excluded from a pick and the peers a round syncs are checked as they happen.
 */
import { expect } from 'chai';
import { fromCallback, fromPromise, SimulatedClock, type EventFromLogic, type SnapshotFrom } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { nodeIdOf, type PublicKey } from '../../core/keys.js';
import type { ConnectivityInbox } from '../../actors/connectivity/index.js';
import {
  DEFAULT_NETWORK_DISCOVERY_CONFIG,
  failureWaitFor,
  networkDiscoveryMachine,
  type NetworkDiscoveryConnected,
  type NetworkDiscoveryEmitted,
  type NetworkDiscoveryInput,
  type SyncRoundOutcome,
} from '../../actors/network-discovery/index.js';
import { recorder, testSystem } from '../support/actors.js';
import { runPath, transitionCover } from '../support/model.js';
import { seededIdentities } from '../support/dht-network.js';
import { until } from '../support/wait.js';

type Snap = SnapshotFrom<typeof networkDiscoveryMachine>;
type Ev = EventFromLogic<typeof networkDiscoveryMachine>;

const [p1, p2, p3, p4, self] = seededIdentities('network-discovery-model', 5).map((i) => i.publicKey) as [PublicKey, PublicKey, PublicKey, PublicKey, PublicKey];
const short = (k: Uint8Array) => toHex(k).slice(0, 6);
const BAN_MS = 7_200_000;
const config = { ...DEFAULT_NETWORK_DISCOVERY_CONFIG, maxRounds: 2, maxQueuedConnects: 2 };
const input: NetworkDiscoveryInput = {
  config,
  seeds: [{ publicKey: p1, addresses: ['/memory/1'] }],
  banMs: BAN_MS,
  env: { self, allowMemory: true, isBanned: () => false, nowSeconds: () => 0n, isConnected: () => false, isKept: () => false },
};

// What the effects come to (model-only events: the real ones are the settled promises).
const fruitful: SyncRoundOutcome = { reports: [{ publicKey: p1, ok: true, added: 3 }, { publicKey: p2, ok: false, added: 0, violation: 'invalid claim: signature', error: { name: 'PeerSyncViolation', message: 'x', kind: 'protocol' } }] };
const fruitless: SyncRoundOutcome = { reports: [{ publicKey: p1, ok: false, added: 0, error: { name: 'RpcOpenFailed', message: 'x', kind: 'transport' } }] };
const connectedSync: SyncRoundOutcome = { reports: [{ publicKey: p3, ok: false, added: 0, violation: 'more than the 100 claims asked for', error: { name: 'PeerSyncViolation', message: 'x', kind: 'protocol' } }] };
const done = (id: string, output: unknown) => ({ type: `xstate.done.actor.${id}`, output, actorId: id }) as unknown as Ev;
const failed = (id: string) => ({ type: `xstate.error.actor.${id}`, error: new Error('store closed'), actorId: id }) as unknown as Ev;
const tick = (delay: string, state: string) => ({ type: `xstate.after.${delay}.networkDiscovery.${state}` }) as unknown as Ev;

function modelEvents(state: Snap): Ev[] {
  if (state.status === 'done') return [];
  const events: Ev[] = [{ type: 'network-discovery.stop' }];
  if (state.matches({ initializing: 'storingSeeds' })) events.push(done('addSeeds', undefined), failed('addSeeds'));
  if (state.matches('initializing') && !state.context.nodeRunning) events.push({ type: 'network-discovery.node-running' });
  if (state.matches('ready')) events.push(done('countKnown', 60), done('countKnown', 3), failed('countKnown'));
  if (state.matches({ discovering: 'selecting' })) events.push(done('pickPeers', []), done('pickPeers', [p1, p2]), failed('pickPeers'));
  if (state.matches({ discovering: 'syncing' })) events.push(done('syncRound', fruitful), done('syncRound', fruitless), failed('syncRound'), tick('roundTimeout', 'discovering.syncing'));
  if (state.matches('onConnect')) {
    // A node this node dialled, a client it dialled, a node that dialled in (never synced), the seed dialling in (synced).
    events.push(
      { type: 'network-discovery.peer-connected', publicKey: p3, node: true, outbound: true },
      { type: 'network-discovery.peer-connected', publicKey: p4, node: false, outbound: true },
      { type: 'network-discovery.peer-connected', publicKey: p2, node: true, outbound: false },
      { type: 'network-discovery.peer-connected', publicKey: p1, node: true, outbound: false },
    );
  }
  if (state.matches({ onConnect: 'syncing' })) events.push(done('syncConnected', connectedSync), failed('syncConnected'), tick('roundTimeout', 'onConnect.syncing'));
  if (state.matches({ waiting: 'idle' })) events.push(tick('idleWait', 'waiting.idle'));
  if (state.matches({ waiting: 'afterFailure' })) events.push(tick('failureWait', 'waiting.afterFailure'));
  return events;
}

const serializeEvent = (e: Ev): string => {
  const x = e as unknown as { type: string; output?: unknown; publicKey?: Uint8Array; outbound?: boolean };
  if (x.type === 'network-discovery.peer-connected') return `${x.type}:${short(x.publicKey!)}:${x.outbound ? 'out' : 'in'}`;
  if (x.type.startsWith('xstate.done.actor.')) {
    const o = x.output;
    const text = o === undefined ? '' : typeof o === 'number' ? String(o) : Array.isArray(o) ? `[${o.length}]` : `added ${(o as SyncRoundOutcome).reports.reduce((n, r) => n + r.added, 0)}`;
    return `${x.type}:${text}`;
  }
  return x.type;
};

const canonical = (s: Snap) => ({
  value: s.value,
  nodeRunning: s.context.nodeRunning,
  rounds: s.context.rounds,
  tried: [...s.context.tried].map(([k]) => k.slice(0, 6)).sort(),
  queue: s.context.queue.map(short),
  synced: [...s.context.synced].map(([k]) => k.slice(0, 6)).sort(),
});

const paths = transitionCover<Snap, Ev>(networkDiscoveryMachine, {
  input,
  events: modelEvents,
  serializeState: (s) => JSON.stringify(canonical(s)),
  serializeEvent,
  describe: (s) => {
    const c = canonical(s);
    return `${JSON.stringify(c.value).replace(/"/g, '')}(r${c.rounds}${c.tried.length ? `, tried ${c.tried.length}` : ''}${c.queue.length ? `, queued ${c.queue.length}` : ''}${c.synced.length ? `, synced ${c.synced.length}` : ''})`;
  },
  describeEvent: (e) => serializeEvent(e).replace(/^xstate\.(done|error)\.actor\./, '$1 ').replace(/^xstate\.after\.(\w+)\..*/, 'after $1'),
});

interface Deferred {
  input: unknown;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** The real machine with controllable effects, beside a connectivity stand-in, on a simulated clock. */
function system() {
  const clock = new SimulatedClock();
  const pending = new Map<string, Deferred>();
  const invoked: Array<{ id: string; input: unknown }> = [];
  // (any input: each stands in for an effect with its own input type)
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const effect = <T>() =>
    fromPromise<T, any>(({ input, self }) => {
      invoked.push({ id: self.id, input });
      return new Promise<T>((resolve, reject) => pending.set(self.id, { input, resolve: resolve as (v: unknown) => void, reject }));
    });
  let connected: ((e: NetworkDiscoveryConnected) => void) | undefined;
  const logic = networkDiscoveryMachine.provide({
    actors: {
      addSeeds: effect<void>(),
      countKnown: effect<number>(),
      pickPeers: effect<PublicKey[]>(),
      syncRound: effect<SyncRoundOutcome>(),
      followConnections: fromCallback(({ sendBack }) => {
        connected = sendBack as (e: NetworkDiscoveryConnected) => void;
        return () => (connected = undefined);
      }) as never,
    },
  });
  const connectivity = recorder<ConnectivityInbox>();
  const s = testSystem({ connectivity: { logic: connectivity.logic }, networkDiscovery: { logic, input } }, { clock });
  const actor = s.get('networkDiscovery');
  const emitted: NetworkDiscoveryEmitted[] = [];
  actor.on('*', (e) => void emitted.push(e as NetworkDiscoveryEmitted));
  return { clock, actor, pending, invoked, connected: () => connected, connectivity, emitted, close: () => s.stop(), crashes: s.crashes };
}
type Sut = ReturnType<typeof system>;

const DELAYS: Record<string, number> = { idleWait: config.idleWaitMs, failureWait: failureWaitFor(config, self), roundTimeout: config.roundTimeoutMs };

async function exec(sut: Sut, event: Ev, expected: Snap): Promise<void> {
  const type = event.type as string;
  const done = /^xstate\.done\.actor\.(\w+)$/.exec(type);
  const error = /^xstate\.error\.actor\.(\w+)$/.exec(type);
  const after = /^xstate\.after\.(\w+)\./.exec(type);
  if (done || error) {
    const id = (done ?? error)![1]!;
    await until(`the ${id} effect runs`, () => sut.pending.has(id));
    const d = sut.pending.get(id)!;
    sut.pending.delete(id);
    if (done) d.resolve((event as unknown as { output: unknown }).output);
    else d.reject(new Error('store closed'));
  } else if (after) sut.clock.increment(DELAYS[after[1]!]!);
  else if (event.type === 'network-discovery.peer-connected') {
    await until('the connections are followed', () => sut.connected() !== undefined);
    sut.connected()!(event);
  } else sut.actor.send(event as Extract<Ev, { type: 'network-discovery.stop' | 'network-discovery.node-running' }>);
  await until(`network discovery reaches ${JSON.stringify(canonical(expected))}`, () => JSON.stringify(canonical(sut.actor.getSnapshot())) === JSON.stringify(canonical(expected)));
}

describe('network discovery machine, model-based (paths from its graph drive the real machine)', function () {
  this.timeout(120_000);

  it('the paths take every transition: the seeds and the node running in either order, the count both ways, picks, rounds fruitful and not, timeouts, the waits, on-connect syncs, stop', () => {
    const taken = new Set(paths.flatMap((p) => p.steps.map((s) => serializeEvent(s.event))));
    for (const t of [
      'xstate.done.actor.addSeeds:',
      'xstate.error.actor.addSeeds',
      'xstate.done.actor.countKnown:60',
      'xstate.done.actor.countKnown:3',
      'xstate.error.actor.countKnown',
      'xstate.done.actor.pickPeers:[0]',
      'xstate.done.actor.pickPeers:[2]',
      'xstate.error.actor.pickPeers',
      'xstate.done.actor.syncRound:added 3',
      'xstate.done.actor.syncRound:added 0',
      'xstate.error.actor.syncRound',
      'xstate.after.roundTimeout.networkDiscovery.discovering.syncing',
      'xstate.done.actor.syncConnected:added 0',
      'xstate.error.actor.syncConnected',
      'xstate.after.roundTimeout.networkDiscovery.onConnect.syncing',
      'xstate.after.idleWait.networkDiscovery.waiting.idle',
      'xstate.after.failureWait.networkDiscovery.waiting.afterFailure',
      `network-discovery.peer-connected:${short(p3)}:out`,
      `network-discovery.peer-connected:${short(p4)}:out`,
      `network-discovery.peer-connected:${short(p2)}:in`,
      `network-discovery.peer-connected:${short(p1)}:in`,
      'network-discovery.node-running',
      'network-discovery.stop',
    ]) {
      expect(taken, t).to.include(t);
    }
    expect(paths.some((p) => p.steps.some((s) => s.state.matches({ waiting: 'idle' }))), 'a cycle ends with the idle wait').to.equal(true);
    // An inbound connection is synced only from a seed: no state of the model ever queued p2, which dialled in.
    expect(paths.some((p) => p.steps.some((s) => s.state.context.queue.some((k) => short(k) === short(p2)) || s.state.context.synced.has(toHex(p2))))).to.equal(false);
    expect(paths.some((p) => p.steps.some((s) => s.state.context.queue.some((k) => short(k) === short(p1)))), 'the seed dialling in is synced').to.equal(true);
    expect(paths.length).to.be.at.least(40);
  });

  for (const path of paths) {
    it(path.name, async () => {
      const sut = system();
      try {
        await runPath(
          path,
          async (event, expected) => {
            const before = { bans: sut.connectivity.seen.length, invoked: sut.invoked.length };
            await exec(sut, event, expected);
            const type = event.type as string;
            // Each server that broke 9.8 went to connectivity for the 2 h ban, and was published.
            const violators = type === 'xstate.done.actor.syncRound' ? [p2] : type === 'xstate.done.actor.syncConnected' ? [p3] : [];
            const outcome = (event as unknown as { output?: SyncRoundOutcome }).output;
            const expectedBans = outcome && violators.length > 0 && outcome.reports.some((r) => r.violation) ? violators : [];
            expect(sut.connectivity.seen.slice(before.bans).map((e) => e.type === 'peer.violation' && [short(e.publicKey), e.durationMs])).to.deep.equal(expectedBans.map((k) => [short(k), BAN_MS]));
            // A pick leaves out the peers tried this cycle; a round syncs the peers picked; an on-connect sync the queue's head.
            for (const inv of sut.invoked.slice(before.invoked)) {
              if (inv.id === 'pickPeers') expect((inv.input as { exclude: PublicKey[] }).exclude.map(short).sort()).to.deep.equal(canonical(expected).tried);
              // Discovering: GetPeers (random claims); on connect: GetCloserPeers, the claims nearest this node.
              const sync = inv.input as { peers: PublicKey[]; n: number; closerTo?: Uint8Array };
              if (inv.id === 'syncRound') expect([sync.peers.map(short), sync.n, sync.closerTo]).to.deep.equal([[p1, p2].map(short), input.config.peersPerSync, undefined]);
              // (p3 dialled by this node, or p1 the seed; never p2, which dialled in, nor p4, a client.)
              if (inv.id === 'syncConnected') {
                expect([sync.n, sync.closerTo && toHex(sync.closerTo)]).to.deep.equal([input.config.onConnectPeers, toHex(nodeIdOf(input.env.self))]);
                expect([[short(p3)], [short(p1)]].map((x) => x.join())).to.include(sync.peers.map(short).join());
              }
            }
          },
          (expected) => {
            const real = sut.actor.getSnapshot();
            expect(real.status).to.equal(expected.status);
            expect(canonical(real)).to.deep.equal(canonical(expected));
            expect(sut.crashes).to.deep.equal([]);
          },
        );
        // Every round published its syncs and its summary.
        const rounds = sut.emitted.filter((e) => e.type === 'network-discovery.round');
        const syncs = sut.emitted.filter((e) => e.type === 'network-discovery.synced');
        expect(syncs.length).to.be.at.least(rounds.length);
      } finally {
        sut.close();
      }
    });
  }
});
