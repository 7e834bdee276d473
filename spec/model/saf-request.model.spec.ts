/**
 * Model-based test (@xstate/graph) of one store-and-forward request (`actors/saf-request`,
 * PROTOCOL.md 9.7). One path per transition of the graph drives a real request actor whose
 * effects hold their promises until the step settles them: reading and saving `since` go to a
 * real memory SAF store, sending records what would be written. Timers run on a SimulatedClock.
 * After every step the real request must be where the model is, tagged `in-flight` exactly when
 * the model is (the data path takes a response only then); at its end it must have reported the
 * model's outcome, and the store must hold the `since` the path saved (or the one it had).
 */
import { expect } from 'chai';
import { SimulatedClock, type EventFromLogic, type SnapshotFrom } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity } from '../../core/keys.js';
import { DEFAULT_SAF_REQUEST_CONFIG, safRequestLogic, safRequestMachine, type SafRequestInput, type SafRequestReport } from '../../actors/saf-request/index.js';
import { MemorySafStore } from '../../storage/saf-memory-store.js';
import { recorder, testSystem } from '../support/actors.js';
import { runPath, transitionCover } from '../support/model.js';
import { until } from '../support/wait.js';

type Snap = SnapshotFrom<typeof safRequestMachine>;
type Ev = EventFromLogic<typeof safRequestMachine>;

const TIMEOUT = 120_000;
const TIMEOUT_TICK = 'xstate.after.responseTimeout.safRequest.inFlight';
const SAVE_TICK = 'xstate.after.saveTimeout.safRequest.saving';
const peer = NodeIdentity.generate().publicKey;
/** The `since` the store holds for the peer before the request. */
const KNOWN_SINCE = 77;
/** The largest stored_at of a response that served messages. */
const SERVED_UP_TO = 500n;

function modelEvents(state: Snap): Ev[] {
  if (state.status === 'done') return [];
  const events: Ev[] = [{ type: 'saf-request.cancel' }];
  if (state.matches('loading')) {
    events.push({ type: 'xstate.done.actor.loadSince', output: KNOWN_SINCE, actorId: 'loadSince' } as unknown as Ev);
    events.push({ type: 'xstate.error.actor.loadSince', error: new Error('store closed'), actorId: 'loadSince' } as unknown as Ev);
  }
  if (state.matches('inFlight')) {
    events.push({ type: 'saf-request.answered', messages: 3, lastStoredAt: SERVED_UP_TO });
    events.push({ type: 'saf-request.answered', messages: 0, lastStoredAt: undefined });
    events.push({ type: 'saf-request.rejected', reason: 'saf_too_many_messages' });
    events.push({ type: TIMEOUT_TICK } as unknown as Ev);
  }
  if (state.matches({ inFlight: 'sending' })) {
    events.push({ type: 'xstate.done.actor.sendRequest', output: undefined, actorId: 'sendRequest' } as unknown as Ev);
    events.push({ type: 'xstate.error.actor.sendRequest', error: new Error('not written'), actorId: 'sendRequest' } as unknown as Ev);
  }
  if (state.matches('saving')) {
    events.push({ type: 'xstate.done.actor.saveSince', output: undefined, actorId: 'saveSince' } as unknown as Ev);
    events.push({ type: 'xstate.error.actor.saveSince', error: new Error('disk full'), actorId: 'saveSince' } as unknown as Ev);
    events.push({ type: SAVE_TICK } as unknown as Ev);
  }
  return events;
}

/** The model's own input: nothing in it runs during traversal. */
const modelInput: SafRequestInput = {
  key: toHex(peer),
  peer,
  limit: 50,
  responseTimeoutMs: TIMEOUT,
  effects: { loadSince: () => Promise.resolve(0), sendRequest: () => Promise.resolve(), saveSince: () => Promise.resolve() },
  owner: { send: () => {} } as never,
};

const paths = transitionCover<Snap, Ev>(safRequestMachine, {
  input: modelInput,
  events: modelEvents,
  serializeState: (s) => JSON.stringify(s.value),
  serializeEvent: (e) => (e.type === 'saf-request.answered' ? `${e.type}:${e.messages}` : e.type),
  describe: (s) => JSON.stringify(s.value).replace(/"/g, ''),
  describeEvent: (e) => (e.type === 'saf-request.answered' ? `answered(${e.messages})` : e.type.replace(/^xstate\.after\.(\w+)\..*/, 'after $1').replace(/^xstate\.(done|error)\.actor\./, '$1 ')),
});

/** A promise an effect returns, settled by the step. */
interface Held<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

/** The real system: a request whose effects wait for the steps, a real memory store behind them, an owner. */
async function system() {
  const clock = new SimulatedClock();
  const store = new MemorySafStore();
  await store.noteServed(peer, KNOWN_SINCE);
  const held: { load?: Held<number>; send?: Held<void>; save?: Held<void> } = {};
  const sent: number[] = [];
  let saving: bigint | undefined;
  const owner = recorder<SafRequestReport>();
  const s = testSystem(
    {
      owner: { logic: owner.logic },
      request: {
        logic: safRequestLogic,
        inputFrom: (get) => ({
          ...modelInput,
          owner: get('owner'),
          effects: {
            loadSince: () => new Promise<number>((resolve, reject) => (held.load = { resolve, reject })),
            sendRequest: (_peer: unknown, since: number) => {
              sent.push(since);
              return new Promise<void>((resolve, reject) => (held.send = { resolve, reject }));
            },
            saveSince: (_peer: unknown, storedAt: bigint) => {
              saving = storedAt;
              return new Promise<void>((resolve, reject) => (held.save = { resolve, reject }));
            },
          },
        }),
      },
    },
    { clock },
  );
  const request = s.get('request');
  return { clock, store, held, sent, saving: () => saving, owner, request, close: () => s.stop(), crashes: s.crashes };
}
type Sut = Awaited<ReturnType<typeof system>>;

async function exec(sut: Sut, event: Ev, expected: Snap): Promise<void> {
  const reached = () => until(`the request reaches ${JSON.stringify(expected.value)}`, () => JSON.stringify(sut.request.getSnapshot().value) === JSON.stringify(expected.value));
  const { held } = sut;
  switch (event.type as string) {
    case 'xstate.done.actor.loadSince':
      await until('since is being read', () => held.load !== undefined);
      held.load!.resolve(await sut.store.sinceOf(peer));
      return reached();
    case 'xstate.error.actor.loadSince':
      await until('since is being read', () => held.load !== undefined);
      held.load!.reject(new Error('the store is closed'));
      return reached();
    case 'xstate.done.actor.sendRequest':
      await until('the request is being written', () => held.send !== undefined);
      held.send!.resolve();
      return reached();
    case 'xstate.error.actor.sendRequest':
      await until('the request is being written', () => held.send !== undefined);
      held.send!.reject(Object.assign(new Error('the peer is gone'), { name: 'PeerDisconnected' }));
      return reached();
    case 'xstate.done.actor.saveSince':
      await until('since is being saved', () => held.save !== undefined);
      await sut.store.noteServed(peer, sut.saving()!);
      held.save!.resolve();
      return reached();
    case 'xstate.error.actor.saveSince':
      await until('since is being saved', () => held.save !== undefined);
      held.save!.reject(new Error('disk full'));
      return reached();
    case TIMEOUT_TICK:
      sut.clock.increment(TIMEOUT);
      return reached();
    case SAVE_TICK:
      await until('since is being saved', () => held.save !== undefined);
      sut.clock.increment(DEFAULT_SAF_REQUEST_CONFIG.saveTimeoutMs);
      return reached();
    default:
      sut.request.send(event as Exclude<Ev, { type: `xstate.${string}` }>);
      return reached();
  }
}

const OUTCOMES = { answered: 'answered', rejected: 'rejected', timedOut: 'timed-out', failed: 'failed', cancelled: 'cancelled' } as const;

/** The real request is where the model is (in flight exactly when it is), and has reported, sent and saved what the path says. */
async function check(sut: Sut, expected: Snap, upTo: ReadonlyArray<{ event: Ev }>): Promise<void> {
  const snapshot = sut.request.getSnapshot();
  expect(JSON.stringify(snapshot.value)).to.equal(JSON.stringify(expected.value));
  expect(snapshot.hasTag('in-flight'), 'in flight').to.equal(expected.hasTag('in-flight'));
  const types = upTo.map((s) => s.event.type as string);
  const loaded = types.includes('xstate.done.actor.loadSince');
  // Once past loading, the request went out with the since read (0 when it could not be).
  if (types.some((t) => t.includes('actor.loadSince'))) expect(sut.sent).to.deep.equal([loaded ? KNOWN_SINCE : 0]);
  else expect(sut.sent).to.deep.equal([]);
  const saved = types.includes('xstate.done.actor.saveSince');
  expect(await sut.store.sinceOf(peer), 'since in the store').to.equal(saved ? Number(SERVED_UP_TO) : KNOWN_SINCE);
  const reports = sut.owner.seen;
  if (expected.status !== 'done') {
    expect(reports).to.deep.equal([]);
    return;
  }
  expect(reports).to.have.length(1);
  const end = (Object.keys(OUTCOMES) as Array<keyof typeof OUTCOMES>).find((k) => expected.matches(k))!;
  expect(reports[0]).to.deep.include({ type: 'saf.request-ended', key: toHex(peer), outcome: OUTCOMES[end] });
  const answered = upTo.find((s) => s.event.type === 'saf-request.answered')?.event;
  expect(reports[0]!.messages).to.equal(answered?.type === 'saf-request.answered' ? answered.messages : 0);
  if (end === 'rejected') expect(reports[0]!.error?.name).to.equal('SafResponseRejected');
  if (end === 'failed') expect(reports[0]!.error?.name).to.equal('PeerDisconnected');
  expect(sut.crashes).to.deep.equal([]);
}

describe('safRequest machine, model-based (paths from its graph drive a real request)', function () {
  this.timeout(60_000);

  it('the paths take every transition: since read or not, written or not, answered with and without messages, rejected, timed out, since saved, failed or timed out, cancel', () => {
    const taken = new Set(paths.flatMap((p) => p.steps.map((s) => s.event.type)));
    for (const t of [
      'xstate.done.actor.loadSince',
      'xstate.error.actor.loadSince',
      'xstate.done.actor.sendRequest',
      'xstate.error.actor.sendRequest',
      'saf-request.answered',
      'saf-request.rejected',
      TIMEOUT_TICK,
      'xstate.done.actor.saveSince',
      'xstate.error.actor.saveSince',
      SAVE_TICK,
      'saf-request.cancel',
    ]) {
      expect(taken).to.include(t);
    }
    for (const end of Object.keys(OUTCOMES) as Array<keyof typeof OUTCOMES>) expect(paths.some((p) => p.steps.at(-1)!.state.matches(end)), end).to.equal(true);
    // Answered while still sending (the peer answered before the write was confirmed) is a path too.
    expect(paths.some((p) => p.steps.some((s, i) => s.event.type === 'saf-request.answered' && p.steps[i - 1]?.state.matches({ inFlight: 'sending' })))).to.equal(true);
    expect(paths.length).to.be.at.least(18);
  });

  for (const path of paths) {
    it(path.name, async () => {
      const sut = await system();
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
