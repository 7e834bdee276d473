/**
 * Model-based test (@xstate/graph) of a peer's outbox (`actors/outbox`): idle, opening, open,
 * stopped. The outbox reads its queue's length when a substream is lost (re-open, fail the
 * queue, or neither), so the model is the machine in its world (`spec/support/world-model.ts`):
 * where the one accepted message is (none unsettled, queued, or taken by the writer and in
 * flight), and whether the idle timer is still armed. One path per transition drives the real
 * outbox (`outboxLogic`, its real writer) in a test system on a SimulatedClock, with a stand-in
 * connection manager that holds each substream request until the step answers it: with a REAL
 * yamux substream of a real connection over the memory transport (the far peer negotiates it
 * and decodes the frames), with a failure, or late. Bodies are larger than a substream's first
 * window, so a message stays in flight until the step lets the far end read (`outbox.flowing`).
 * Faults: the far end resets its substream, or writes on it (a protocol error: our writer
 * resets it); both are `outbox.lost`.
 *
 * After every step: the real outbox is where the model is (state, re-openings), its queue holds
 * what the model says, every accepted message is settled at most once and as the model implies
 * (written, or failed with the open's error, OpenTimeout, or the loss), the far peer decoded
 * exactly the messages written, in order, the owner heard `outbox.idle`/`outbox.ended` as the
 * model says, and the connection manager was asked once per opening.
 */
import { expect } from 'chai';
import { fromCallback, SimulatedClock, type EventFromLogic } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { toPlainError, type PlainError } from '../../core/errors.js';
import type { ConnectionManagerInbox } from '../../actors/connection-manager/index.js';
import { DEFAULT_OUTBOX_CONFIG, outboxLogic, outboxMachine, OutboxQueue, type OutboxReport, type SendOutcome } from '../../actors/outbox/index.js';
import { ConnectionRefused } from '../../transports/errors.js';
import { recorder, testSystem } from '../support/actors.js';
import { connectedPair } from '../support/connections.js';
import { labelled, MessagingPeer, type FarSubstream } from '../support/messaging-peer.js';
import { runPath, transitionCover, type ModelPath } from '../support/model.js';
import { until } from '../support/wait.js';
import { pathTitle, worldModel, type WorldState } from '../support/world-model.js';

type Ev = EventFromLogic<typeof outboxMachine>;
/** Where the path's one unsettled message is: none, in the queue, or taken by the writer (in flight). */
type Message = 'none' | 'queued' | 'writing';
interface World {
  message: Message;
  /** In idle: the idle timer has not fired yet. */
  idleArmed: boolean;
}
type S = WorldState<typeof outboxMachine, World>;
type OpenStream = Extract<ConnectionManagerInbox, { type: 'connection-manager.open-stream' }>;

const IDLE_MS = 1_000;
const IDLE_TICK = 'xstate.after.idleTimeout.outbox.idle';
const OPEN_TICK = 'xstate.after.openTimeout.outbox.opening';
/** Above a substream's first window (256 KiB) and what a far end that does not read takes in besides. */
const BODY_BYTES = 640 * 1024;
const WINDOW = 256 * 1024;
const REFUSED = toPlainError(new ConnectionRefused('/memory/1'));
const RESET: PlainError = { name: 'StreamReset', message: 'the far end reset the substream', kind: 'transport' };
const VIOLATION: PlainError = { name: 'MessagingViolation', message: 'the far end wrote on the substream', kind: 'internal' };
const PROTOCOL = '/tari/messaging/0.1.0';
const MODEL_KEY = 'peer';
/** A substream in the model (nothing runs during traversal). */
const modelStream = {} as never;

/** The model's queue: its length is set from the world before each transition (the machine's guards read it). */
const modelQueue = { length: 0 };

const model = worldModel<typeof outboxMachine, World, Ev>(outboxMachine, {
  input: { key: MODEL_KEY, publicKey: new Uint8Array(32), queue: modelQueue, owner: { send: () => {} }, idleTimeoutMs: IDLE_MS },
  world: { message: 'none', idleArmed: true },
  components: ['connectionManager'],
  // A lost substream's writer puts its unwritten message back first: the queue holds it.
  expose: (world) => void (modelQueue.length = world.message === 'none' ? 0 : 1),
  next: (prev, event, snap) => {
    let { message, idleArmed } = prev.world;
    const from = prev.snap.value;
    const to = snap.value;
    if (event.type === 'outbox.wake') message = 'queued';
    if (event.type === 'outbox.flowing') message = 'none';
    if (from === 'opening' && to === 'open') message = 'writing';
    if (from === 'open' && to === 'opening') message = 'queued';
    // Idle is entered with the queue failed or empty, and the timer armed again.
    if (to === 'idle' && from !== 'idle') message = 'none';
    // Entering idle arms the idle timer; it fires once (outside idle it does not matter: kept canonical).
    if (to !== 'idle' || from !== 'idle') idleArmed = true;
    else if ((event.type as string) === IDLE_TICK) idleArmed = false;
    return { message, idleArmed };
  },
});

function modelEvents(s: S): Ev[] {
  if (s.snap.status === 'done') return [];
  const current = `outbox:${MODEL_KEY}:${s.snap.context.requests}`;
  const events: Ev[] = [{ type: 'outbox.stop' }, { type: 'peer-connection.substream', requestId: `outbox:${MODEL_KEY}:late`, ok: true, stream: modelStream, protocol: PROTOCOL }];
  if (s.snap.value === 'idle') {
    events.push({ type: 'outbox.wake' });
    if (s.world.idleArmed) events.push({ type: IDLE_TICK } as unknown as Ev);
  }
  if (s.snap.value === 'opening') {
    events.push({ type: 'peer-connection.substream', requestId: current, ok: true, stream: modelStream, protocol: PROTOCOL });
    events.push({ type: 'peer-connection.substream', requestId: current, ok: false, error: REFUSED });
    events.push({ type: OPEN_TICK } as unknown as Ev);
  }
  if (s.snap.value === 'open') {
    events.push({ type: 'outbox.lost', error: RESET }, { type: 'outbox.lost', error: VIOLATION });
    if (s.world.message === 'writing') events.push({ type: 'outbox.flowing' });
  }
  return events;
}

/** A short name for a model event. */
function label(e: Ev): string {
  switch (e.type as string) {
    case 'peer-connection.substream': {
      const r = e as Extract<Ev, { type: 'peer-connection.substream' }>;
      return r.requestId.endsWith(':late') ? 'late substream' : r.ok ? 'substream opened' : 'open failed';
    }
    case 'outbox.lost':
      return (e as Extract<Ev, { type: 'outbox.lost' }>).error === RESET ? 'lost (far end resets)' : 'lost (far end writes)';
    case IDLE_TICK:
      return 'after idleTimeout';
    case OPEN_TICK:
      return 'after openTimeout';
    default:
      return e.type;
  }
}

function describe_(s: S): string {
  const v = String(s.snap.value);
  if (v === 'stopped') return 'stopped';
  const parts = [];
  if (s.snap.context.reopens > 0) parts.push(`reopens ${s.snap.context.reopens}`);
  if (s.world.message === 'writing') parts.push('in flight');
  if (v === 'idle' && !s.world.idleArmed) parts.push('reported idle');
  return parts.length ? `${v}(${parts.join(', ')})` : v;
}

/** Canonical: the keys in a fixed order, the request counter left out (it only grows). */
const canonical = (s: S) =>
  s.snap.status === 'done'
    ? { value: 'stopped', message: s.world.message }
    : { value: s.snap.value, reopens: s.snap.context.reopens, message: s.world.message, idleArmed: s.world.idleArmed };

const paths: Array<ModelPath<S, Ev>> = transitionCover<S, Ev>(model, {
  input: undefined,
  events: modelEvents,
  serializeState: (s) => JSON.stringify(canonical(s)),
  describe: describe_,
});

/** What the real system must show after a step (kept by the executor from the model's steps). */
interface Ledger {
  /** Each accepted message and the outcome the model implies ('ok', an error name, or not settled yet). */
  messages: Array<{ label: string; outcome: string | undefined }>;
  /** Labels the far peer must have decoded, in order. */
  delivered: string[];
  /** What the owner must have heard. */
  reports: Array<OutboxReport['type']>;
  /** Substream requests the connection manager must have seen. */
  requests: number;
}

/** The real system: the outbox, a stand-in connection manager holding its requests, the far peer of a real connection. */
async function system() {
  const pair = await connectedPair();
  const peer = new MessagingPeer(pair.inbound, { read: false });
  const clock = new SimulatedClock();
  const queue = new OutboxQueue(8);
  const requests: OpenStream[] = [];
  const answered = new Set<string>();
  const cm = fromCallback<ConnectionManagerInbox>(({ receive }) => receive((e) => void (e.type === 'connection-manager.open-stream' ? requests.push(e) : undefined)));
  const owner = recorder<OutboxReport>();
  const key = toHex(pair.b.identity.publicKey);
  const s = testSystem(
    {
      connectionManager: { logic: cm },
      owner: { logic: owner.logic },
      outbox: { logic: outboxLogic, inputFrom: (get) => ({ key, publicKey: pair.b.identity.publicKey, queue, owner: get('owner'), idleTimeoutMs: IDLE_MS }) },
    },
    { clock },
  );
  const outcomes = new Map<string, SendOutcome[]>();
  return {
    pair,
    peer,
    clock,
    queue,
    requests,
    answered,
    owner,
    key,
    outbox: s.get('outbox'),
    crashes: s.crashes,
    outcomes,
    /** The far end of the substream the outbox writes on now. */
    current: undefined as FarSubstream | undefined,
    /** Accepts a message (as the sending side does) and records how it settles. */
    accept(label: string): void {
      outcomes.set(label, []);
      queue.push({ body: labelled(label, BODY_BYTES), settle: (o) => void outcomes.get(label)!.push(o) });
    },
    /** Opens a real messaging substream on the connection; resolves with both ends. */
    async openSubstream() {
      const { stream, protocol } = await pair.outbound.openStream([PROTOCOL]);
      let far: FarSubstream | undefined;
      await until('the far peer accepted the substream', () => (far = peer.byId(stream.id)) !== undefined);
      return { stream, protocol, far: far! };
    },
    close(): void {
      s.stop();
      pair.outbound.muxer.abort();
      pair.inbound.muxer.abort();
    },
  };
}
type Sut = Awaited<ReturnType<typeof system>>;

const valueOf = (sut: Sut) => (sut.outbox.getSnapshot().status === 'done' ? 'stopped' : String(sut.outbox.getSnapshot().value));

async function exec(sut: Sut, event: Ev, before: S, after: S, ledger: Ledger, step: number): Promise<void> {
  const reached = () => until(`the outbox reaches ${valueOf(sut)} -> ${String(after.snap.value)}`, () => valueOf(sut) === (after.snap.status === 'done' ? 'stopped' : String(after.snap.value)));
  const last = ledger.messages.at(-1);
  const entersOpening = after.snap.value === 'opening' && before.snap.value !== 'opening';
  if (entersOpening) ledger.requests++;
  const requested = () => until('the connection manager was asked for a substream', () => sut.requests.length === ledger.requests);
  switch (label(event)) {
    case 'outbox.wake': {
      const name = `m${step}`;
      sut.accept(name);
      ledger.messages.push({ label: name, outcome: undefined });
      sut.outbox.send({ type: 'outbox.wake' });
      await reached();
      return requested();
    }
    case 'substream opened': {
      const request = sut.requests.at(-1)!;
      const { stream, protocol, far } = await sut.openSubstream();
      sut.answered.add(request.requestId);
      request.replyTo.send({ type: 'peer-connection.substream', requestId: request.requestId, ok: true, stream, protocol });
      await reached();
      sut.current = far;
      // The writer took the message and is held by the window: the far end does not read.
      return until('the far end holds a full window', () => far.unread >= WINDOW - 1024);
    }
    case 'open failed': {
      const request = sut.requests.at(-1)!;
      sut.answered.add(request.requestId);
      request.replyTo.send({ type: 'peer-connection.substream', requestId: request.requestId, ok: false, error: REFUSED });
      last!.outcome = REFUSED.name;
      return reached();
    }
    case 'late substream': {
      // A request the outbox no longer waits for, answered now (one timed out), or an answer it never asked for.
      const waiting = before.snap.value === 'opening' ? sut.requests.at(-1) : undefined;
      const late = sut.requests.find((r) => r !== waiting && !sut.answered.has(r.requestId));
      const { stream, protocol, far } = await sut.openSubstream();
      const requestId = late?.requestId ?? `outbox:${sut.key}:never-asked`;
      if (late) sut.answered.add(late.requestId);
      sut.outbox.send({ type: 'peer-connection.substream', requestId, ok: true, stream, protocol });
      await until('the outbox closed the late substream', () => far.closed);
      expect(far.error?.name).to.equal('StreamReset');
      return reached();
    }
    case 'after openTimeout':
      sut.clock.increment(DEFAULT_OUTBOX_CONFIG.openTimeoutMs);
      last!.outcome = 'OpenTimeout';
      return reached();
    case 'after idleTimeout':
      sut.clock.increment(IDLE_MS);
      ledger.reports.push('outbox.idle');
      return until('the owner heard outbox.idle', () => sut.owner.seen.length === ledger.reports.length);
    case 'outbox.flowing':
      sut.current!.read();
      last!.outcome = 'ok';
      ledger.delivered.push(last!.label);
      return until('the write completed', () => sut.outbox.getSnapshot().context.reopens === 0 && sut.outcomes.get(last!.label)!.length > 0);
    case 'lost (far end resets)':
    case 'lost (far end writes)': {
      const far = sut.current!;
      sut.current = undefined;
      if (label(event) === 'lost (far end resets)') far.stream.destroy();
      else far.stream.write(Buffer.of(1));
      if (after.snap.value === 'idle' && before.world.message === 'writing') last!.outcome = (event as Extract<Ev, { type: 'outbox.lost' }>).error!.name;
      await reached();
      await until('the substream is gone', () => far.closed);
      if (after.snap.value === 'opening') await requested();
      return;
    }
    case 'outbox.stop': {
      sut.outbox.send({ type: 'outbox.stop' });
      ledger.reports.push('outbox.ended');
      await reached();
      const far = sut.current;
      if (before.snap.value === 'open' && far) {
        if (before.world.message === 'writing') {
          // A message taken before the stop settles when its write does: the far end reads now.
          expect(sut.outcomes.get(last!.label)).to.deep.equal([]);
          far.read();
          last!.outcome = 'ok';
          ledger.delivered.push(last!.label);
        }
        // The writer ended our side of the substream (after what it had written).
        await until('the far end saw our FIN', () => far.ended);
      }
      return;
    }
    default:
      throw new Error(`no executor for ${label(event)}`);
  }
}

/** Polls until `actual()` deep-equals `expected` (bounded), then asserts it. */
async function settled<T>(what: string, actual: () => T, expected: T): Promise<void> {
  const same = () => JSON.stringify(actual()) === JSON.stringify(expected);
  await until(what, same, 5_000).catch(() => undefined);
  expect(actual(), what).to.deep.equal(expected);
}

async function check(sut: Sut, expected: S, ledger: Ledger): Promise<void> {
  const real = sut.outbox.getSnapshot();
  if (expected.snap.status === 'done') expect(real.status).to.equal('done');
  else expect({ value: real.value, reopens: real.context.reopens }).to.deep.equal({ value: expected.snap.value, reopens: expected.snap.context.reopens });
  expect(sut.queue.length, 'messages in the queue').to.equal(expected.world.message === 'queued' ? 1 : 0);
  const outcome = (o: SendOutcome) => (o.ok ? 'ok' : o.error.name);
  await settled(
    'every accepted message settled at most once, as the model implies',
    () => [...sut.outcomes].map(([l, os]) => ({ label: l, outcomes: os.map(outcome) })),
    ledger.messages.map((m) => ({ label: m.label, outcomes: m.outcome === undefined ? [] : [m.outcome] })),
  );
  await settled('messages the far peer decoded, in order', () => sut.peer.labels(), ledger.delivered);
  expect(sut.owner.seen).to.deep.equal(ledger.reports.map((type) => ({ type, key: sut.key })));
  expect(sut.requests.length, 'substream requests').to.equal(ledger.requests);
  for (const r of sut.requests) expect(r.protocols).to.deep.equal([PROTOCOL]);
  expect(sut.crashes).to.deep.equal([]);
}

describe('outbox machine, model-based (paths from its graph drive a real outbox over real substreams)', function () {
  this.timeout(30_000);

  it('the paths take every transition: wake, open (ok, failed, late, timed out), flowing, lost within and beyond maxReopens and with nothing queued, idle timeout, stop in every state', () => {
    const edges = new Set(
      paths.flatMap((p) => p.steps.slice(1).map((s, i) => `${String(p.steps[i]!.state.snap.value)}|${label(s.event)}|${String(s.state.snap.value)}`)),
    );
    for (const e of [
      'idle|outbox.wake|opening',
      'idle|late substream|idle',
      'idle|after idleTimeout|idle',
      'idle|outbox.stop|stopped',
      'opening|substream opened|open',
      'opening|open failed|idle',
      'opening|late substream|opening',
      'opening|after openTimeout|idle',
      'opening|outbox.stop|stopped',
      'open|outbox.flowing|open',
      'open|lost (far end resets)|opening',
      'open|lost (far end writes)|opening',
      'open|lost (far end resets)|idle',
      'open|lost (far end writes)|idle',
      'open|late substream|open',
      'open|outbox.stop|stopped',
    ])
      expect(edges).to.include(e);
    const ends = paths.map((p) => p.steps.at(-1)!);
    // Lost with a message in flight: re-opened once (within maxReopens), then the queue fails (beyond it).
    expect(ends.some((s) => s.state.snap.value === 'opening' && s.state.snap.context.reopens === DEFAULT_OUTBOX_CONFIG.maxReopens)).to.equal(true);
    expect(paths.some((p) => p.steps.some((s, i) => i > 0 && s.event.type === 'outbox.lost' && p.steps[i - 1]!.state.snap.context.reopens === 1 && s.state.snap.value === 'idle'))).to.equal(true);
    // Lost with nothing queued (after the write completed): idle, nothing failed.
    expect(paths.some((p) => p.steps.some((s, i) => i > 0 && s.event.type === 'outbox.lost' && p.steps[i - 1]!.state.world.message === 'none'))).to.equal(true);
    // A substream that wrote resets the re-openings.
    expect(paths.some((p) => p.steps.some((s, i) => i > 0 && s.event.type === 'outbox.flowing' && p.steps[i - 1]!.state.snap.context.reopens === 1))).to.equal(true);
    expect(paths.length).to.be.at.least(25);
  });

  for (const path of paths) {
    it(pathTitle(path, label, describe_), async () => {
      const sut = await system();
      const ledger: Ledger = { messages: [], delivered: [], reports: [], requests: 0 };
      let step = 0;
      try {
        await runPath(
          path,
          async (event) => {
            const i = ++step;
            await exec(sut, event, path.steps[i - 1]!.state, path.steps[i]!.state, ledger, i);
          },
          (expected) => check(sut, expected, ledger),
        );
      } finally {
        sut.close();
      }
    });
  }
});
