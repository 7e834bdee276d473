/**
 * Model-based test (@xstate/graph) of a server RPC session (`actors/rpc-session`). The model's
 * events are what the session's I/O reports (and the commands that change its state), each
 * tagged with how the real system is made to produce it: the hand-written client writes frames,
 * FIN or RST over a real substream (memory transport, Noise, yamux), the owner answers the
 * admission, the handlers answer when the step says, and the SimulatedClock reaches the core's
 * deadlines (handshake, idle, a call's, the close). One path per transition of the graph drives
 * a real session actor; after every step it must be where the model is, and once over it must
 * have told its owner (and reported a violation when there was one).
 */
import { expect } from 'chai';
import { multiaddr } from '@multiformats/multiaddr';
import { SimulatedClock, type EventFromLogic, type SnapshotFrom } from 'xstate';
import { negotiateInbound } from '../../channels/negotiate.js';
import { PeerConnection, upgradeInbound, upgradeOutbound } from '../../channels/upgrade.js';
import type { YamuxStream } from '../../channels/yamux/stream.js';
import { servedRpcService } from '../../actors/rpc-server/services.js';
import { rpcSessionLogic, rpcSessionMachine, type RpcSessionReport } from '../../actors/rpc-session/index.js';
import { MAX_RPC_FRAME_BYTES, RpcFlag, type RpcAdmission } from '../../protocols/rpc/index.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import { recorder, testSystem } from '../support/actors.js';
import { runPath, transitionCover } from '../support/model.js';
import { testNode } from '../support/nodes.js';
import { BENCH, Bench, ECHO, RawSubstream, STREAM, payloadBytes } from '../support/rpc.js';
import { until } from '../support/wait.js';
import { create, toBinary } from '@bufbuild/protobuf';
import { StreamRequestSchema } from '../../proto/gen/tcomms/bench/v1/bench_pb.js';

type Snap = SnapshotFrom<typeof rpcSessionMachine>;
/** A model event: the session's event, and how the real system is made to produce it. */
type Ev = EventFromLogic<typeof rpcSessionMachine> & { how?: string };

const HANDSHAKE_MS = 15_000;
const IDLE_MS = 120_000;
const CLOSE_MS = 10_000;
const DEADLINE_MS = 5_000;

const ev = (type: string, how?: string, extra: Record<string, unknown> = {}) => ({ type, ...(how ? { how } : {}), dueAt: undefined, ...extra }) as unknown as Ev;

function modelEvents(state: Snap): Ev[] {
  if (state.status === 'done') return [];
  const abort = ev('rpc-session.abort');
  switch (state.value) {
    case 'handshake':
      return [ev('rpc.admission', 'hello'), ev('rpc.closing', 'version'), ev('rpc.closed', 'timeout', { error: undefined }), ev('rpc.closed', 'reset', { error: undefined }), ev('rpc.closed', 'violation', { error: undefined }), abort];
    case 'admitting':
      return [ev('rpc.accepted', 'accept'), ev('rpc.closing', 'no-sessions'), ev('rpc.closing', 'no-service'), ev('rpc.closed', 'reset', { error: undefined }), abort];
    case 'idle':
      return [
        ev('rpc.call-started', 'echo', { requestId: 0, method: 'Echo' }),
        ev('rpc.call-started', 'stream', { requestId: 0, method: 'Stream' }),
        ev('rpc.rearm', 'refused'),
        ev('rpc.closing', 'idle'),
        ev('rpc.closing', 'close'),
        ev('rpc.closed', 'fin', { error: undefined }),
        ev('rpc.closed', 'reset', { error: undefined }),
        abort,
      ];
    case 'inCall': {
      const events = [ev('rpc.call-ended', 'answer'), ev('rpc.call-ended', 'timeout'), ev('rpc.call-ended', 'cancel'), ev('rpc.closed', 'fin', { error: undefined }), ev('rpc.closed', 'reset', { error: undefined }), abort];
      if (state.context.method === 'Stream') events.push(ev('rpc.streaming', 'item'));
      return events;
    }
    case 'streaming':
      return [ev('rpc.rearm', 'item'), ev('rpc.call-ended', 'end'), ev('rpc.call-ended', 'timeout'), ev('rpc.call-ended', 'cancel'), ev('rpc.closed', 'reset', { error: undefined }), abort];
    case 'closing':
      return [ev('rpc.closed', 'fin', { error: undefined }), ev('rpc.closed', 'timeout', { error: undefined }), ev('rpc.closed', 'reset', { error: undefined })];
    default:
      return [];
  }
}

const modelPeer = testNode('model').identity;
const paths = transitionCover<Snap, Ev>(rpcSessionMachine, {
  input: {
    key: '1',
    stream: {} as YamuxStream,
    protocol: BENCH,
    peer: { publicKey: modelPeer.publicKey, nodeId: modelPeer.nodeId },
    service: undefined,
    owner: { send: () => {} } as never,
    now: () => 0,
  },
  events: modelEvents,
  serializeState: (s) => JSON.stringify({ value: s.value, status: s.status, method: s.matches('inCall') || s.matches('streaming') ? s.context.method : undefined }),
  describe: (s) => (s.status === 'done' ? 'closed' : String(s.value)),
  describeEvent: (e) => `${e.type}${e.how ? ` (${e.how})` : ''}`,
});

/** A handler whose answers the steps give. */
class Handlers {
  answer: (() => void) | undefined;
  items: Array<(r: IteratorResult<{ data: Uint8Array }>) => void> = [];
  readonly buffered: Array<IteratorResult<{ data: Uint8Array }>> = [];
  readonly served = servedRpcService(Bench, {
    echo: () => new Promise((resolve) => (this.answer = () => resolve({ data: Uint8Array.of(1) }))),
    stream: () => ({
      [Symbol.asyncIterator]: () => ({
        next: () => {
          const r = this.buffered.shift();
          return r ? Promise.resolve(r) : new Promise<IteratorResult<{ data: Uint8Array }>>((resolve) => this.items.push(resolve));
        },
        return: () => Promise.resolve({ value: undefined, done: true as const }),
      }),
    }),
  });
  give(r: IteratorResult<{ data: Uint8Array }>): void {
    const waiter = this.items.shift();
    if (waiter) waiter(r);
    else this.buffered.push(r);
  }
}

async function system() {
  const clock = new SimulatedClock();
  const transport = new MemoryTransport({ network: new MemoryNetwork() });
  const listener = await transport.listen(multiaddr('/memory/0'));
  const [a, b] = [testNode('client', { yamux: { keepaliveIntervalMs: 0 } }), testNode('server', { yamux: { keepaliveIntervalMs: 0 } })];
  const accepted = listener[Symbol.asyncIterator]().next().then((r) => upgradeInbound(r.value!.stream, b));
  const dialed = await transport.dial(listener.address);
  const [client, server] = await Promise.all([upgradeOutbound(dialed.stream, a, { dialedPublicKey: b.identity.publicKey }), accepted]);
  await listener.close();
  if (!(server instanceof PeerConnection)) throw new Error('expected a connection');
  const arrived = new Promise<YamuxStream>((resolve) => server.on('stream', (s) => void negotiateInbound(s, new Set([BENCH])).then(() => resolve(s))));
  server.release();
  client.release();
  const raw = new RawSubstream((await client.openStream([BENCH])).stream);
  const stream = await arrived;
  const handlers = new Handlers();
  const owner = recorder<RpcSessionReport>();
  const s = testSystem(
    {
      owner: { logic: owner.logic },
      session: {
        logic: rpcSessionLogic,
        inputFrom: (get) => ({
          key: '1',
          stream,
          protocol: BENCH,
          peer: { publicKey: a.identity.publicKey, nodeId: a.identity.nodeId },
          service: handlers.served,
          owner: get('owner'),
          now: () => clock.now(),
          handshakeTimeoutMs: HANDSHAKE_MS,
          idleTimeoutMs: IDLE_MS,
          closeTimeoutMs: CLOSE_MS,
        }),
      },
    },
    { clock },
  );
  const session = s.get('session');
  const close = async () => {
    s.stop();
    client.muxer.abort();
    server.muxer.abort();
  };
  return { clock, raw, session, handlers, owner, close, crashes: s.crashes, requestId: 0 };
}
type Sut = Awaited<ReturnType<typeof system>>;

/** Moves the clock to the session's deadline (the timer fires). */
function toDeadline(sut: Sut): void {
  const due = sut.session.getSnapshot().context.dueAt!;
  sut.clock.increment(Math.max(0, due - sut.clock.now()));
}

const admit = (sut: Sut, decision: RpcAdmission) => sut.session.send({ type: 'rpc-session.admitted', decision });

async function exec(sut: Sut, event: Ev): Promise<void> {
  const { raw } = sut;
  const state = sut.session.getSnapshot();
  switch (`${event.type}/${event.how ?? ''}`) {
    case 'rpc.admission/hello':
      return raw.write(frameOf([1]));
    case 'rpc.closing/version':
      raw.write(frameOf([2]));
      expect((await raw.reply()).rejectReason).to.equal(1);
      return;
    case 'rpc.accepted/accept':
      admit(sut, 'accept');
      expect((await raw.reply()).sessionResult.case).to.equal('acceptedVersion');
      return;
    case 'rpc.closing/no-sessions':
    case 'rpc.closing/no-service':
      admit(sut, event.how as RpcAdmission);
      expect((await raw.reply()).rejectReason).to.equal(event.how === 'no-sessions' ? 2 : 4);
      return;
    case 'rpc.call-started/echo':
      return raw.send({ requestId: ++sut.requestId, method: ECHO, deadlineMs: BigInt(DEADLINE_MS), payload: payloadBytes(Uint8Array.of(1)) });
    case 'rpc.call-started/stream':
      return raw.send({ requestId: ++sut.requestId, method: STREAM, deadlineMs: BigInt(DEADLINE_MS), payload: toBinary(StreamRequestSchema, create(StreamRequestSchema, {})) });
    case 'rpc.rearm/refused': {
      // A refused request (deadline 0) moves the idle deadline: the timer set before fires early.
      const due = state.context.dueAt!;
      sut.clock.increment(1_000);
      raw.send({ requestId: ++sut.requestId, method: ECHO, deadlineMs: 0n });
      expect((await raw.response()).status).to.equal(1);
      sut.clock.increment(due - sut.clock.now());
      return until('re-armed', () => sut.session.getSnapshot().context.dueAt === due + 1_000);
    }
    case 'rpc.rearm/item': {
      const due = state.context.dueAt!;
      sut.clock.increment(500);
      sut.handlers.give({ value: { data: Uint8Array.of(2) }, done: false });
      expect((await raw.response()).flags).to.equal(0);
      sut.clock.increment(due - sut.clock.now());
      return until('re-armed', () => sut.session.getSnapshot().context.dueAt === due + 500);
    }
    case 'rpc.streaming/item':
      sut.handlers.give({ value: { data: Uint8Array.of(1) }, done: false });
      expect((await raw.response()).flags).to.equal(0);
      return;
    case 'rpc.call-ended/answer':
      if (state.context.method === 'Stream') {
        sut.handlers.give({ value: undefined, done: true }); // a stream with no item
        expect((await raw.response()).flags).to.equal(RpcFlag.FIN);
        return;
      }
      await until('the handler runs', () => sut.handlers.answer !== undefined);
      sut.handlers.answer!();
      sut.handlers.answer = undefined;
      expect((await raw.response()).flags).to.equal(RpcFlag.FIN);
      return;
    case 'rpc.call-ended/end':
      sut.handlers.give({ value: undefined, done: true });
      expect((await raw.response()).flags).to.equal(RpcFlag.FIN);
      return;
    case 'rpc.call-ended/timeout':
      toDeadline(sut);
      expect((await raw.response()).status).to.equal(4);
      sut.handlers.answer = undefined;
      return;
    case 'rpc.call-ended/cancel': {
      raw.send({ requestId: sut.requestId, flags: RpcFlag.FIN });
      const r = await raw.response();
      expect({ status: r.status, flags: r.flags }).to.deep.equal({ status: 0, flags: RpcFlag.FIN });
      sut.handlers.answer = undefined;
      return;
    }
    case 'rpc.closing/idle':
      toDeadline(sut);
      expect(await raw.next()).to.deep.equal({ kind: 'fin' });
      return;
    case 'rpc.closing/close':
      sut.session.send({ type: 'rpc-session.close' });
      expect(await raw.next()).to.deep.equal({ kind: 'fin' });
      return;
    case 'rpc.closed/fin':
      return raw.fin();
    case 'rpc.closed/reset':
      return raw.reset();
    case 'rpc.closed/timeout':
      return toDeadline(sut);
    case 'rpc.closed/violation': {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(MAX_RPC_FRAME_BYTES + 1);
      return raw.write(header);
    }
    case 'rpc-session.abort/':
      return sut.session.send({ type: 'rpc-session.abort' });
    default:
      throw new Error(`no executor for ${event.type} (${event.how})`);
  }
}

function frameOf(versions: number[]): Uint8Array {
  const body = Uint8Array.of(0x0a, versions.length, ...versions);
  return Uint8Array.of(0, 0, 0, body.length, ...body);
}

async function check(sut: Sut, expected: Snap, last: Ev | undefined): Promise<void> {
  const want = expected.status === 'done' ? 'done' : JSON.stringify(expected.value);
  const real = () => (sut.session.getSnapshot().status === 'done' ? 'done' : JSON.stringify(sut.session.getSnapshot().value));
  await until(`the session reaches ${want} (it is ${real()})`, () => real() === want, 3_000);
  const reports = sut.owner.seen.map((e) => e.type);
  if (expected.status === 'done') {
    await until('the owner is told the session ended', () => sut.owner.seen.some((e) => e.type === 'rpc-session.ended'));
    if (last?.how === 'violation') expect(reports).to.include('rpc-server.violation');
    // Over: the substream is gone (closed both ways or reset) and nothing of the session is left.
    await until('the substream is closed', () => sut.raw.stream.destroyed || (sut.raw.stream.readableEnded && sut.raw.stream.writableEnded), 3_000);
  } else expect(reports).to.not.include('rpc-session.ended');
  expect(sut.crashes).to.deep.equal([]);
}

describe('server rpc session machine, model-based (paths from its graph drive a real session over a real substream)', function () {
  this.timeout(60_000);

  it('the paths take every transition: admission, calls (unary and stream), re-arms, every way to close', () => {
    const taken = new Set(paths.flatMap((p) => p.steps.map((s) => `${s.event.type}/${s.event.how ?? ''}`)));
    for (const t of ['rpc.admission/hello', 'rpc.accepted/accept', 'rpc.closing/no-sessions', 'rpc.call-started/stream', 'rpc.streaming/item', 'rpc.rearm/item', 'rpc.rearm/refused', 'rpc.call-ended/timeout', 'rpc.closed/violation', 'rpc.closing/idle', 'rpc.closed/timeout']) expect(taken).to.include(t);
    expect(paths.length).to.be.at.least(35);
  });

  for (const path of paths) {
    it(path.name, async () => {
      const sut = await system();
      let last: Ev | undefined;
      try {
        await runPath(
          path,
          async (event) => {
            last = event;
            await exec(sut, event);
          },
          (expected) => check(sut, expected, last),
        );
      } finally {
        await sut.close();
      }
    });
  }
});
