/**
 * Model-based test (@xstate/graph) of the messaging actor (`actors/messaging`): running,
 * stopping, stopped, with two peers. The actor decides on its peers' queues (an idle outbox is
 * ended only when its queue is empty), so the model is the machine in its world
 * (`spec/support/world-model.ts`): for each peer, whether it has no outbox, an outbox with an
 * open substream and an empty queue, or an idle outbox with a message queued whose wake-up has
 * not reached the actor yet (the race `outbox.idle` against `messaging.wake`).
 *
 * One path per transition drives the real messaging machine with its real outbox host and real
 * outboxes (`messagingMachine` with `outboxHost` from `messaging.logic.ts`), the real sending
 * side (`Messaging`) and the real inbound handler (`messagingHandler`), in a test system on a
 * SimulatedClock. The stand-in connection manager answers each substream request with a REAL
 * yamux substream of a real connection (memory transport) to that peer, whose far end decodes
 * the frames. The far peers also open messaging substreams to us: an oversized frame is a
 * violation, a frame cut short a truncation. Two seams, both delays of a message in flight:
 * the sending side's wake-up to the actor can be held (the race above), and while stopping, the
 * host's `outbox.stop` to each outbox is held until the step lets it through (so each
 * `outbox.ended`, and the stop timeout, is a step of its own).
 *
 * After every step: the actor is where the model is (state, its outboxes), its host holds the
 * outboxes the model says (`context.directory.size`), the messages were delivered to each far
 * peer in order and settled once as the model implies, the facts it emitted
 * (`messaging.outbox-dropped`, `messaging.outbox-crashed`, `message.truncated`) and what it
 * sent the connection manager (`peer.misbehaved`) are the model's.
 */
import { expect } from 'chai';
import { fromCallback, SimulatedClock, type EventFromLogic, type InspectionEvent } from 'xstate';
import { toHex } from '../../core/bytes.js';
import type { PlainError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import { negotiateInbound } from '../../channels/negotiate.js';
import type { ConnectionManagerInbox } from '../../actors/connection-manager/index.js';
import {
  Messaging,
  messagingHandler,
  messagingMachine,
  outboxHost,
  type MessagingEmitted,
  type MessagingRef,
  type OutboxCrashed,
  type OutboxHostCommand,
  type SendOutcome,
} from '../../actors/messaging/index.js';
import { MESSAGING_PROTOCOL, messageHeader } from '../../protocols/messaging/index.js';
import { testSystem } from '../support/actors.js';
import { connectedPair, type ConnectedPair } from '../support/connections.js';
import { labelled, MessagingPeer, type FarSubstream } from '../support/messaging-peer.js';
import { runPath, transitionCover, type ModelPath } from '../support/model.js';
import { until } from '../support/wait.js';
import { pathTitle, worldModel, type WorldState } from '../support/world-model.js';

type Ev = EventFromLogic<typeof messagingMachine>;
type Peer = 'A' | 'B';
/** A peer's outbox: none; open (a substream, an empty queue); idle with a message queued whose wake-up is held. */
type Phase = 'none' | 'open' | 'waking';
type World = Record<Peer, Phase>;
type S = WorldState<typeof messagingMachine, World>;

const PEERS: readonly Peer[] = ['A', 'B'];
const IDLE_MS = 1_000;
const STOP_TICK = 'xstate.after.stopTimeout.messaging.stopping';
const STOP_TIMEOUT_MS = 5_000;
const MAX_MESSAGE = 1024;
const CRASH: PlainError = { name: 'OutboxCrashed', message: 'model', kind: 'internal' };
const TOO_LARGE: PlainError = { name: 'MessageTooLarge', message: 'model', kind: 'protocol' };
/** A frame header of 10 bytes and 3 of them: 7 bytes lost. */
const TRUNCATED_LOST = 7;

/** The model's peers and queues (a queue's length is set from the world before each transition). */
const modelKeys: Record<Peer, PublicKey> = { A: new Uint8Array(32).fill(0xaa) as PublicKey, B: new Uint8Array(32).fill(0xbb) as PublicKey };
const modelQueues: Record<Peer, { length: number }> = { A: { length: 0 }, B: { length: 0 } };
const peerOfKey = (key: string): Peer => (key === toHex(modelKeys.A) ? 'A' : 'B');
/** The model's `outbox.idle` carries how many messages the peer's queue holds when the actor takes it. */
type IdleEvent = Extract<Ev, { type: 'outbox.idle' }> & { queued: number };

const model = worldModel<typeof messagingMachine, World, Ev>(messagingMachine, {
  input: { idleTimeoutMs: IDLE_MS },
  world: { A: 'none', B: 'none' },
  components: ['connectionManager'],
  expose: (world, event) => {
    for (const p of PEERS) modelQueues[p].length = world[p] === 'waking' ? 1 : 0;
    if (event.type === 'outbox.idle') modelQueues[peerOfKey(event.key)].length = (event as IdleEvent).queued;
  },
  next: (prev, event, snap) => {
    const world = { ...prev.world };
    switch (event.type) {
      case 'messaging.wake':
        if (snap.value === 'running') world[peerOfKey(toHex(event.publicKey))] = 'open';
        break;
      case 'outbox.idle':
        world[peerOfKey(event.key)] = (event as IdleEvent).queued > 0 ? 'waking' : 'none';
        break;
      case 'outbox.crashed':
        if (event.hosted) world[peerOfKey(event.key)] = 'none';
        break;
      case 'outbox.ended':
        world[peerOfKey(event.key)] = 'none';
        break;
    }
    if (snap.status === 'done') return { A: 'none', B: 'none' };
    return world;
  },
});

function modelEvents(s: S): Ev[] {
  if (s.snap.status === 'done') return [];
  const events: Ev[] = [];
  // What the actor takes in every state alike (the inbound side's reports, a crash of an outbox
  // it had released) is offered where peer A has no outbox: in running and stopping, with B's
  // outbox absent, open, or waking (a released outbox's crash must leave B's running one alone).
  if (s.world.A === 'none') {
    events.push(
      { type: 'messaging.violation', publicKey: modelKeys.A, error: TOO_LARGE },
      { type: 'messaging.truncated', publicKey: modelKeys.B, lostBytes: TRUNCATED_LOST },
      { type: 'outbox.crashed', key: toHex(modelKeys.B), hosted: false, error: CRASH },
    );
  }
  if (s.snap.value === 'running') {
    events.push({ type: 'messaging.stop' });
    for (const p of PEERS) {
      const key = toHex(modelKeys[p]);
      if (s.world[p] !== 'open') events.push({ type: 'messaging.wake', publicKey: modelKeys[p], queue: modelQueues[p] as never });
      if (s.world[p] === 'open') {
        events.push({ type: 'outbox.idle', key, queued: 0 } as IdleEvent, { type: 'outbox.idle', key, queued: 1 } as IdleEvent);
        events.push({ type: 'outbox.crashed', key, hosted: true, error: CRASH });
      }
    }
  }
  if (s.snap.value === 'stopping') {
    events.push({ type: STOP_TICK } as unknown as Ev);
    for (const p of PEERS) if (s.world[p] !== 'none') events.push({ type: 'outbox.ended', key: toHex(modelKeys[p]) });
  }
  return events;
}

/** A short name for a model event. */
function label(e: Ev): string {
  switch (e.type as string) {
    case 'messaging.wake':
      return `wake ${peerOfKey(toHex((e as Extract<Ev, { type: 'messaging.wake' }>).publicKey))}`;
    case 'outbox.idle': {
      const idle = e as IdleEvent;
      return `idle ${peerOfKey(idle.key)} (${idle.queued > 0 ? 'a message queued' : 'queue empty'})`;
    }
    case 'outbox.crashed': {
      const c = e as OutboxCrashed;
      return `crashed ${peerOfKey(c.key)} (${c.hosted ? 'hosted' : 'released'})`;
    }
    case 'outbox.ended':
      return `ended ${peerOfKey((e as Extract<Ev, { type: 'outbox.ended' }>).key)}`;
    case 'messaging.violation':
      return 'violation A';
    case 'messaging.truncated':
      return 'truncated B';
    case STOP_TICK:
      return 'after stopTimeout';
    default:
      return e.type;
  }
}

const hostedOf = (s: S) => PEERS.filter((p) => s.world[p] !== 'none');
function describe_(s: S): string {
  if (s.snap.status === 'done') return 'stopped';
  const peers = PEERS.filter((p) => s.world[p] !== 'none').map((p) => `${p} ${s.world[p]}`);
  return `${String(s.snap.value)}(${peers.join(', ') || 'no outbox'})`;
}
/** Canonical: the actor's outboxes sorted (never in insertion order), each peer's phase. */
const canonical = (s: S) => ({
  value: s.snap.status === 'done' ? 'stopped' : s.snap.value,
  outboxes: [...s.snap.context.outboxes.keys()].map(peerOfKey).sort(),
  world: s.world,
});

const paths: Array<ModelPath<S, Ev>> = transitionCover<S, Ev>(model, {
  input: undefined,
  events: modelEvents,
  serializeState: (s) => JSON.stringify(canonical(s)),
  describe: describe_,
});

/**
 * The host's `outbox.stop`s, held while armed (messaging is stopping) until a step lets one
 * through: the real outbox host (`outboxHost`), with the delivery of those commands delayed.
 */
class StopGate {
  armed = false;
  readonly held = new Map<string, OutboxHostCommand>();
  readonly #passing = new Set<OutboxHostCommand>();
  #host: { send(c: OutboxHostCommand): void } | undefined;

  /** The real host logic, its mailbox behind this gate. */
  host(): typeof outboxHost {
    return {
      ...outboxHost,
      transition: (state, event, scope) => {
        const command = event as OutboxHostCommand;
        this.#host ??= scope.self;
        if (this.armed && command.type === 'host.send' && command.event.type === 'outbox.stop' && !this.#passing.delete(command)) {
          this.held.set(command.key, command);
          return state;
        }
        return outboxHost.transition(state, event, scope);
      },
    };
  }

  /** Lets the held `outbox.stop` of `key` reach the host. */
  release(key: string): void {
    const c = this.held.get(key)!;
    this.held.delete(key);
    this.#passing.add(c);
    this.#host!.send(c);
  }
}

/** What the real system must show after a step (kept by the executor from the model's steps). */
interface Ledger {
  /** Each accepted message: its peer and the outcome the model implies ('ok', an error name, or not settled yet). */
  messages: Array<{ label: string; peer: Peer; outcome: string | undefined }>;
  delivered: Record<Peer, string[]>;
  facts: string[];
  misbehaved: string[];
  /** Substreams opened for messaging (one per outbox opening). */
  opens: number;
  /** Crashes the sending side reported (its onError). */
  errors: number;
}

interface RealPeer {
  pair: ConnectedPair;
  far: MessagingPeer;
  key: string;
  publicKey: PublicKey;
  /** The substream the peer's outbox writes on now. */
  current: FarSubstream | undefined;
}

async function system() {
  const clock = new SimulatedClock();
  const pairs = await Promise.all(PEERS.map(() => connectedPair()));
  const peers = Object.fromEntries(
    PEERS.map((p, i) => {
      const pair = pairs[i]!;
      return [p, { pair, far: new MessagingPeer(pair.inbound, { read: true }), key: toHex(pair.b.identity.publicKey), publicKey: pair.b.identity.publicKey, current: undefined }];
    }),
  ) as Record<Peer, RealPeer>;
  const peerOfHex = (key: string): Peer => (key === peers.A.key ? 'A' : 'B');
  const peerOf = (publicKey: PublicKey): Peer => peerOfHex(toHex(publicKey));
  // The stand-in connection manager: each substream request is answered with a real substream to that peer.
  const cmSeen: ConnectionManagerInbox[] = [];
  const requests: Array<Extract<ConnectionManagerInbox, { type: 'connection-manager.open-stream' }>> = [];
  const cm = fromCallback<ConnectionManagerInbox>(({ receive }) =>
    receive((e) => {
      cmSeen.push(e);
      if (e.type !== 'connection-manager.open-stream') return;
      requests.push(e);
      const peer = peers[peerOf(e.publicKey)];
      void peer.pair.outbound.openStream(e.protocols).then(async ({ stream, protocol }) => {
        await until('the far peer accepted the substream', () => peer.far.byId(stream.id) !== undefined);
        peer.current = peer.far.byId(stream.id);
        e.replyTo.send({ type: 'peer-connection.substream', requestId: e.requestId, ok: true, stream, protocol });
      });
    }),
  );
  const gate = new StopGate();
  const received: string[] = [];
  const inspect = (e: InspectionEvent) => {
    if (e.type === '@xstate.event' && (e.actorRef as { id?: string }).id === 'messaging') received.push(e.event.type);
  };
  const s = testSystem(
    {
      connectionManager: { logic: cm },
      messaging: { logic: messagingMachine.provide({ actors: { outboxHost: gate.host() } }), input: { idleTimeoutMs: IDLE_MS } },
    },
    { clock, inspect },
  );
  const actor = s.get('messaging') as unknown as MessagingRef;
  // The sending side, attached through a seam that can hold a peer's wake-up.
  const holdWakes = new Set<Peer>();
  const heldWakes = new Map<Peer, Extract<Ev, { type: 'messaging.wake' }>>();
  const errors: unknown[] = [];
  const sender = new Messaging({ maxMessageBytes: MAX_MESSAGE, onError: (err) => errors.push(err) });
  sender.attach({
    send: (e: Ev) => {
      if (e.type === 'messaging.wake' && holdWakes.has(peerOf(e.publicKey))) heldWakes.set(peerOf(e.publicKey), e);
      else actor.send(e as never);
    },
    on: actor.on.bind(actor),
  } as unknown as MessagingRef);
  const facts: string[] = [];
  const factOf = (e: MessagingEmitted): string => {
    if (e.type === 'messaging.outbox-dropped') return `dropped ${peerOfHex(e.key)}`;
    if (e.type === 'messaging.outbox-crashed') return `crashed ${peerOfHex(e.key)} queueLost=${e.queueLost}`;
    return `truncated ${peerOf(e.from)} ${e.lostBytes}`;
  };
  for (const type of ['messaging.outbox-dropped', 'messaging.outbox-crashed', 'message.truncated'] as const) actor.on(type, (e) => void facts.push(factOf(e as MessagingEmitted)));
  // Our inbound side: the far peers' messaging substreams go to the real handler.
  const inbound: string[] = [];
  for (const p of PEERS) {
    const near = peers[p].pair.outbound;
    const handler = messagingHandler({ maxMessageBytes: MAX_MESSAGE, middleware: [], deliver: async (m) => void inbound.push(Buffer.from(m.body).toString()), reports: () => actor });
    near.on('stream', (stream) => {
      stream.on('error', () => {});
      negotiateInbound(stream, new Set([MESSAGING_PROTOCOL])).then((protocol) => handler(stream, { protocol, peer: near.peer }), () => undefined);
    });
    near.release();
  }
  const outcomes = new Map<string, SendOutcome[]>();
  return {
    clock,
    peers,
    cmSeen,
    requests,
    gate,
    received,
    actor,
    sender,
    holdWakes,
    heldWakes,
    errors,
    facts,
    outcomes,
    /** Messages our inbound side delivered (none: the far peers send only an oversized or a cut frame). */
    inbound,
    crashes: s.crashes,
    /** Sends a message to peer `p` through the real sending side; records how it settles. */
    send(p: Peer, label: string): void {
      outcomes.set(label, []);
      void sender.send(peers[p].publicKey, labelled(label, 64)).then((o) => void outcomes.get(label)!.push(o));
    },
    /** The real outbox of peer `p` in the host. */
    outbox(p: Peer) {
      return actor.getSnapshot().context.directory.get(peers[p].key);
    },
    close(): void {
      s.stop();
      for (const p of PEERS) {
        peers[p].pair.outbound.muxer.abort();
        peers[p].pair.inbound.muxer.abort();
      }
    },
  };
}
type Sut = Awaited<ReturnType<typeof system>>;

const valueOf = (sut: Sut) => (sut.actor.getSnapshot().status === 'done' ? 'stopped' : String(sut.actor.getSnapshot().value));
const expectedValue = (s: S) => (s.snap.status === 'done' ? 'stopped' : String(s.snap.value));

async function exec(sut: Sut, event: Ev, before: S, after: S, ledger: Ledger, step: number): Promise<void> {
  const reached = () => until(`messaging reaches ${expectedValue(after)}`, () => valueOf(sut) === expectedValue(after));
  const took = (type: string, n: number) => until(`messaging took ${type}`, () => sut.received.filter((t) => t === type).length >= n);
  const count = (type: string) => sut.received.filter((t) => t === type).length;
  if ((event.type as string) === STOP_TICK) {
    sut.clock.increment(STOP_TIMEOUT_MS);
    await reached();
    // The host stops with messaging: every outbox still running is told to end, and ends its substream.
    for (const p of PEERS) {
      const current = sut.peers[p].current;
      if (before.world[p] === 'open' && current) await until(`peer ${p}'s far end saw our FIN`, () => current.ended);
    }
    return;
  }
  switch (event.type) {
    case 'messaging.wake': {
      const p = peerOfKey(toHex(event.publicKey));
      const peer = sut.peers[p];
      if (before.world[p] === 'none') {
        const name = `${p}${step}`;
        ledger.messages.push({ label: name, peer: p, outcome: 'ok' });
        ledger.delivered[p].push(name);
        sut.send(p, name);
      } else {
        // The wake-up held since the outbox reported idle reaches the actor now.
        sut.holdWakes.delete(p);
        const wake = sut.heldWakes.get(p)!;
        sut.heldWakes.delete(p);
        sut.actor.send(wake);
        const waiting = ledger.messages.find((m) => m.peer === p && m.outcome === undefined)!;
        waiting.outcome = 'ok';
        ledger.delivered[p].push(waiting.label);
      }
      ledger.opens++;
      await until(`peer ${p}'s outbox writes on a new substream`, () => sut.outbox(p)?.getSnapshot().value === 'open' && peer.current !== undefined);
      return;
    }
    case 'outbox.idle': {
      const p = peerOfKey(event.key);
      const peer = sut.peers[p];
      const queued = (event as IdleEvent).queued > 0;
      const outbox = sut.outbox(p)!;
      // The far end resets the substream: the outbox, with nothing queued, goes idle.
      peer.current!.stream.destroy();
      peer.current = undefined;
      await until(`peer ${p}'s outbox is idle`, () => outbox.getSnapshot().value === 'idle');
      if (queued) {
        // A message arrives; its wake-up is still on its way when the outbox reports idle.
        sut.holdWakes.add(p);
        const name = `${p}${step}`;
        ledger.messages.push({ label: name, peer: p, outcome: undefined });
        sut.send(p, name);
        await until('the wake-up is held', () => sut.heldWakes.has(p));
      } else ledger.facts.push(`dropped ${p}`);
      const n = count('outbox.idle');
      sut.clock.increment(IDLE_MS);
      await took('outbox.idle', n + 1);
      if (!queued) await until(`peer ${p}'s outbox ended`, () => outbox.getSnapshot().status === 'done');
      return;
    }
    case 'outbox.crashed': {
      const p = peerOfKey(event.key);
      ledger.facts.push(`crashed ${p} queueLost=${event.hosted}`);
      ledger.errors++;
      if (event.hosted) {
        // A late answer to the outbox with a substream that throws as it is closed: the outbox crashes (a bug).
        const request = [...sut.requests].reverse().find((r) => toHex(r.publicKey) === sut.peers[p].key)!;
        const broken = {
          destroy: () => {
            throw new Error('a broken substream');
          },
        };
        request.replyTo.send({ type: 'peer-connection.substream', requestId: 'late', ok: true, stream: broken as never, protocol: MESSAGING_PROTOCOL });
        sut.peers[p].current = undefined;
      } else {
        // The host's report of an outbox it had released already (as the host sends it).
        (sut.actor as unknown as { send(e: OutboxCrashed): void }).send({ type: 'outbox.crashed', key: sut.peers[p].key, hosted: false, error: CRASH });
      }
      return until('the crash was reported', () => sut.facts.length === ledger.facts.length);
    }
    case 'messaging.violation': {
      // The far peer opens a messaging substream to us and announces an oversized frame.
      const far = sut.peers.A.pair.inbound;
      const { stream } = await far.openStream([MESSAGING_PROTOCOL]);
      let reset = false;
      stream.on('error', () => {});
      stream.on('close', () => (reset = true));
      stream.write(messageHeader(MAX_MESSAGE + 1));
      ledger.misbehaved.push(`A ${TOO_LARGE.name}`);
      await until('our handler reset the substream', () => reset);
      return until('the connection manager heard of the violation', () => sut.cmSeen.filter((e) => e.type === 'peer.misbehaved').length === ledger.misbehaved.length);
    }
    case 'messaging.truncated': {
      // The far peer opens a messaging substream to us and ends it mid-frame.
      const far = sut.peers.B.pair.inbound;
      const { stream } = await far.openStream([MESSAGING_PROTOCOL]);
      stream.on('error', () => {});
      stream.end(Buffer.concat([messageHeader(10), Buffer.from('abc')]));
      ledger.facts.push(`truncated B ${TRUNCATED_LOST}`);
      return until('the truncation was published', () => sut.facts.length === ledger.facts.length);
    }
    case 'messaging.stop': {
      sut.gate.armed = true;
      sut.sender.stop();
      // A message whose wake-up was held fails with the stop (that wake-up is never sent now).
      for (const m of ledger.messages) if (m.outcome === undefined) m.outcome = 'MessagingStopped';
      sut.heldWakes.clear();
      sut.actor.send({ type: 'messaging.stop' });
      return reached();
    }
    case 'outbox.ended': {
      const p = peerOfKey(event.key);
      const current = sut.peers[p].current;
      sut.gate.release(sut.peers[p].key);
      await until(`peer ${p}'s outbox ended`, () => !sut.actor.getSnapshot().context.outboxes.has(sut.peers[p].key) || sut.actor.getSnapshot().status === 'done');
      // It ended its substream (a FIN after what it wrote).
      if (current) await until('the far end saw our FIN', () => current.ended);
      return reached();
    }
    default:
      throw new Error(`no executor for ${label(event as Ev)}`);
  }
}

/** Polls until `actual()` deep-equals `expected` (bounded), then asserts it. */
async function settled<T>(what: string, actual: () => T, expected: T): Promise<void> {
  const same = () => JSON.stringify(actual()) === JSON.stringify(expected);
  await until(what, same, 5_000).catch(() => undefined);
  expect(actual(), what).to.deep.equal(expected);
}

async function check(sut: Sut, expected: S, ledger: Ledger): Promise<void> {
  const real = sut.actor.getSnapshot();
  const keyPeer = (k: string): Peer => (k === sut.peers.A.key ? 'A' : 'B');
  expect({ value: valueOf(sut), outboxes: [...real.context.outboxes.keys()].map(keyPeer).sort() }).to.deep.equal({
    value: expectedValue(expected),
    outboxes: [...expected.snap.context.outboxes.keys()].map(peerOfKey).sort(),
  });
  expect(real.context.directory.size, 'outboxes in the host').to.equal(expected.snap.status === 'done' ? 0 : hostedOf(expected).length);
  const outcome = (o: SendOutcome) => (o.ok ? 'ok' : o.error.name);
  await settled(
    'every accepted message settled at most once, as the model implies',
    () => [...sut.outcomes].map(([l, os]) => ({ label: l, outcomes: os.map(outcome) })),
    ledger.messages.map((m) => ({ label: m.label, outcomes: m.outcome === undefined ? [] : [m.outcome] })),
  );
  for (const p of PEERS) await settled(`messages peer ${p} decoded, in order`, () => sut.peers[p].far.labels(), ledger.delivered[p]);
  await settled('facts emitted', () => sut.facts, ledger.facts);
  expect(sut.cmSeen.filter((e) => e.type === 'peer.misbehaved').map((e) => `${keyPeer(toHex(e.publicKey))} ${e.error.name}`)).to.deep.equal(ledger.misbehaved);
  expect(sut.requests.length, 'substreams requested').to.equal(ledger.opens);
  expect(sut.errors.length, 'crashes reported by the sending side').to.equal(ledger.errors);
  expect(sut.inbound, 'messages delivered from an oversized or a cut frame').to.deep.equal([]);
  expect(sut.crashes).to.deep.equal([]);
}

describe('messaging machine, model-based (paths from its graph drive real messaging over real substreams)', function () {
  this.timeout(30_000);

  it('the paths take every transition: wake (new and running outbox), idle (queue empty or not), crashed (hosted or not), violation, truncated, stop, ended, the stop timeout', () => {
    const edges = new Set(paths.flatMap((p) => p.steps.slice(1).map((s, i) => `${expectedValue(p.steps[i]!.state)}|${label(s.event).replace(/ [AB]\b/, ' p')}|${expectedValue(s.state)}`)));
    for (const e of [
      'running|wake p|running',
      'running|idle p (queue empty)|running',
      'running|idle p (a message queued)|running',
      'running|crashed p (hosted)|running',
      'running|crashed p (released)|running',
      'running|violation p|running',
      'running|truncated p|running',
      'running|messaging.stop|stopping',
      'running|messaging.stop|stopped',
      'stopping|ended p|stopping',
      'stopping|ended p|stopped',
      'stopping|after stopTimeout|stopped',
      'stopping|violation p|stopping',
      'stopping|truncated p|stopping',
      'stopping|crashed p (released)|stopping',
    ])
      expect(edges).to.include(e);
    // A wake for a peer with no outbox starts one; for a peer whose outbox is idle, wakes it.
    const wakes = paths.flatMap((p) => p.steps.slice(1).map((s, i) => ({ s, before: p.steps[i]!.state }))).filter(({ s }) => s.event.type === 'messaging.wake');
    expect(new Set(wakes.map(({ s, before }) => before.world[peerOfKey(toHex((s.event as Extract<Ev, { type: 'messaging.wake' }>).publicKey))]))).to.deep.equal(new Set(['none', 'waking']));
    // A crash report for B's released outbox, while B has a running one, in both states.
    for (const value of ['running', 'stopping'])
      expect(paths.some((p) => p.steps.some((s, i) => i > 0 && s.event.type === 'outbox.crashed' && !(s.event as OutboxCrashed).hosted && p.steps[i - 1]!.state.snap.value === value && p.steps[i - 1]!.state.world.B !== 'none'))).to.equal(true);
    // Both peers at once: two outboxes, one of them waking, while stopping.
    expect(paths.some((p) => p.steps.some((s) => s.state.snap.value === 'stopping' && s.state.world.A !== 'none' && s.state.world.B !== 'none'))).to.equal(true);
  });

  for (const path of paths) {
    it(pathTitle(path, label, describe_), async () => {
      const sut = await system();
      const ledger: Ledger = { messages: [], delivered: { A: [], B: [] }, facts: [], misbehaved: [], opens: 0, errors: 0 };
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
