import { expect } from 'chai';
import { createActor, fromCallback, fromPromise, SimulatedClock, type EventObject } from 'xstate';
import { ConfigError } from '../../core/errors.js';
import { ProtocolRegistry } from '../../channels/protocol-registry.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import {
  openSubstream,
  openSubstreamVia,
  peerConnectionMachine,
  peerConnectionLogic,
  SubstreamOpenFailed,
  type PeerConnectionActor,
  type PeerConnectionEmitted,
  type OpenSubstreamInput,
  type WatchInput,
} from '../../actors/peer-connection/index.js';
import { connectedPair, type ConnectedPair } from '../support/connections.js';
import { collect } from '../support/streams.js';
import { until } from '../support/wait.js';
import { startActor } from '../support/actors.js';

const ECHO = '/test/echo/1';
const echo = new ProtocolRegistry().register(ECHO, (stream) => void stream.pipe(stream));

describe('protocol registry', () => {
  it('refuses empty, long, reserved and duplicate ids, and more than 20', () => {
    const r = new ProtocolRegistry();
    expect(() => r.register('', () => {})).to.throw(ConfigError);
    expect(() => r.register('/x'.repeat(26), () => {})).to.throw(ConfigError); // 52 bytes
    expect(() => r.register('/tari/identity/1.0.0', () => {})).to.throw(ConfigError);
    r.register('/a', () => {});
    expect(() => r.register('/a', () => {})).to.throw(ConfigError);
    for (let i = 0; i < 19; i++) r.register(`/p/${i}`, () => {});
    expect(() => r.register('/one-too-many', () => {})).to.throw(ConfigError);
    expect(r.ids()).to.have.length(20);
    expect(r.ids()[0]).to.equal('/a');
    expect(r.unregister('/a')).to.equal(true);
    expect(r.has('/a')).to.equal(false);
  });
});

describe('peer-connection actor over a real connection', function () {
  this.timeout(20_000);
  let pair: ConnectedPair;
  let alice: PeerConnectionActor;
  let bob: PeerConnectionActor;
  const seen: PeerConnectionEmitted[] = [];

  function start(connection: PeerConnection, protocols: ProtocolRegistry, keepaliveIntervalMs = 0): PeerConnectionActor {
    const actor = startActor(peerConnectionLogic, { input: { connection, protocols, keepaliveIntervalMs } });
    for (const t of ['peer-connection.closed', 'substream.inbound', 'peer-connection.rtt'] as const) actor.on(t, (e) => seen.push(e));
    return actor;
  }

  beforeEach(async () => {
    seen.length = 0;
    // Both sides advertise ECHO (testNode's claim); only bob's registry has '/only-advertised'.
    pair = await connectedPair({ a: { yamux: { keepaliveIntervalMs: 0 } }, b: { yamux: { keepaliveIntervalMs: 0 } } });
  });
  afterEach(async () => {
    alice?.stop();
    bob?.stop();
    await pair.close();
  });

  it('opens substreams both ways through the actor and routes them to the handlers', async () => {
    alice = start(pair.outbound, echo);
    bob = start(pair.inbound, echo);
    for (const [actor, text] of [[alice, 'from alice'], [bob, 'from bob']] as const) {
      const { stream, protocol } = await openSubstreamVia(actor, [ECHO]);
      expect(protocol).to.equal(ECHO);
      stream.end(text);
      expect((await collect(stream)).toString()).to.equal(text);
    }
    await until('two inbound facts', () => seen.filter((e) => e.type === 'substream.inbound').length === 2);
  });

  it('forgets each opening once it has answered: children do not grow with the substreams opened', async () => {
    alice = start(pair.outbound, echo);
    bob = start(pair.inbound, echo);
    const openings = () => Object.keys(alice.getSnapshot().children).filter((id) => id.startsWith('open:'));
    for (let i = 0; i < 20; i++) {
      const { stream } = await openSubstreamVia(alice, i % 2 === 0 ? [ECHO] : [ECHO, '/other/1']);
      stream.end('x');
      await collect(stream);
    }
    await openSubstreamVia(alice, ['/nobody/1', '/nobody/2']).catch(() => undefined);
    await until('every opening forgotten', () => openings().length === 0, 3_000);
    expect(Object.keys(alice.getSnapshot().children)).to.have.length.below(4);
  });

  it('closes a substream whose requester ended before it opened (nobody is left holding it)', async () => {
    alice = start(pair.outbound, echo);
    bob = start(pair.inbound, echo);
    const gone = startActor(fromCallback(() => {}));
    gone.stop();
    // Two candidates: full mode, so bob has negotiated (and served) the substream before alice has it.
    alice.send({ type: 'peer-connection.open-substream', requestId: 'late', protocols: [ECHO, '/other/1'], replyTo: gone as never });
    await until('bob served it', () => seen.some((e) => e.type === 'substream.inbound'), 3_000);
    await until('alice closed it', () => pair.outbound.muxer.streamCount === 0, 3_000);
    // The connection serves the next request as usual.
    const { stream } = await openSubstreamVia(alice, [ECHO]);
    stream.end('next');
    expect((await collect(stream)).toString()).to.equal('next');
  });

  it('refuses an unregistered protocol in full mode; the connection stays up', async () => {
    alice = start(pair.outbound, echo);
    bob = start(pair.inbound, echo);
    const err = await openSubstreamVia(alice, ['/nobody/1', '/nobody/2']).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(SubstreamOpenFailed);
    expect((err as SubstreamOpenFailed).error.name).to.equal('ProtocolNotSupported');
    const { stream } = await openSubstreamVia(alice, [ECHO]);
    stream.end('still up');
    expect((await collect(stream)).toString()).to.equal('still up');
  });

  it('negotiates optimistically a protocol the peer advertised (no round trip), in full mode otherwise', async () => {
    // bob advertises ECHO (testNode claim) but serves nothing: an optimistic open "succeeds" and is then reset.
    alice = start(pair.outbound, echo);
    bob = start(pair.inbound, new ProtocolRegistry());
    const optimistic = await openSubstreamVia(alice, [ECHO]);
    expect(optimistic.protocol).to.equal(ECHO);
    optimistic.stream.on('error', () => {});
    await until('reset by bob', () => optimistic.stream.destroyed);
    // Two candidates: full mode, refused before any data.
    const full = await openSubstreamVia(alice, [ECHO, '/other/1']).catch((e: unknown) => e);
    expect(full).to.be.instanceOf(SubstreamOpenFailed);
  });

  it('a handler that throws resets its substream only', async () => {
    const failing = new ProtocolRegistry().register(ECHO, () => {
      throw new Error('handler bug');
    });
    alice = start(pair.outbound, echo);
    bob = start(pair.inbound, failing);
    const { stream } = await openSubstreamVia(alice, [ECHO]);
    stream.on('error', () => {});
    await until('reset', () => stream.destroyed);
    expect(bob.getSnapshot().value).to.deep.equal({ active: 'quiet' });
  });

  it('pings the peer on its keepalive interval and reports the round trip', async () => {
    alice = start(pair.outbound, echo, 20);
    bob = start(pair.inbound, echo);
    await until('rtt', () => seen.some((e) => e.type === 'peer-connection.rtt'));
    expect(alice.getSnapshot().context.missed).to.equal(0);
  });

  it('disconnect closes gracefully; both actors end and publish it', async () => {
    alice = start(pair.outbound, echo);
    bob = start(pair.inbound, echo);
    alice.send({ type: 'peer-connection.disconnect' });
    await until('both closed', () => alice.getSnapshot().status === 'done' && bob.getSnapshot().status === 'done');
    expect(seen.filter((e) => e.type === 'peer-connection.closed')).to.have.length(2);
  });
});

describe('peer-connection actor: openings', () => {
  it('an opening that ends does not stop another one of the same request id (requesters name their own requests)', async () => {
    // The connection opens substreams when told to (one deferred per call).
    const opens: Array<{ resolve: () => void; signal: AbortSignal }> = [];
    const stream = { destroy: () => {} };
    const connection = {
      peer: { publicKey: new Uint8Array(32), supportedProtocols: [] },
      muxer: { closed: false, sendPing: () => 0, abort: () => {} },
      openStream: (_protocols: readonly string[], options: { signal: AbortSignal }) =>
        new Promise((resolve) => opens.push({ resolve: () => resolve({ stream, protocol: ECHO }), signal: options.signal })),
    } as unknown as PeerConnection;
    const logic = peerConnectionMachine.provide({
      actors: {
        watchConnection: fromCallback<{ type: 'watch.never' }, WatchInput>(() => {}),
        openSubstream,
        closeConnection: fromCallback<EventObject, PeerConnection>(() => {}),
      },
    });
    const actor = startActor(logic, { input: { connection, protocols: echo, keepaliveIntervalMs: 0 } });
    const replies: Array<{ ok: boolean }> = [];
    const requester = startActor(fromCallback<{ type: 'peer-connection.substream'; ok: boolean }>(({ receive }) => receive((e) => void replies.push(e))));
    // Two requesters whose request ids happen to be equal (say, an outbox that crashed while
    // opening and the one that took over its peer: both number their requests from 1).
    actor.send({ type: 'peer-connection.open-substream', requestId: 'outbox:k:1', protocols: [ECHO], replyTo: requester as never });
    actor.send({ type: 'peer-connection.open-substream', requestId: 'outbox:k:1', protocols: [ECHO], replyTo: requester as never });
    await until('both openings started', () => opens.length === 2);
    opens[0]!.resolve();
    await until('the first answered', () => replies.length === 1);
    await Promise.resolve();
    expect(opens[1]!.signal.aborted).to.equal(false);
    opens[1]!.resolve();
    await until('the second answered', () => replies.length === 2);
    expect(replies.map((r) => r.ok)).to.deep.equal([true, true]);
    await until('both openings forgotten', () => Object.keys(actor.getSnapshot().children).filter((id) => id.startsWith('open:')).length === 0);
    actor.stop();
    requester.stop();
  });
});

describe('peer-connection machine timers (SimulatedClock)', () => {
  function fakeConnection() {
    const pings: number[] = [];
    const aborted: unknown[] = [];
    const connection = {
      peer: { publicKey: new Uint8Array(32), supportedProtocols: [] },
      muxer: {
        closed: false,
        sendPing: () => pings.push(pings.length) && pings.length,
        abort: (err: unknown) => aborted.push(err),
      },
    } as unknown as PeerConnection;
    return { connection, pings, aborted };
  }

  function run(keepaliveIntervalMs: number, pongs: { send?: (e: { type: 'keepalive.answered'; ms: number } | { type: 'connection.ended'; error: undefined }) => void }) {
    const clock = new SimulatedClock();
    const fake = fakeConnection();
    const logic = peerConnectionMachine.provide({
      actors: {
        watchConnection: fromCallback<{ type: 'watch.never' }, WatchInput>(({ sendBack }) => {
          pongs.send = sendBack as never;
        }),
        openSubstream: fromPromise<void, OpenSubstreamInput>(async () => {}),
        closeConnection: fromCallback<EventObject, PeerConnection>(() => {}),
      },
    });
    const actor = createActor(logic, { input: { connection: fake.connection, protocols: new ProtocolRegistry(), keepaliveIntervalMs, keepaliveMaxMissed: 3 }, clock });
    actor.start();
    return { actor, clock, ...fake };
  }

  it('a ping each interval; three missed in a row abort the connection without GoAway', () => {
    const io: Parameters<typeof run>[1] = {};
    const { actor, clock, pings, aborted } = run(30_000, io);
    clock.increment(29_999);
    expect(pings).to.have.length(0);
    clock.increment(1);
    expect(pings).to.have.length(1);
    clock.increment(30_000); // missed 1
    clock.increment(30_000); // missed 2
    expect(pings).to.have.length(3);
    expect(aborted).to.have.length(0);
    clock.increment(30_000); // the third unanswered: abort
    expect(aborted).to.have.length(1);
    expect((aborted[0] as Error).name).to.equal('KeepaliveTimeout');
    expect(actor.getSnapshot().value).to.equal('closing');
    io.send!({ type: 'connection.ended', error: undefined });
    expect(actor.getSnapshot().status).to.equal('done');
    expect(actor.getSnapshot().context.error?.name).to.equal('KeepaliveTimeout');
  });

  it('an answer resets the count of missed pings', () => {
    const io: Parameters<typeof run>[1] = {};
    const { actor, clock, aborted } = run(1_000, io);
    for (let i = 0; i < 10; i++) {
      clock.increment(1_000);
      clock.increment(1_000); // one miss each round, then an answer
      io.send!({ type: 'keepalive.answered', ms: 1 });
      expect(actor.getSnapshot().context.missed).to.equal(0);
    }
    expect(aborted).to.have.length(0);
    actor.stop();
  });

  it('keepalive 0 sends no ping at all', () => {
    const { actor, clock, pings } = run(0, {});
    clock.increment(10 * 60_000);
    expect(pings).to.have.length(0);
    expect(actor.getSnapshot().value).to.deep.equal({ active: 'quiet' });
    actor.stop();
  });
});
