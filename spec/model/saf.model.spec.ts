/**
 * Model-based test (@xstate/graph) of the store-and-forward component (`actors/saf`, PROTOCOL.md
 * 9.7). One path per transition of the graph (states told apart by the requests in flight)
 * drives a real component with real request actors: connections are the events
 * `followConnections` would send, a request ends when its held write fails, the sweep's promise is
 * settled by the step, timers run on a SimulatedClock. After every step the real component must
 * be where the model is, with the same requests in flight, each a live `safRequest` child; and
 * it must have published what the path did, and keep open (`connectivity.keep`) exactly the
 * connections of the peers it is asking.
 */
import { expect } from 'chai';
import { SimulatedClock, type EventFromLogic, type SnapshotFrom } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity } from '../../core/keys.js';
import { SAF_KEEP_HOLDER, safLogic, safMachine, safRequestId, type SafEmitted, type SafInput } from '../../actors/saf/index.js';
import { recorder, testSystem } from '../support/actors.js';
import { runPath, transitionCover } from '../support/model.js';
import { until } from '../support/wait.js';

type Snap = SnapshotFrom<typeof safMachine>;
type Ev = EventFromLogic<typeof safMachine>;

const SWEEP_MS = 60_000;
/** A small request limit, so that a full response is easy to make. */
const LIMIT = 2;
const SWEEP_TICK = 'xstate.after.sweepInterval.saf.running.idle';
const p1 = NodeIdentity.generate().publicKey;
const p2 = NodeIdentity.generate().publicKey;
const q = NodeIdentity.generate().publicKey;

function modelEvents(state: Snap): Ev[] {
  if (state.status === 'done') return [];
  const events: Ev[] = [
    { type: 'saf.stop' },
    { type: 'saf.peer-connected', publicKey: p1, features: 3 },
    { type: 'saf.peer-connected', publicKey: p2, features: 2 },
    { type: 'saf.peer-connected', publicKey: q, features: 1 }, // no store-and-forward: not asked
    { type: 'saf.peer-disconnected', publicKey: p1 },
    { type: 'saf.response-rejected', publicKey: q, reason: 'no request in flight' },
  ];
  if (state.context.requests.has(toHex(p1))) {
    events.push({ type: 'saf.request-ended', key: toHex(p1), outcome: 'failed', messages: 0, error: undefined });
    // A full response (LIMIT messages): another round, while the connection has rounds left.
    events.push({ type: 'saf.request-ended', key: toHex(p1), outcome: 'answered', messages: LIMIT, error: undefined });
  }
  if (state.matches({ running: 'idle' })) events.push({ type: SWEEP_TICK } as unknown as Ev);
  if (state.matches({ running: 'sweeping' })) {
    events.push({ type: 'xstate.done.actor.sweep', output: { count: 1_000, more: true }, actorId: 'sweep' } as unknown as Ev);
    events.push({ type: 'xstate.done.actor.sweep', output: { count: 3, more: false }, actorId: 'sweep' } as unknown as Ev);
    events.push({ type: 'xstate.error.actor.sweep', error: new Error('disk'), actorId: 'sweep' } as unknown as Ev);
  }
  return events;
}

/** The model's own input: one request in flight at most, so that a second SAF peer is skipped. */
const modelInput: SafInput = {
  config: { request: true, requestLimit: LIMIT, responseTimeoutMs: 120_000, maxRequestsInFlight: 1, maxRequestRounds: 2, sweepIntervalMs: SWEEP_MS },
  effects: { loadSince: () => Promise.resolve(0), sendRequest: () => Promise.resolve(), saveSince: () => Promise.resolve(), sweep: () => Promise.resolve({ count: 0, more: false }) },
};

const requestsOf = (s: Snap) => [...s.context.requests].map(([k, r]) => `${k}:${r.round}`).sort();

const paths = transitionCover<Snap, Ev>(safMachine, {
  input: modelInput,
  events: modelEvents,
  serializeState: (s) => JSON.stringify([s.value, requestsOf(s)]),
  serializeEvent: (e) => {
    if (e.type === 'saf.peer-connected' || e.type === 'saf.peer-disconnected' || e.type === 'saf.response-rejected') return `${e.type}:${toHex(e.publicKey)}`;
    if ((e.type as string) === 'xstate.done.actor.sweep') return `${e.type}:${(e as unknown as { output: { more: boolean } }).output.more}`;
    if (e.type === 'saf.request-ended') return `${e.type}:${e.outcome}`;
    return e.type;
  },
  describe: (s) => `${JSON.stringify(s.value).replace(/"/g, '')}${[...s.context.requests].map(([k, r]) => ` (asking ${k === toHex(p1) ? 'p1' : 'p2'}, round ${r.round})`).join('')}`,
  describeEvent: (e) => {
    const who = (k: Uint8Array) => (toHex(k) === toHex(p1) ? 'p1' : toHex(k) === toHex(p2) ? 'p2' : 'q');
    if (e.type === 'saf.peer-connected' || e.type === 'saf.peer-disconnected') return `${e.type.slice(4)}(${who(e.publicKey)})`;
    if ((e.type as string) === 'xstate.done.actor.sweep') return `swept(more: ${(e as unknown as { output: { more: boolean } }).output.more})`;
    if (e.type === 'saf.request-ended') return `request ${e.outcome}${e.outcome === 'answered' ? ' full' : ''}`;
    return e.type.replace(/^xstate\.after\.(\w+)\..*/, 'after $1');
  },
});

/** The real system: the component with real requests whose writes wait, and a sweep the step settles. */
function system() {
  const clock = new SimulatedClock();
  const writes = new Map<string, { reject(e: Error): void }>();
  let sweeping: { resolve(r: { count: number; more: boolean }): void; reject(e: Error): void } | undefined;
  let sweeps = 0;
  const connectivity = recorder<{ type: string; holder?: string; publicKeys?: readonly Uint8Array[] }>();
  const s = testSystem(
    {
      // Where the component keeps its peers' connections open while their requests are in flight.
      connectivity: { logic: connectivity.logic },
      saf: {
        logic: safLogic, // no connection manager in this system: followConnections follows nothing
        input: {
          ...modelInput,
          effects: {
            loadSince: () => Promise.resolve(0),
            sendRequest: (peer: Uint8Array) => new Promise<void>((_, reject) => void writes.set(toHex(peer), { reject })),
            saveSince: () => Promise.resolve(),
            sweep: () => {
              sweeps++;
              return new Promise((resolve, reject) => (sweeping = { resolve, reject }));
            },
          },
        },
      },
    },
    { clock },
  );
  const saf = s.get('saf');
  const facts: SafEmitted[] = [];
  for (const type of ['saf.request-started', 'saf.request-ended', 'saf.response-rejected', 'saf.request-skipped', 'saf.sweep-failed'] as const) saf.on(type, (e) => facts.push(e));
  return { clock, saf, writes, facts, kept: connectivity.seen, sweeping: () => sweeping, sweeps: () => sweeps, close: () => s.stop(), crashes: s.crashes };
}
type Sut = ReturnType<typeof system>;

async function exec(sut: Sut, event: Ev, expected: Snap): Promise<void> {
  const reached = () =>
    until(`the component reaches ${JSON.stringify(expected.value)} asking ${requestsOf(expected).length}`, () => {
      const real = sut.saf.getSnapshot();
      return JSON.stringify(real.value) === JSON.stringify(expected.value) && JSON.stringify(requestsOf(real)) === JSON.stringify(requestsOf(expected));
    });
  switch (event.type as string) {
    case 'saf.request-ended': {
      await until('p1\'s request is being written', () => sut.writes.has(toHex(p1)));
      if ((event as { outcome: string }).outcome === 'answered') {
        // The data path took a full response for it: the request reports `answered` with LIMIT messages.
        const child = sut.saf.getSnapshot().children[safRequestId(p1)] as { send(e: { type: 'saf-request.answered'; messages: number; lastStoredAt: undefined }): void };
        sut.writes.delete(toHex(p1));
        child.send({ type: 'saf-request.answered', messages: LIMIT, lastStoredAt: undefined });
        return reached();
      }
      // The request's write fails: it reports `failed` to the component, as a real one does.
      sut.writes.get(toHex(p1))!.reject(new Error('not written'));
      sut.writes.delete(toHex(p1));
      return reached();
    }
    case SWEEP_TICK:
      sut.clock.increment(SWEEP_MS);
      return reached();
    case 'xstate.done.actor.sweep': {
      const before = sut.sweeps();
      await until('a sweep runs', () => sut.sweeping() !== undefined);
      sut.sweeping()!.resolve((event as unknown as { output: { count: number; more: boolean } }).output);
      const again = (event as unknown as { output: { more: boolean } }).output.more;
      if (again) await until('the next batch is swept', () => sut.sweeps() === before + 1);
      return reached();
    }
    case 'xstate.error.actor.sweep':
      await until('a sweep runs', () => sut.sweeping() !== undefined);
      sut.sweeping()!.reject(new Error('the store failed'));
      return reached();
    default:
      if (event.type === 'saf.peer-disconnected') sut.writes.delete(toHex(event.publicKey));
      sut.saf.send(event as Exclude<Ev, { type: `xstate.${string}` }>);
      return reached();
  }
}

/** Where the model is, with the same requests, each a live child; the facts the path should have published. */
function check(sut: Sut, expected: Snap, upTo: ReadonlyArray<{ event: Ev; state: Snap }>): void {
  const real = sut.saf.getSnapshot();
  const took = (type: string) => upTo.filter((s) => (s.event.type === 'saf.request-ended' ? `${s.event.type}:${s.event.outcome}` : (s.event.type as string)) === type).length;
  expect(JSON.stringify(real.value)).to.equal(JSON.stringify(expected.value));
  expect(requestsOf(real)).to.deep.equal(requestsOf(expected));
  for (const [, r] of expected.context.requests) expect(real.children[safRequestId(r.peer)]?.getSnapshot().status, 'a live request').to.equal('active');
  // Each round started is published with its number, and ended once.
  const rounds = sut.facts.filter((f) => f.type === 'saf.request-started').map((f) => (f.type === 'saf.request-started' ? f.round : 0));
  const followUps = upTo.filter((s) => s.event.type === 'saf.request-ended' && s.event.outcome === 'answered' && (s.state.context.requests.get(toHex(p1))?.round ?? 0) > 1).length;
  expect(rounds.filter((r) => r === 2).length, 'follow-up rounds').to.equal(followUps);
  const count = (type: SafEmitted['type']) => sut.facts.filter((f) => f.type === type).length;
  expect(count('saf.response-rejected')).to.equal(took('saf.response-rejected'));
  expect(count('saf.sweep-failed')).to.equal(took('xstate.error.actor.sweep'));
  // Started and ended requests pair up with the model's: each start is p1's or p2's, never q's.
  for (const f of sut.facts) if (f.type === 'saf.request-started') expect(toHex(f.publicKey)).to.not.equal(toHex(q));
  expect(count('saf.request-started') - count('saf.request-ended')).to.equal(expected.status === 'done' ? count('saf.request-started') - count('saf.request-ended') : requestsOf(expected).length);
  // The connections of the peers asked are kept open (9.7: an answer lost to a connection this
  // node closed is lost for good), exactly while their requests are in flight.
  const keeps = sut.kept.filter((e) => e.type === 'connectivity.keep' && e.holder === SAF_KEEP_HOLDER);
  const kept = keeps.length === 0 ? [] : (keeps[keeps.length - 1]!.publicKeys ?? []).map(toHex).sort();
  expect(kept, 'kept open').to.deep.equal(expected.status === 'done' ? [] : [...expected.context.requests.keys()].sort());
  expect(sut.crashes).to.deep.equal([]);
}

describe('saf machine, model-based (paths from its graph drive a real component)', function () {
  this.timeout(60_000);

  it('the paths take every transition: SAF peers asked, others not, one beyond the bound skipped, a disconnection cancelling, requests ending, sweeps in batches, failing, stop', () => {
    const taken = new Set(paths.flatMap((p) => p.steps.map((s) => s.event.type as string)));
    expect(paths.some((p) => p.steps.some((s) => s.event.type === 'saf.request-ended' && s.event.outcome === 'answered' && s.state.context.requests.get(toHex(p1))?.round === 2)), 'a second round').to.equal(true);
    expect(paths.some((p) => p.steps.some((s, i) => s.event.type === 'saf.request-ended' && s.event.outcome === 'answered' && p.steps[i - 1]!.state.context.requests.get(toHex(p1))?.round === 2 && s.state.context.requests.size === 0)), 'no third').to.equal(true);
    for (const t of ['saf.peer-connected', 'saf.peer-disconnected', 'saf.request-ended', 'saf.response-rejected', SWEEP_TICK, 'xstate.done.actor.sweep', 'xstate.error.actor.sweep', 'saf.stop']) expect(taken).to.include(t);
    expect(paths.some((p) => p.steps.some((s) => s.event.type === 'saf.peer-connected' && toHex(s.event.publicKey) === toHex(p2) && s.state.context.requests.size === 1 && !s.state.context.requests.has(toHex(p2))))).to.equal(true);
    expect(paths.length).to.be.at.least(20);
  });

  for (const path of paths) {
    it(path.name, async () => {
      const sut = system();
      try {
        await runPath(
          path,
          (event, expected) => exec(sut, event, expected),
          (expected) => check(sut, expected, path.steps.slice(0, path.steps.findIndex((s) => s.state === expected) + 1)),
        );
      } finally {
        sut.close();
      }
    });
  }
});
