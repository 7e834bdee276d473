/**
 * The RPC client of a real node (PROTOCOL.md section 8): the typed client between two nodes
 * (calls, errors, cancellation, deadlines, transport failures, the pool), and against a
 * hand-written server that answers frame by frame (the handshake, each kind of bad answer, a
 * frame over 4 MiB, cancels, the server's idle close, request ids, pings).
 */
import { expect } from 'chai';
import { SimulatedClock } from 'xstate';
import { toHex } from '../../core/bytes.js';
import { NodeIdentity } from '../../core/keys.js';
import { ask } from '../../actors/request.js';
import { RpcClientCall, RpcClientStopped, RpcOpenFailed } from '../../actors/rpc-client/index.js';
import { rpcServiceDefinition } from '../../actors/rpc-server/index.js';
import { NodeNotRunning, type CommsNode } from '../../node/index.js';
import {
  HandshakeRejectReason,
  MAX_RPC_FRAME_BYTES,
  RpcCallCancelled,
  RpcError,
  RpcFlag,
  RpcProtocolError,
  RpcSessionClosed,
  RpcSessionRejected,
  RpcStatus,
  type RpcClient,
} from '../../protocols/rpc/index.js';
import { NodeInfo } from '../../proto/gen/tcomms/info/v1/info_pb.js';
import { Bench, BenchService, MemoryNetwork, RawServer, memoryNode, payloadBytes } from '../support/rpc.js';
import { until } from '../support/wait.js';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => Buffer.from(b).toString();

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('RPC client of a node', function () {
  this.timeout(30_000);
  const network = new MemoryNetwork();
  const nodes: CommsNode[] = [];
  const servers: RawServer[] = [];

  async function started(name: string, configure: Parameters<typeof memoryNode>[2] = (b) => b): Promise<CommsNode> {
    const n = memoryNode(network, name, configure);
    nodes.push(n);
    await n.start();
    return n;
  }

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });

  describe('between two nodes', () => {
    let service: BenchService;
    let server: CommsNode;
    let client: CommsNode;
    let bench: RpcClient<typeof Bench>;
    const serverSessions = () => server.actors.rpcServer.getSnapshot().context.sessions.size;
    const clientSessions = () => client.actors.rpcClient.getSnapshot().context.pools.sessions;

    beforeEach(async () => {
      service = new BenchService();
      server = await started('server', (b) => b.withRpcService(Bench, service.handlers).withNodeInfo());
      client = await started('client');
      await client.addPeer(server.publicKey, server.listenAddresses.map(String));
      bench = await client.rpc(server.publicKey, Bench);
    });

    it('unary calls resolve with the response, stream calls yield the items; the handler sees the calling peer', async () => {
      expect(str((await bench.echo({ data: text('hello') })).data)).to.equal('hello');
      const items: number[] = [];
      for await (const item of bench.stream({ count: 5, size: 3 })) items.push(item.data.length);
      expect(items).to.deep.equal([3, 3, 3, 3, 3]);
      expect(toHex(service.contexts[0]!.peer.publicKey)).to.equal(toHex(client.publicKey));
      expect(toHex(service.contexts[0]!.peer.nodeId)).to.equal(toHex(client.nodeId));
      expect(service.contexts[0]!.deadline).to.equal(120_000);
      // The built-in NodeInfo.
      const info = await client.rpc(server.publicKey, NodeInfo);
      const got = await info.getInfo({});
      expect(toHex(got.publicKey)).to.equal(toHex(server.publicKey));
      expect(got).to.include({ userAgent: 'server', connections: 1 });
      expect(got.addresses).to.deep.equal(server.listenAddresses.map(String));
      const conns = [];
      for await (const c of info.listConnections({ limit: 0 })) conns.push(c);
      expect(conns.map((c) => toHex(c.publicKey))).to.deep.equal([toHex(client.publicKey)]);
      expect(conns[0]!.outbound).to.equal(false);
    });

    it('a non-Ok answer rejects with an RpcError carrying the status', async () => {
      service.echo = () => {
        throw new RpcError(RpcStatus.NotFound, 'no such peer');
      };
      const err = await rejection(bench.echo({ data: text('x') }));
      expect(err).to.be.instanceOf(RpcError);
      expect((err as RpcError).status).to.equal(RpcStatus.NotFound);
      expect(err.message).to.equal('no such peer');
      service.stream = async function* () {
        yield { data: text('1') };
        throw new RpcError(RpcStatus.Forbidden, 'enough');
      };
      const seen: string[] = [];
      const streamErr = await rejection((async () => {
        for await (const item of bench.stream({})) seen.push(str(item.data));
      })());
      expect(seen).to.deep.equal(['1']);
      expect((streamErr as RpcError).status).to.equal(RpcStatus.Forbidden);
      // A deadline below the minimum: the server's BadRequest.
      expect(((await rejection(bench.echo({}, { deadlineMs: 500 }))) as RpcError).status).to.equal(RpcStatus.BadRequest);
    });

    it("deadlines: the server answers Timeout when the handler is late, and aborts the handler's signal", async () => {
      service.echo = (_r, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({})));
      const err = await rejection(bench.echo({}, { deadlineMs: 1_000 }));
      expect((err as RpcError).status).to.equal(RpcStatus.Timeout);
      expect((err as RpcError).kind).to.equal('timeout');
      expect(service.contexts[0]!.signal.aborted).to.equal(true);
    });

    it('an aborted signal cancels the call (the handler is stopped); the session is used again', async () => {
      service.echo = (_r, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({})));
      const controller = new AbortController();
      const pending = bench.echo({}, { signal: controller.signal });
      await until('the handler runs', () => service.contexts.length === 1);
      controller.abort();
      expect(await rejection(pending)).to.be.instanceOf(RpcCallCancelled);
      await until('the handler is stopped', () => service.contexts[0]!.signal.aborted);
      service.echo = (r) => ({ data: r.data });
      expect(str((await bench.echo({ data: text('again') })).data)).to.equal('again');
      expect(clientSessions()).to.equal(1);
      // Already aborted: not even sent.
      expect(await rejection(bench.echo({}, { signal: AbortSignal.abort() }))).to.be.instanceOf(RpcCallCancelled);
    });

    it('breaking out of a stream cancels it: the handler is stopped, the session is used again', async () => {
      service.stream = async function* (_r, ctx) {
        for (let i = 0; !ctx.signal.aborted; i++) {
          yield { data: text(String(i)) };
          await new Promise((r) => setTimeout(r, 2));
        }
      };
      const got: string[] = [];
      for await (const item of bench.stream({})) {
        got.push(str(item.data));
        if (got.length === 3) break;
      }
      expect(got).to.deep.equal(['0', '1', '2']);
      await until('the handler is stopped', () => service.contexts[0]!.signal.aborted);
      expect(str((await bench.echo({ data: text('next') })).data)).to.equal('next');
      expect(clientSessions()).to.equal(1);
    });

    it('a slow consumer of a stream holds the server back (the session stops reading): everything arrives, in order', async () => {
      const N = 3_000;
      let produced = 0;
      service.stream = async function* () {
        for (; produced < N; produced++) yield { data: new Uint8Array(1024).fill(produced & 0xff) };
      };
      let i = 0;
      for await (const item of bench.stream({})) {
        if (i === 10) {
          await new Promise((r) => setTimeout(r, 200));
          // The server could not run ahead by more than what the windows and buffers hold.
          expect(produced).to.be.below(N);
        }
        expect(item.data[0]).to.equal(i & 0xff);
        i++;
      }
      expect(i).to.equal(N);
    });

    it('the pool opens sessions lazily, one call per session, at most 4 per peer and service; a call leases an idle one', async () => {
      expect(clientSessions()).to.equal(0);
      for (let i = 0; i < 5; i++) await bench.echo({ data: text('seq') });
      expect(clientSessions()).to.equal(1); // sequential calls reuse the idle session
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      service.echo = async (r) => {
        await gate;
        return { data: r.data };
      };
      const calls = Array.from({ length: 32 }, (_, i) => bench.echo({ data: text(String(i)) }));
      await until('4 calls run (one per session)', () => service.started.echo === 5 + 4);
      expect(clientSessions()).to.equal(4);
      expect(serverSessions()).to.equal(4);
      release();
      const answers = await Promise.all(calls);
      expect(answers.map((a) => str(a.data))).to.deep.equal(Array.from({ length: 32 }, (_, i) => String(i)));
      expect(clientSessions()).to.equal(4);
      // The calls were spread over the four sessions.
      const ctx = server.actors.rpcServer.getSnapshot().context;
      const perSession = [...ctx.sessions.keys()].map((k) => ctx.directory.get(k)!.getSnapshot().context.stats.calls);
      expect(perSession).to.have.length(4);
      for (const n of perSession) expect(n).to.be.at.least(2);
      expect(perSession.reduce((a, b) => a + b, 0)).to.equal(37);
    });

    it('back to back on one session: the next waiting call is taken by the I/O (the session stays inCall, no call-ended); a shorter deadline re-arms its timer', async () => {
      const one = await started('one', (b) => b.withRpc({ clientSessionsPerPeer: 1 }));
      await one.addPeer(server.publicKey, server.listenAddresses.map(String));
      const b1 = await one.rpc(server.publicKey, Bench);
      await b1.echo({}); // the session opened, idle
      const session = () => {
        const ctx = one.actors.rpcClient.getSnapshot().context;
        return ctx.directory.get(ctx.pools.sessionKeys()[0]!)!.getSnapshot();
      };
      const gates: Array<() => void> = [];
      service.echo = (r) => new Promise((resolve) => gates.push(() => resolve({ data: r.data })));
      const first = b1.echo({ data: text('a') }); // deadline_ms 120,000
      await until('the first call runs', () => gates.length === 1);
      const dueFirst = session().context.dueAt!;
      const second = b1.echo({ data: text('b') }, { deadlineMs: 1_000 }); // queued behind it, with an earlier deadline
      // The pool queued it without an event: the session took none yet.
      expect(session().context.stats.calls).to.equal(2);
      gates.shift()!();
      expect(str((await first).data)).to.equal('a');
      await until('the second call runs', () => gates.length === 1);
      const s = session();
      expect(s.matches({ open: 'inCall' })).to.equal(true);
      expect(s.context.stats.calls).to.equal(3);
      // Re-armed: the timer waits for the second call's deadline (1 s + 60 s), earlier than the first's (120 s + 60 s).
      expect(s.context.dueAt).to.be.below(dueFirst);
      gates.shift()!();
      expect(str((await second).data)).to.equal('b');
      await until('idle again', () => session().matches({ open: 'idle' }));
    });

    it('rpc.clientSessionsPerPeer bounds the pool', async () => {
      const small = await started('small', (b) => b.withRpc({ clientSessionsPerPeer: 2 }));
      await small.addPeer(server.publicKey, server.listenAddresses.map(String));
      const b2 = await small.rpc(server.publicKey, Bench);
      await Promise.all(Array.from({ length: 20 }, () => b2.echo({})));
      expect(small.actors.rpcClient.getSnapshot().context.pools.sessions).to.equal(2);
    });

    it('a session broken by a failure is replaced: its call in flight fails, the queued calls go on a new session', async () => {
      const one = await started('one', (b) => b.withRpc({ clientSessionsPerPeer: 1 }));
      await one.addPeer(server.publicKey, server.listenAddresses.map(String));
      const b1 = await one.rpc(server.publicKey, Bench);
      await b1.echo({});
      service.echo = (_r, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({})));
      const inFlight = b1.echo({ data: text('lost') });
      await until('the first call runs', () => service.started.echo === 2);
      service.echo = (r) => ({ data: r.data });
      const queued = [b1.echo({ data: text('q1') }), b1.echo({ data: text('q2') })];
      // The server resets the session (its actor is told to end at once).
      const ctx = server.actors.rpcServer.getSnapshot().context;
      for (const key of ctx.sessions.keys()) ctx.host.send({ type: 'host.send', key, event: { type: 'rpc-session.abort' } });
      const err = await rejection(inFlight);
      expect(err).to.be.instanceOf(RpcSessionClosed);
      expect((await Promise.all(queued)).map((a) => str(a.data))).to.deep.equal(['q1', 'q2']);
      expect(one.actors.rpcClient.getSnapshot().context.pools.sessions).to.equal(1);
    });

    it('a dropped connection fails the calls in flight at once, with the transport error; queued calls go on a new connection', async () => {
      service.echo = (_r, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({})));
      const inFlight = Array.from({ length: 4 }, () => rejection(bench.echo({})));
      await until('the calls run', () => service.started.echo === 4);
      const queued = Array.from({ length: 2 }, (_, i) => bench.echo({ data: text(`q${i}`) }));
      service.echo = (r) => ({ data: r.data });
      // The peer's side goes away (its socket is destroyed, no GoAway).
      server.connection(client.publicKey)!.getSnapshot().context.connection.muxer.abort();
      for (const e of await Promise.all(inFlight)) {
        expect(e).to.not.be.instanceOf(RpcError);
        expect(e.name).to.equal('MuxerClosed');
        expect((e as { kind?: string }).kind).to.equal('transport');
      }
      expect((await Promise.all(queued)).map((a) => str(a.data))).to.deep.equal(['q0', 'q1']);
    });

    it('transport failures keep their own typed errors: an unknown peer, a peer without the service', async () => {
      const nobody = await client.rpc(NodeIdentity.generate().publicKey, Bench);
      const unknown = await rejection(nobody.echo({}));
      expect(unknown).to.be.instanceOf(RpcOpenFailed);
      expect((unknown as RpcOpenFailed).kind).to.not.equal('internal');
      const other = await started('other');
      await client.addPeer(other.publicKey, other.listenAddresses.map(String));
      const missing = await rejection((await client.rpc(other.publicKey, Bench)).echo({}));
      expect(missing).to.be.instanceOf(RpcOpenFailed);
      expect(client.actors.rpcClient.getSnapshot().context.pools.sessions).to.equal(0);
    });

    it('a stopped node: rpc() throws NodeNotRunning; calls still queued fail', async () => {
      service.echo = (_r, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({})));
      const pending = Array.from({ length: 6 }, () => rejection(bench.echo({})));
      await until('the calls run', () => service.started.echo === 4);
      await client.stop();
      const errors = await Promise.all(pending);
      for (const e of errors) expect(e.name).to.be.oneOf([RpcClientStopped.name, RpcSessionClosed.name, 'MuxerClosed', NodeNotRunning.name]);
      expect(await rejection(client.rpc(server.publicKey, Bench))).to.be.instanceOf(NodeNotRunning);
      expect(await rejection(bench.echo({}))).to.be.instanceOf(NodeNotRunning);
    });
  });

  describe('idle timeout (rpc.clientIdleTimeoutMs; both nodes on one SimulatedClock)', () => {
    let clock: SimulatedClock;
    let server: CommsNode;
    let client: CommsNode;
    let bench: RpcClient<typeof Bench>;
    /** Events the client's actors received, by type (inspection). */
    let received: Map<string, number>;
    const serverSessions = () => server.actors.rpcServer.getSnapshot().context.sessions.size;
    const pool = () => client.actors.rpcClient.getSnapshot().context;
    const clientSession = () => pool().directory.get(pool().pools.sessionKeys()[0]!)!;

    async function pair(clientIdleTimeoutMs?: number): Promise<void> {
      clock = new SimulatedClock();
      clock.set(Date.now());
      received = new Map();
      // One server session per peer: a second session of the client is admitted only once the first freed its slot.
      server = await started('server', (b) => b.withClock(clock).withRpcService(Bench, new BenchService().handlers).withRpc({ maxSessionsPerPeer: 1 }));
      client = await started('client', (b) =>
        b
          .withClock(clock)
          .withRpc(clientIdleTimeoutMs === undefined ? {} : { clientIdleTimeoutMs })
          .withInspect((e) => void (e.type === '@xstate.event' && received.set(e.event.type, (received.get(e.event.type) ?? 0) + 1))),
      );
      await client.addPeer(server.publicKey, server.listenAddresses.map(String));
      bench = await client.rpc(server.publicKey, Bench);
    }

    it('a session idle for 30 s (the default) closes itself with a FIN: the pool forgets it, the server session ends and frees its slot; the next call opens a new session', async () => {
      await pair();
      expect(str((await bench.echo({ data: text('1') })).data)).to.equal('1');
      expect(pool().pools.sessionKeys()).to.deep.equal(['1']);
      expect(serverSessions()).to.equal(1);
      clock.increment(29_999);
      expect(clientSession().getSnapshot().matches({ open: 'idle' })).to.equal(true);
      clock.increment(1);
      // Closed by its timer (this side's FIN), not reset: the server closes too.
      expect(clientSession().getSnapshot().matches({ open: 'closing' })).to.equal(true);
      await until('the client session ended and was forgotten', () => pool().pools.sessions === 0);
      await until("the server's session ended", () => serverSessions() === 0);
      expect(client.actors.rpcClient.getSnapshot().context.directory.size).to.equal(0);
      // The server admits one session of this peer: the new one is admitted because the slot is free.
      expect(str((await bench.echo({ data: text('2') })).data)).to.equal('2');
      expect(pool().pools.sessionKeys()).to.deep.equal(['2']);
      expect(serverSessions()).to.equal(1);
    });

    it('a call before the timeout reuses the session (no new substream) and the wait starts again; so does a ping', async () => {
      await pair(10_000);
      await bench.echo({});
      clock.increment(9_000);
      await bench.echo({});
      expect(pool().pools.sessionKeys()).to.deep.equal(['1']);
      expect(clientSession().getSnapshot().context.stats.calls).to.equal(2);
      clock.increment(9_000); // 18 s after the first call, 9 s after the second
      expect(clientSession().getSnapshot().matches({ open: 'idle' })).to.equal(true);
      const pong = ask(clientSession()).reply('rpc-client-session.pong', (requestId) => ({ type: 'rpc-client-session.ping', requestId }), 5_000);
      expect((await pong).ok).to.equal(true);
      await until('idle again after the ping', () => clientSession().getSnapshot().matches({ open: 'idle' }));
      clock.increment(9_000); // 9 s after the ping, 18 s after the last call
      expect(clientSession().getSnapshot().matches({ open: 'idle' })).to.equal(true);
      expect(serverSessions()).to.equal(1);
      clock.increment(1_000);
      await until('the session ended', () => pool().pools.sessions === 0 && serverSessions() === 0);
      expect(received.get('peer-connection.substream')).to.equal(1); // one substream opened in all
    });

    it('a call that reaches the session once its timer closed it is bounced to the pool and made on a new session', async () => {
      await pair(10_000);
      await bench.echo({ data: text('first') });
      clock.increment(10_000);
      // The session is closing; the pool still has it as idle (it is told only of the end) and gives it the call.
      expect(clientSession().getSnapshot().matches({ open: 'closing' })).to.equal(true);
      expect(pool().pools.poolOf('1')!.idle).to.deep.equal(['1']);
      const call = bench.echo({ data: text('raced') });
      expect(received.get('rpc-client-session.bounced')).to.equal(1);
      // Given back, it is no longer the old session's: its end does not put the call in the queue a second time.
      expect(pool().pools.unstarted('1')).to.equal(undefined);
      expect(pool().pools.poolOf('1')!.queue.length).to.equal(1);
      expect(str((await call).data)).to.equal('raced');
      expect(pool().pools.sessionKeys()).to.deep.equal(['2']);
      expect(received.get('peer-connection.substream')).to.equal(2);
      expect(serverSessions()).to.equal(1); // the first freed its slot (the server admits one)
      const second = clientSession().getSnapshot().context.stats.calls;
      expect(second, 'the call was made once, on the new session').to.equal(1);
    });

    it('0 disables it: an idle session stays open', async () => {
      await pair(0);
      await bench.echo({});
      clock.increment(110_000); // well past 30 s (short of the server's own idle close, 120 s)
      await bench.echo({});
      expect(pool().pools.sessionKeys()).to.deep.equal(['1']);
      expect(clientSession().getSnapshot().matches({ open: 'idle' })).to.equal(true);
      expect(serverSessions()).to.equal(1);
    });
  });

  it('a call is carried by one session only: a second attach is refused', () => {
    const call = new RpcClientCall({ method: rpcServiceDefinition(Bench).byName.echo, payload: new Uint8Array(0), deadlineMs: undefined }, { item: () => {}, response: () => {}, end: () => {}, fail: () => {} });
    const carrier = { cancel: () => {}, pause: () => {}, resume: () => {} };
    expect(call.attach(carrier)).to.equal(true);
    expect(call.attach(carrier)).to.equal(false);
    call.end();
    expect(call.attach(carrier)).to.equal(false);
  });

  describe('against a hand-written server', () => {
    let client: CommsNode;
    let raw: RawServer;
    let bench: RpcClient<typeof Bench>;
    const seen: Array<{ type: string; publicKey: Uint8Array; error?: { name: string } }> = [];

    beforeEach(async () => {
      seen.length = 0;
      client = await started('client');
      for (const type of ['peer.violation', 'peer.banned'] as const) client.on(type, (e: { publicKey: Uint8Array }) => seen.push({ type, ...e }));
      raw = await RawServer.listen(network);
      servers.push(raw);
      await client.addPeer(raw.publicKey, [raw.address]);
      bench = await client.rpc(raw.publicKey, Bench);
    });

    it('the handshake is RpcSession [1] alone; request ids start at 1 and grow by 1; answers are delivered', async () => {
      let call = bench.echo({ data: text('a') });
      const s = await raw.substream();
      expect((await s.session()).supportedVersions).to.deep.equal([1]);
      expect(await s.quiet(50)).to.equal(true); // nothing until the reply
      s.accept();
      for (let id = 1; id <= 3; id++) {
        const req = await s.request();
        expect({ requestId: req.requestId, method: req.method, flags: req.flags, deadlineMs: req.deadlineMs }).to.deep.equal({ requestId: id, method: 1, flags: 0, deadlineMs: id === 1 ? 120_000n : 5_000n });
        s.answer({ requestId: id, status: 0, flags: RpcFlag.FIN, payload: payloadBytes(text(`r${id}`)) });
        expect(str((await call).data)).to.equal(`r${id}`);
        call = bench.echo({ data: text('b') }, { deadlineMs: 5_000 });
      }
      void call.catch(() => undefined);
    });

    it('a rejection fails the waiting calls with RpcSessionRejected (no violation)', async () => {
      const call = rejection(bench.echo({}));
      const s = await raw.substream();
      await s.session();
      s.reject(HandshakeRejectReason.NO_SERVER_SESSIONS_AVAILABLE);
      const err = await call;
      expect(err).to.be.instanceOf(RpcSessionRejected);
      expect((err as RpcSessionRejected).reason).to.equal(HandshakeRejectReason.NO_SERVER_SESSIONS_AVAILABLE);
      expect(await s.end()).to.equal('fin');
      expect(seen).to.deep.equal([]);
    });

    for (const [what, answer] of [
      ['a response for another request_id', { requestId: 7, status: 0, flags: RpcFlag.FIN }],
      ['a non-Ok status without FIN', { requestId: 1, status: RpcStatus.NotFound, flags: 0 }],
      ['a unary frame without FIN', { requestId: 1, status: 0, flags: 0 }],
      ['an ACK during a call', { requestId: 1, status: 0, flags: RpcFlag.ACK | RpcFlag.FIN }],
      ['an undefined flag bit', { requestId: 1, status: 0, flags: 0x05 }],
      ['a payload that is not the response message', { requestId: 1, status: 0, flags: RpcFlag.FIN, payload: Uint8Array.of(0x0a, 0x09) }],
    ] as const) {
      it(`${what}: a protocol error, the call fails and the substream is reset`, async () => {
        const call = rejection(bench.echo({}));
        const s = await raw.session();
        await s.request();
        s.answer(answer);
        const err = await call;
        expect(err).to.be.instanceOf(RpcProtocolError);
        expect(await s.end()).to.equal('reset');
        expect(seen).to.deep.equal([]); // reset only
      });
    }

    it("an unknown status reads as General; a stream's Ok FIN with a payload is a protocol error", async () => {
      const call = rejection(bench.echo({}));
      const s = await raw.session();
      await s.request();
      s.answer({ requestId: 1, status: 99, flags: RpcFlag.FIN, payload: text('odd') });
      const err = (await call) as RpcError;
      expect({ status: err.status, message: err.message }).to.deep.equal({ status: RpcStatus.General, message: 'odd' });
      const items: string[] = [];
      const streamed = rejection((async () => {
        for await (const it of bench.stream({})) items.push(str(it.data));
      })());
      await s.request();
      s.answer({ requestId: 2, status: 0, flags: 0, payload: payloadBytes(text('one')) });
      s.answer({ requestId: 2, status: 0, flags: RpcFlag.FIN, payload: payloadBytes(text('two')) });
      expect(await streamed).to.be.instanceOf(RpcProtocolError);
      expect(items).to.deep.equal(['one']);
    });

    it('a frame over 4 MiB from the server: the call fails, the substream is reset and the server reported', async () => {
      const call = rejection(bench.echo({}));
      const s = await raw.session();
      await s.request();
      const header = Buffer.alloc(4);
      header.writeUInt32BE(MAX_RPC_FRAME_BYTES + 1);
      s.write(header);
      expect(await call).to.be.instanceOf(RpcProtocolError);
      await until('reported and banned', () => seen.some((e) => e.type === 'peer.banned'));
      expect(toHex(seen.find((e) => e.type === 'peer.violation')!.publicKey)).to.equal(toHex(raw.publicKey));
    });

    it('breaking out of a stream writes a cancel (FIN request); frames up to the FIN are dropped; the session is used again', async () => {
      const items: string[] = [];
      const loop = (async () => {
        for await (const it of bench.stream({})) {
          items.push(str(it.data));
          break;
        }
      })();
      const s = await raw.session();
      await s.request();
      s.answer({ requestId: 1, status: 0, flags: 0, payload: payloadBytes(text('a')) });
      await loop;
      const cancel = await s.request();
      expect({ requestId: cancel.requestId, flags: cancel.flags }).to.deep.equal({ requestId: 1, flags: RpcFlag.FIN });
      s.answer({ requestId: 1, status: 0, flags: 0, payload: payloadBytes(text('b')) }); // crossed the cancel: dropped
      s.answer({ requestId: 1, status: 0, flags: RpcFlag.FIN });
      const next = bench.echo({ data: text('x') });
      const req = await s.request();
      expect(req.requestId).to.equal(2);
      s.answer({ requestId: 2, status: 0, flags: RpcFlag.FIN, payload: payloadBytes(text('y')) });
      expect(str((await next).data)).to.equal('y');
      expect(items).to.deep.equal(['a']);
    });

    it('a cancel not answered with a FIN within 2 s: the client resets the substream', async () => {
      const controller = new AbortController();
      const call = rejection(bench.echo({}, { signal: controller.signal }));
      const s = await raw.session();
      await s.request();
      controller.abort();
      expect(await call).to.be.instanceOf(RpcCallCancelled);
      expect((await s.request()).flags).to.equal(RpcFlag.FIN);
      expect(await s.end(5_000)).to.equal('reset');
    });

    it("the server's FIN between calls (idle close): the client answers with FIN; the next call opens a new session", async () => {
      const first = bench.echo({});
      const s = await raw.session();
      await s.request();
      s.answer({ requestId: 1, status: 0, flags: RpcFlag.FIN, payload: payloadBytes(text('1')) });
      await first;
      s.fin();
      expect(await s.end()).to.equal('fin');
      await until('the session is over', () => client.actors.rpcClient.getSnapshot().context.pools.sessions === 0);
      const second = bench.echo({});
      const t = await raw.session();
      expect((await t.request()).requestId).to.equal(1);
      t.answer({ requestId: 1, status: 0, flags: RpcFlag.FIN, payload: payloadBytes(text('2')) });
      expect(str((await second).data)).to.equal('2');
    });

    it('a ping between calls: request_id 0, method 0, flags ACK, all else default; answered, the session goes on', async () => {
      await Promise.all([
        bench.echo({}),
        (async () => {
          const s = await raw.session();
          await s.request();
          s.answer({ requestId: 1, status: 0, flags: RpcFlag.FIN });
        })(),
      ]);
      const s = raw.substreams[0]!;
      const ctx = client.actors.rpcClient.getSnapshot().context;
      const session = ctx.directory.get(ctx.pools.sessionKeys()[0]!)!;
      const pong = ask(session).reply('rpc-client-session.pong', (requestId) => ({ type: 'rpc-client-session.ping', requestId }), 5_000);
      const ping = await s.request();
      expect({ requestId: ping.requestId, method: ping.method, flags: ping.flags, deadlineMs: ping.deadlineMs, payload: ping.payload.length }).to.deep.equal({ requestId: 0, method: 0, flags: RpcFlag.ACK, deadlineMs: 0n, payload: 0 });
      s.answer({ requestId: 0, status: 0, flags: RpcFlag.ACK });
      expect((await pong).ok).to.equal(true);
    });
  });
});

