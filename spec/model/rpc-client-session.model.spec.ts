/**
 * Model-based test (@xstate/graph) of a client RPC session (`actors/rpc-client-session`). The
 * model's events are the connection manager's answer to the substream request, the pool's
 * commands and what the session's I/O reports, each tagged with how the real system is made to
 * produce it: a stand-in connection manager opens a real substream (memory transport, Noise,
 * yamux) to a hand-written server when the step says (or fails, or fails as a dropped connection
 * does), the hand-written server answers frame by frame, and the SimulatedClock reaches the
 * core's deadlines. One path per transition drives a real session actor; after every step it
 * must be where the model is, and once over it must have told the pool exactly once.
 */
import { expect } from 'chai';
import { create, toBinary } from '@bufbuild/protobuf';
import { multiaddr } from '@multiformats/multiaddr';
import { SimulatedClock, fromCallback, type EventFromLogic, type SnapshotFrom } from 'xstate';
import { negotiateInbound } from '../../channels/negotiate.js';
import { PeerConnection, upgradeInbound, upgradeOutbound } from '../../channels/upgrade.js';
import type { PlainError, TcommsError } from '../../core/errors.js';
import type { ConnectionManagerInbox } from '../../actors/connection-manager/index.js';
import { CallQueue, RpcClientCall } from '../../actors/rpc-client/index.js';
import { rpcServiceDefinition } from '../../actors/rpc-server/index.js';
import { rpcClientSessionLogic, rpcClientSessionMachine, DEFAULT_RPC_CLIENT_SESSION_CONFIG, type RpcClientSessionReport } from '../../actors/rpc-client-session/index.js';
import { PayloadSchema } from '../../proto/gen/tcomms/bench/v1/bench_pb.js';
import { HandshakeRejectReason, MAX_RPC_FRAME_BYTES, RpcFlag } from '../../protocols/rpc/index.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import { recorder, testSystem } from '../support/actors.js';
import { runPath, transitionCover } from '../support/model.js';
import { testNode } from '../support/nodes.js';
import { BENCH, Bench, RawSubstream } from '../support/rpc.js';
import { until } from '../support/wait.js';

type Snap = SnapshotFrom<typeof rpcClientSessionMachine>;
type Ev = EventFromLogic<typeof rpcClientSessionMachine> & { how?: string };

const bench = rpcServiceDefinition(Bench);
const DEADLINE_MS = 5_000;
const OPEN = 'xstate.after.openTimeout.rpcClientSession.opening';
const IDLE = 'xstate.after.idleTimeout.rpcClientSession.open.idle';

const ev = (type: string, how?: string, extra: Record<string, unknown> = {}) => ({ type, ...(how ? { how } : {}), dueAt: undefined, ...extra }) as unknown as Ev;
/** A call as the model sees it (its method's name and deadline; the real one is made by the step). */
const modelCall = (name: 'echo' | 'stream') => ({ method: { name: bench.byName[name].name }, deadlineMs: DEADLINE_MS }) as unknown as RpcClientCall;
const closed = (how: string) => ev('rpc.closed', how, { error: undefined, rejectReason: undefined });

function modelEvents(state: Snap): Ev[] {
  if (state.status === 'done') return [];
  const abort = ev('rpc-client-session.abort');
  if (state.matches('opening')) {
    const requestId = `rpc:1:${state.context.reopens}`;
    const events = [
      ev('peer-connection.substream', 'ok', { requestId, ok: true, stream: {}, protocol: BENCH }),
      ev('peer-connection.substream', 'fail', { requestId, ok: false, error: { name: 'DialFailed', message: 'model', kind: 'transport' } }),
      ev('peer-connection.substream', 'went', { requestId, ok: false, error: { name: 'ConnectionClosed', message: 'model', kind: 'transport' } }),
      ev(OPEN),
      abort,
    ];
    if (!state.context.closeRequested) events.push(ev('rpc-client-session.close'));
    return events;
  }
  const open = (state.value as { open: string }).open;
  switch (open) {
    case 'handshake':
      return [ev('rpc.accepted', 'accept'), ev('rpc.rejected', 'reject', { reason: 2 }), closed('timeout'), closed('reset'), closed('fin'), abort];
    case 'idle':
      return [
        ev('rpc-client-session.call', 'echo', { call: modelCall('echo') }),
        ev('rpc-client-session.call', 'stream', { call: modelCall('stream') }),
        ev('rpc.pinging', 'ping'),
        ev('rpc.closing', 'close'),
        ev(IDLE),
        closed('fin'),
        closed('reset'),
        abort,
      ];
    case 'inCall': {
      const events = [ev('rpc.call-ended', 'answer'), ev('rpc.cancelling', 'cancel'), ev('rpc.closing', 'close'), closed('timeout'), closed('reset'), closed('violation'), abort];
      if (state.context.method === 'Stream') events.push(ev('rpc.streaming', 'item'));
      return events;
    }
    case 'streaming':
      return [ev('rpc.rearm', 'item'), ev('rpc.call-ended', 'end'), ev('rpc.cancelling', 'cancel'), closed('reset'), abort];
    case 'cancelling':
      return [ev('rpc.call-ended', 'fin'), closed('timeout'), abort];
    case 'pinging':
      return [ev('rpc.ping-ended', 'pong', { ok: true }), closed('timeout'), abort];
    case 'closing':
      return [closed('fin'), closed('timeout'), abort];
    default:
      return [];
  }
}

const server = testNode('server', { yamux: { keepaliveIntervalMs: 0 } });
// Traversed without a connection manager: the request for the substream is the step's (the
// bare machine would answer itself that there is none).
const modelMachine = rpcClientSessionMachine.provide({ actions: { requestStream: () => undefined } });
const paths = transitionCover<Snap, Ev>(modelMachine, {
  input: { key: '1', publicKey: server.identity.publicKey, protocol: BENCH, queue: new CallQueue(), owner: { send: () => {} } as never, now: () => 0 },
  events: modelEvents,
  serializeState: (s) =>
    JSON.stringify({ value: s.value, status: s.status, reopens: s.context.reopens, closeRequested: s.context.closeRequested, method: s.matches({ open: 'inCall' }) ? s.context.method : undefined }),
  describe: (s) => (s.status === 'done' ? 'closed' : typeof s.value === 'string' ? s.value : `open.${(s.value as { open: string }).open}`),
  describeEvent: (e) => `${e.type.replace(/^xstate\.after\.(\w+)\..*/, 'after $1')}${e.how ? ` (${e.how})` : ''}`,
});

/** A call made by a step, with what it got. */
interface CallRecord {
  call: RpcClientCall;
  items: number;
  outcome: 'response' | 'end' | TcommsError | undefined;
}

async function system() {
  const clock = new SimulatedClock();
  const transport = new MemoryTransport({ network: new MemoryNetwork() });
  const listener = await transport.listen(multiaddr('/memory/0'));
  const client = testNode('client', { yamux: { keepaliveIntervalMs: 0 } });
  const accepted = listener[Symbol.asyncIterator]().next().then((r) => upgradeInbound(r.value!.stream, server));
  const dialed = await transport.dial(listener.address);
  const [ours, theirs] = await Promise.all([upgradeOutbound(dialed.stream, client, { dialedPublicKey: server.identity.publicKey }), accepted]);
  await listener.close();
  if (!(theirs instanceof PeerConnection)) throw new Error('expected a connection');
  const substreams: RawSubstream[] = [];
  theirs.on('stream', (s) => void negotiateInbound(s, new Set([BENCH])).then(() => substreams.push(new RawSubstream(s))));
  theirs.release();
  ours.release();
  // The stand-in connection manager: requests wait for the step's answer.
  const requests: Array<Extract<ConnectionManagerInbox, { type: 'connection-manager.open-stream' }>> = [];
  const cm = fromCallback<ConnectionManagerInbox>(({ receive }) => receive((e) => void (e.type === 'connection-manager.open-stream' && requests.push(e))));
  const owner = recorder<RpcClientSessionReport>();
  const s = testSystem(
    {
      connectionManager: { logic: cm },
      owner: { logic: owner.logic },
      session: {
        logic: rpcClientSessionLogic,
        inputFrom: (get) => ({ key: '1', publicKey: server.identity.publicKey, protocol: BENCH, queue: new CallQueue(), owner: get('owner'), now: () => clock.now() }),
      },
    },
    { clock },
  );
  const close = async () => {
    s.stop();
    ours.muxer.abort();
    theirs.muxer.abort();
  };
  return { clock, ours, substreams, requests, session: s.get('session'), owner, calls: [] as CallRecord[], close, crashes: s.crashes, pongs: [] as boolean[] };
}
type Sut = Awaited<ReturnType<typeof system>>;

const raw = (sut: Sut) => sut.substreams[0]!;
const lastCall = (sut: Sut) => sut.calls.at(-1)!;

function toDeadline(sut: Sut): void {
  const due = sut.session.getSnapshot().context.dueAt!;
  sut.clock.increment(Math.max(0, due - sut.clock.now()));
}

function makeCall(sut: Sut, name: 'echo' | 'stream'): RpcClientCall {
  const record: CallRecord = { call: undefined as never, items: 0, outcome: undefined };
  record.call = new RpcClientCall(
    { method: bench.byName[name], payload: new Uint8Array(0), deadlineMs: DEADLINE_MS },
    { item: () => void record.items++, response: () => (record.outcome = 'response'), end: () => (record.outcome = 'end'), fail: (e) => (record.outcome = e) },
  );
  sut.calls.push(record);
  return record.call;
}

const item = () => toBinary(PayloadSchema, create(PayloadSchema, { data: Uint8Array.of(7) }));

async function exec(sut: Sut, event: Ev): Promise<void> {
  const state = sut.session.getSnapshot();
  const made = state.context.stats.calls; // the I/O counts on: the count before this step
  const id = () => made;
  switch (`${event.type}/${event.how ?? ''}`) {
    case 'peer-connection.substream/ok': {
      await until('the substream is asked for', () => sut.requests.length > 0);
      const r = sut.requests.shift()!;
      const { stream, protocol } = await sut.ours.openStream([BENCH]);
      if (state.context.closeRequested) {
        r.replyTo.send({ type: 'peer-connection.substream', requestId: r.requestId, ok: true, stream, protocol });
        return until('the late substream is reset', () => stream.destroyed);
      }
      r.replyTo.send({ type: 'peer-connection.substream', requestId: r.requestId, ok: true, stream, protocol });
      await until('the server has the substream', () => sut.substreams.length === 1);
      expect((await raw(sut).session()).supportedVersions).to.deep.equal([1]);
      return;
    }
    case 'peer-connection.substream/fail':
    case 'peer-connection.substream/went': {
      await until('the substream is asked for', () => sut.requests.length > 0);
      const r = sut.requests.shift()!;
      r.replyTo.send({ type: 'peer-connection.substream', requestId: r.requestId, ok: false, error: (event as unknown as { error: PlainError }).error });
      return;
    }
    case `${OPEN}/`:
      sut.clock.increment(DEFAULT_RPC_CLIENT_SESSION_CONFIG.openTimeoutMs);
      return;
    case `${IDLE}/`:
      // Idle since the last step (the clock moves only in steps): its timer closes it, with this side's FIN.
      sut.clock.increment(DEFAULT_RPC_CLIENT_SESSION_CONFIG.idleTimeoutMs);
      expect(await raw(sut).end()).to.equal('fin');
      return;
    case 'rpc-client-session.close/':
      return sut.session.send({ type: 'rpc-client-session.close' });
    case 'rpc-client-session.abort/':
      return sut.session.send({ type: 'rpc-client-session.abort' });
    case 'rpc.accepted/accept':
      return raw(sut).accept();
    case 'rpc.rejected/reject':
      raw(sut).reject(HandshakeRejectReason.NO_SERVER_SESSIONS_AVAILABLE);
      expect(await raw(sut).next()).to.deep.equal({ kind: 'fin' });
      return;
    case 'rpc-client-session.call/echo':
    case 'rpc-client-session.call/stream': {
      sut.session.send({ type: 'rpc-client-session.call', call: makeCall(sut, event.how as 'echo' | 'stream') });
      const req = await raw(sut).request();
      expect(req.requestId).to.equal(id() + 1);
      return;
    }
    case 'rpc.pinging/ping': {
      sut.session.send({ type: 'rpc-client-session.ping', requestId: `p${sut.pongs.length}` });
      const ping = await raw(sut).request();
      expect({ requestId: ping.requestId, flags: ping.flags }).to.deep.equal({ requestId: 0, flags: RpcFlag.ACK });
      return;
    }
    case 'rpc.ping-ended/pong':
      return raw(sut).answer({ requestId: 0, status: 0, flags: RpcFlag.ACK });
    case 'rpc.streaming/item':
      raw(sut).answer({ requestId: id(), status: 0, flags: 0, payload: item() });
      return until('the item arrives', () => lastCall(sut).items === 1);
    case 'rpc.rearm/item': {
      const due = state.context.dueAt!;
      sut.clock.increment(500);
      const before = lastCall(sut).items;
      raw(sut).answer({ requestId: id(), status: 0, flags: 0, payload: item() });
      await until('the item arrives', () => lastCall(sut).items === before + 1);
      sut.clock.increment(due - sut.clock.now());
      return until('re-armed', () => sut.session.getSnapshot().context.dueAt === due + 500);
    }
    case 'rpc.call-ended/answer': {
      const stream = state.context.method === 'Stream';
      raw(sut).answer({ requestId: id(), status: 0, flags: RpcFlag.FIN, payload: stream ? new Uint8Array(0) : item() });
      return until('the call settles', () => lastCall(sut).outcome === (stream ? 'end' : 'response'));
    }
    case 'rpc.call-ended/end':
      raw(sut).answer({ requestId: id(), status: 0, flags: RpcFlag.FIN });
      return until('the stream ends', () => lastCall(sut).outcome === 'end');
    case 'rpc.cancelling/cancel': {
      lastCall(sut).call.cancel();
      const cancel = await raw(sut).request();
      expect({ requestId: cancel.requestId, flags: cancel.flags }).to.deep.equal({ requestId: id(), flags: RpcFlag.FIN });
      expect((lastCall(sut).outcome as Error).name).to.equal('RpcCallCancelled');
      return;
    }
    case 'rpc.call-ended/fin':
      return raw(sut).answer({ requestId: id(), status: 0, flags: RpcFlag.FIN });
    case 'rpc.closing/close':
      sut.session.send({ type: 'rpc-client-session.close' });
      expect(await raw(sut).end()).to.equal('fin');
      return;
    case 'rpc.closed/fin':
      return raw(sut).fin();
    case 'rpc.closed/reset':
      return raw(sut).reset();
    case 'rpc.closed/timeout':
      await until('the deadline is known', () => sut.session.getSnapshot().context.dueAt !== undefined);
      return toDeadline(sut);
    case 'rpc.closed/violation': {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(MAX_RPC_FRAME_BYTES + 1);
      return raw(sut).write(header);
    }
    default:
      throw new Error(`no executor for ${event.type} (${event.how})`);
  }
}

async function check(sut: Sut, expected: Snap, last: Ev | undefined): Promise<void> {
  const want = expected.status === 'done' ? 'done' : JSON.stringify(expected.value);
  const real = () => (sut.session.getSnapshot().status === 'done' ? 'done' : JSON.stringify(sut.session.getSnapshot().value));
  await until(`the session reaches ${want} (it is ${real()})`, () => real() === want, 3_000);
  if (expected.status === 'done') {
    await until('the pool is told the session ended', () => sut.owner.seen.some((e) => e.type === 'rpc-client-session.ended'));
    expect(sut.owner.seen.filter((e) => e.type === 'rpc-client-session.ended')).to.have.length(1);
    if (last?.how === 'violation') expect(sut.owner.seen.map((e) => e.type)).to.include('rpc-client.violation');
    // A call in flight when the session ended has failed.
    for (const c of sut.calls) expect(c.outcome, 'every call settled').to.not.equal(undefined);
  } else if (!expected.matches({ open: 'closing' })) expect(sut.owner.seen.map((e) => e.type)).to.not.include('rpc-client-session.ended');
  if (expected.matches({ open: 'idle' })) await until('the pool is told the session is idle', () => sut.owner.seen.at(-1)?.type === 'rpc-client-session.idle');
  expect(sut.crashes).to.deep.equal([]);
}

describe('client rpc session machine, model-based (paths from its graph drive a real session over a real substream)', function () {
  this.timeout(60_000);

  it('the paths take every transition: opening (and again after a dropped connection), calls, items, re-arms, cancels, pings, the idle timeout, every way to close', () => {
    const taken = new Set(paths.flatMap((p) => p.steps.map((s) => `${s.event.type}/${s.event.how ?? ''}`)));
    for (const t of ['peer-connection.substream/went', 'rpc.rejected/reject', 'rpc.streaming/item', 'rpc.rearm/item', 'rpc.cancelling/cancel', 'rpc.ping-ended/pong', 'rpc.closed/violation', 'rpc.closed/timeout', `${OPEN}/`, `${IDLE}/`]) expect(taken).to.include(t);
    expect(paths.length).to.be.at.least(40);
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
