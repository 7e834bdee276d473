/**
 * The RPC server of a real node, frame by frame (PROTOCOL.md section 8): a hand-written client
 * speaks section 8 over real substreams (memory transport, Noise, yamux) and checks each answer
 * byte for byte: the handshake, every flag, every status, request ids, pings, cancels, deadlines,
 * a frame over 4 MiB, the session limits, an id with no service behind it, and the idle close.
 */
import { expect } from 'chai';
import { fromBinary } from '@bufbuild/protobuf';
import { toHex } from '../../core/bytes.js';
import type { CommsNode } from '../../node/index.js';
import { PayloadSchema } from '../../proto/gen/tcomms/bench/v1/bench_pb.js';
import { create, toBinary } from '@bufbuild/protobuf';
import { StreamRequestSchema } from '../../proto/gen/tcomms/bench/v1/bench_pb.js';
import { HandshakeRejectReason, MAX_RPC_FRAME_BYTES, RpcError, RpcFlag, RpcStatus, rpcRequestFrame as rpcFrame, statusName } from '../../protocols/rpc/index.js';
import { BENCH, Bench, BenchService, ECHO, MemoryNetwork, RawClient, STREAM, memoryNode, payloadBytes, type RawSubstream } from '../support/rpc.js';
import { until } from '../support/wait.js';

const text = (s: string) => new TextEncoder().encode(s);
const streamRequest = (count: number, size: number) => toBinary(StreamRequestSchema, create(StreamRequestSchema, { count, size }));
const DEADLINE = 5_000n;

describe('RPC server of a node, frame by frame (hand-written client, real substreams)', function () {
  this.timeout(30_000);
  const network = new MemoryNetwork();
  let node: CommsNode;
  let service: BenchService;
  const clients: RawClient[] = [];
  const events: Array<{ type: string; publicKey?: Uint8Array; error?: { name: string } }> = [];

  async function start(configure: Parameters<typeof memoryNode>[2] = (b) => b): Promise<void> {
    service = new BenchService();
    node = memoryNode(network, 'server', (b) => configure(b.withRpcService(Bench, service.handlers)));
    for (const type of ['peer.violation', 'peer.banned'] as const) node.on(type, (e: { publicKey: Uint8Array }) => events.push({ type, ...e }));
    await node.start();
  }
  async function client(name = 'raw'): Promise<RawClient> {
    const c = await RawClient.connect(network, node, name);
    clients.push(c);
    return c;
  }

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
    await node?.stop();
    events.length = 0;
  });

  describe('handshake', () => {
    beforeEach(() => start());

    it('accepts version 1 (alone or among others) and rejects a list without it: UNSUPPORTED_VERSION, then FIN', async () => {
      const c = await client();
      for (const versions of [[1], [2, 1, 7]]) {
        const s = await c.open();
        const reply = await s.hello(versions);
        expect(reply.sessionResult).to.deep.equal({ case: 'acceptedVersion', value: 1 });
      }
      const s = await c.open();
      const reply = await s.hello([2, 3]);
      expect(reply.sessionResult).to.deep.equal({ case: 'rejected', value: true });
      expect(reply.rejectReason).to.equal(HandshakeRejectReason.UNSUPPORTED_VERSION);
      expect(await s.end()).to.equal('fin');
      expect(events).to.deep.equal([]); // a rejection is no violation
    });

    it('a frame before the reply is a protocol error: reset (the connection stays up)', async () => {
      const c = await client();
      const s = await c.open();
      await until('the server runs the session', () => node.actors.rpcServer.getSnapshot().context.sessions.size === 1);
      // RpcSession and a request in one write: the request comes before the reply.
      s.write(Buffer.concat([Buffer.from([0, 0, 0, 2, 8, 1]), Buffer.from(rpcFrame({ requestId: 1, method: ECHO, deadlineMs: DEADLINE }))]));
      expect(await s.end()).to.equal('reset');
      expect((await c.session()).stream.destroyed).to.equal(false);
    });
  });

  describe('calls', () => {
    beforeEach(() => start());

    it('unary Ok: one FIN frame, status 0, the response as payload', async () => {
      const s = await (await client()).session();
      s.send({ requestId: 1, method: ECHO, deadlineMs: DEADLINE, payload: payloadBytes(text('hello')) });
      const r = await s.response();
      expect({ requestId: r.requestId, status: r.status, flags: r.flags }).to.deep.equal({ requestId: 1, status: 0, flags: RpcFlag.FIN });
      expect(Buffer.from(fromBinary(PayloadSchema, r.payload).data).toString()).to.equal('hello');
    });

    it('server streaming Ok: N frames (status 0, flags 0, one item each), then status 0, FIN, empty payload; and N = 0', async () => {
      const s = await (await client()).session();
      s.send({ requestId: 1, method: STREAM, deadlineMs: DEADLINE, payload: streamRequest(3, 10) });
      for (let i = 0; i < 3; i++) {
        const r = await s.response();
        expect({ requestId: r.requestId, status: r.status, flags: r.flags }).to.deep.equal({ requestId: 1, status: 0, flags: 0 });
        expect(fromBinary(PayloadSchema, r.payload).data).to.have.length(10);
      }
      const fin = await s.response();
      expect({ requestId: fin.requestId, status: fin.status, flags: fin.flags, payload: fin.payload.length }).to.deep.equal({ requestId: 1, status: 0, flags: RpcFlag.FIN, payload: 0 });
      s.send({ requestId: 2, method: STREAM, deadlineMs: DEADLINE, payload: streamRequest(0, 10) });
      const empty = await s.response();
      expect({ requestId: empty.requestId, status: empty.status, flags: empty.flags, payload: empty.payload.length }).to.deep.equal({ requestId: 2, status: 0, flags: RpcFlag.FIN, payload: 0 });
    });

    it('every status: the server checks the deadline, then the method, then the payload; handlers answer with RpcError', async () => {
      const s = await (await client()).session();
      let id = 0;
      const call = async (fields: { method: number; deadlineMs?: bigint; payload?: Uint8Array }) => {
        s.send({ requestId: ++id, deadlineMs: DEADLINE, ...fields });
        const r = await s.response();
        expect(r.requestId).to.equal(id);
        expect(r.flags).to.equal(RpcFlag.FIN);
        return { status: statusName(r.status), message: Buffer.from(r.payload).toString() };
      };
      // Deadline first: below 1,000 (or 0, absent) is BadRequest even for an unknown method.
      expect((await call({ method: 99, deadlineMs: 999n })).status).to.equal('BadRequest');
      expect((await call({ method: ECHO, deadlineMs: 0n })).status).to.equal('BadRequest');
      // Then the method: unknown, or 0.
      expect((await call({ method: 99, payload: text('\xff') })).status).to.equal('UnsupportedMethod');
      expect((await call({ method: 0, payload: text('x') })).status).to.equal('UnsupportedMethod');
      // Then the payload.
      expect((await call({ method: ECHO, payload: Uint8Array.of(0x0a, 0x05, 0x01) })).status).to.equal('BadRequest');
      // Handlers: each RpcError status with its message; anything else is General without internals.
      for (const status of [RpcStatus.NotImplemented, RpcStatus.Timeout, RpcStatus.NotFound, RpcStatus.ProtocolError, RpcStatus.Forbidden, RpcStatus.Conflict, RpcStatus.BadRequest, RpcStatus.General]) {
        service.echo = () => {
          throw new RpcError(status, `no ${status}`);
        };
        expect(await call({ method: ECHO, payload: payloadBytes(text('x')) })).to.deep.equal({ status: statusName(status), message: `no ${status}` });
      }
      service.echo = () => {
        throw new Error('a secret detail');
      };
      const general = await call({ method: ECHO, payload: payloadBytes(text('x')) });
      expect(general.status).to.equal('General');
      expect(general.message).to.not.include('secret');
      // A status message is cut to 1,024 bytes on a character boundary.
      service.echo = () => {
        throw new RpcError(RpcStatus.NotFound, 'é'.repeat(600));
      };
      const long = await call({ method: ECHO, payload: payloadBytes(text('x')) });
      expect(Buffer.byteLength(long.message)).to.equal(1024);
      // A response too large for one frame is replaced by MalformedResponse; a stream is stopped.
      service.echo = () => ({ data: new Uint8Array(MAX_RPC_FRAME_BYTES) });
      expect((await call({ method: ECHO, payload: payloadBytes(text('x')) })).status).to.equal('MalformedResponse');
      service.stream = async function* () {
        yield { data: new Uint8Array(1) };
        yield { data: new Uint8Array(MAX_RPC_FRAME_BYTES) };
        yield { data: new Uint8Array(1) };
      };
      s.send({ requestId: ++id, method: STREAM, deadlineMs: DEADLINE, payload: streamRequest(0, 0) });
      expect((await s.response()).flags).to.equal(0);
      const stopped = await s.response();
      expect({ status: statusName(stopped.status), flags: stopped.flags }).to.deep.equal({ status: 'MalformedResponse', flags: RpcFlag.FIN });
      // Ok of course, after all that, on the same session.
      service.echo = (r) => ({ data: r.data });
      expect((await call({ method: ECHO, payload: payloadBytes(text('x')) })).status).to.equal('Ok');
    });

    it('request ids: any sequence, and the wrap from 2^32-1 to 1', async () => {
      const s = await (await client()).session();
      for (const requestId of [0xffffffff, 1, 2, 7, 3]) {
        s.send({ requestId, method: ECHO, deadlineMs: DEADLINE, payload: payloadBytes(text(String(requestId))) });
        const r = await s.response();
        expect(r.requestId).to.equal(requestId);
        expect(Buffer.from(fromBinary(PayloadSchema, r.payload).data).toString()).to.equal(String(requestId));
      }
    });

    it('ping between requests: answered at once with request_id 0, status 0, flags ACK; calls go on', async () => {
      const s = await (await client()).session();
      for (let i = 1; i <= 3; i++) {
        s.send({ requestId: 0, flags: RpcFlag.ACK });
        const pong = await s.response();
        expect({ requestId: pong.requestId, status: pong.status, flags: pong.flags, payload: pong.payload.length }).to.deep.equal({ requestId: 0, status: 0, flags: RpcFlag.ACK, payload: 0 });
        s.send({ requestId: i, method: ECHO, deadlineMs: DEADLINE, payload: payloadBytes(text('p')) });
        expect((await s.response()).status).to.equal(0);
      }
    });

    it('a timeout: the first frame not ready within deadline_ms is answered Timeout, and the handler is stopped', async () => {
      const s = await (await client()).session();
      service.echo = (_r, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({}))); // answers only when stopped
      s.send({ requestId: 1, method: ECHO, deadlineMs: 1_000n, payload: payloadBytes(text('slow')) });
      const r = await s.response();
      expect({ status: statusName(r.status), flags: r.flags }).to.deep.equal({ status: 'Timeout', flags: RpcFlag.FIN });
      expect(service.contexts[0]!.signal.aborted).to.equal(true);
      expect(await s.quiet(100)).to.equal(true); // the handler's late answer is not sent
      s.send({ requestId: 2, method: STREAM, deadlineMs: 1_000n, payload: streamRequest(1, 1) });
      expect((await s.response()).flags).to.equal(0);
      expect((await s.response()).flags).to.equal(RpcFlag.FIN);
    });

    it('a stream item later than deadline_ms after the previous one is answered Timeout', async () => {
      const s = await (await client()).session();
      service.stream = async function* (_r, ctx) {
        yield { data: text('first') };
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      };
      s.send({ requestId: 1, method: STREAM, deadlineMs: 1_000n, payload: streamRequest(0, 0) });
      expect((await s.response()).flags).to.equal(0);
      const r = await s.response();
      expect({ status: statusName(r.status), flags: r.flags }).to.deep.equal({ status: 'Timeout', flags: RpcFlag.FIN });
    });

    it('cancel: the handler is stopped and the call ends with status 0, FIN, empty payload; a cancel crossing the FIN is ignored', async () => {
      const s = await (await client()).session();
      service.stream = async function* (_r, ctx) {
        for (let i = 0; !ctx.signal.aborted; i++) {
          yield { data: text(String(i)) };
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      s.send({ requestId: 1, method: STREAM, deadlineMs: DEADLINE, payload: streamRequest(0, 0) });
      expect((await s.response()).flags).to.equal(0);
      s.send({ requestId: 1, flags: RpcFlag.FIN });
      let r = await s.response();
      while (r.flags === 0) r = await s.response(); // items already written
      expect({ requestId: r.requestId, status: r.status, flags: r.flags, payload: r.payload.length }).to.deep.equal({ requestId: 1, status: 0, flags: RpcFlag.FIN, payload: 0 });
      expect(service.contexts[0]!.signal.aborted).to.equal(true);
      // A cancel of the last call after its FIN is ignored: the next ping is answered.
      s.send({ requestId: 1, flags: RpcFlag.FIN });
      s.send({ requestId: 0, flags: RpcFlag.ACK });
      expect((await s.response()).flags).to.equal(RpcFlag.ACK);
    });

    for (const [what, frames] of [
      ['FIN|ACK', [{ requestId: 0, flags: RpcFlag.FIN | RpcFlag.ACK }]],
      ['an undefined flag bit', [{ requestId: 1, method: ECHO, flags: 0x04, deadlineMs: DEADLINE }]],
      ['a ping with another field set', [{ requestId: 0, method: ECHO, flags: RpcFlag.ACK }]],
      ['request_id 0 outside a ping', [{ requestId: 0, method: ECHO, deadlineMs: DEADLINE }]],
      ['a cancel of a call that is not the last one', [{ requestId: 5, flags: RpcFlag.FIN }]],
    ] as const) {
      it(`${what}: a protocol error, the substream reset (only: the connection and other sessions go on)`, async () => {
        const c = await client();
        const other = await c.session();
        const s = await c.session();
        for (const f of frames) s.send(f);
        expect(await s.end()).to.equal('reset');
        other.send({ requestId: 1, method: ECHO, deadlineMs: DEADLINE, payload: payloadBytes(text('alive')) });
        expect((await other.response()).status).to.equal(0);
        expect(events).to.deep.equal([]); // reset only: not reported
      });
    }

    it('a second request while one is in flight, or a ping during a call: reset, and the handler is stopped', async () => {
      const c = await client();
      service.echo = (_r, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({})));
      for (const second of [{ requestId: 2, method: ECHO, deadlineMs: DEADLINE }, { requestId: 0, flags: RpcFlag.ACK }]) {
        const s = await c.session();
        s.send({ requestId: 1, method: ECHO, deadlineMs: DEADLINE, payload: payloadBytes(text('a')) });
        await until('the handler runs', () => service.contexts.length > 0);
        s.send(second);
        expect(await s.end()).to.equal('reset');
        await until('the handler is stopped', () => service.contexts.at(-1)!.signal.aborted);
        service.contexts.length = 0;
      }
    });

    it('a frame over 4 MiB (4 MiB + 1): the substream is reset and the peer reported (banned, disconnected)', async () => {
      const c = await client();
      const s = await c.session();
      const header = Buffer.alloc(4);
      header.writeUInt32BE(MAX_RPC_FRAME_BYTES + 1);
      s.write(header);
      expect(await s.end()).to.equal('reset');
      await until('reported and banned', () => events.some((e) => e.type === 'peer.banned'));
      const violation = events.find((e) => e.type === 'peer.violation')!;
      expect(toHex(violation.publicKey!)).to.equal(toHex(c.publicKey));
      expect(violation.error!.name).to.equal('RpcFrameTooLarge');
      await until('the connection is closed', () => c.connection.muxer.closed);
    });

    it('a frame of exactly 4 MiB is read (and answered BadRequest: it is no Payload)', async () => {
      const s = await (await client()).session();
      // RpcRequest { request_id 1, method 1, deadline_ms 5000, payload: 4 MiB - 13 bytes of junk } = 4 MiB of protobuf.
      const payload = new Uint8Array(MAX_RPC_FRAME_BYTES - 14).fill(0xff);
      const frame = rpcFrame({ requestId: 1, method: ECHO, deadlineMs: DEADLINE, payload });
      expect(frame.length - 4).to.be.at.most(MAX_RPC_FRAME_BYTES);
      s.write(frame);
      const r = await s.response(10_000);
      expect(statusName(r.status)).to.equal('BadRequest');
      expect(events).to.deep.equal([]);
    });

    it("the client's FIN between calls ends the session (the server closes too); during a call it abandons the call", async () => {
      const c = await client();
      const s = await c.session();
      s.fin();
      expect(await s.end()).to.equal('fin');
      service.echo = (_r, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve({ data: text('late') })));
      const t = await c.session();
      t.send({ requestId: 1, method: ECHO, deadlineMs: DEADLINE, payload: payloadBytes(text('a')) });
      await until('the handler runs', () => service.contexts.length > 0);
      t.fin();
      expect(await t.end()).to.equal('fin'); // nothing more for the call
      await until('the handler is stopped', () => service.contexts[0]!.signal.aborted);
      await until('both sessions are over', () => node.actors.rpcServer.getSnapshot().context.sessions.size === 0);
    });
  });

  describe('limits', () => {
    it('the 11th session of a peer and the 101st in all: NO_SERVER_SESSIONS_AVAILABLE, then FIN; a closed session frees its slot', async function () {
      this.timeout(60_000);
      await start();
      const first = await client('c0');
      const held: RawSubstream[] = [];
      for (let i = 0; i < 10; i++) held.push(await first.session());
      const eleventh = await first.open();
      const reply = await eleventh.hello();
      expect(reply.sessionResult).to.deep.equal({ case: 'rejected', value: true });
      expect(reply.rejectReason).to.equal(HandshakeRejectReason.NO_SERVER_SESSIONS_AVAILABLE);
      expect(await eleventh.end()).to.equal('fin');
      // Nine more peers with ten sessions each: 100 in all.
      for (let p = 1; p < 10; p++) {
        const c = await client(`c${p}`);
        for (let i = 0; i < 10; i++) held.push(await c.session());
      }
      expect(node.actors.rpcServer.getSnapshot().context.admitted).to.equal(100);
      const late = await client('c10');
      const s = await late.open();
      expect((await s.hello()).rejectReason).to.equal(HandshakeRejectReason.NO_SERVER_SESSIONS_AVAILABLE);
      // One session ends (the client closes it): its slot is free again.
      held[0]!.fin();
      expect(await held[0]!.end()).to.equal('fin');
      await until('the slot is free', () => node.actors.rpcServer.getSnapshot().context.admitted === 99);
      expect((await (await late.open()).hello()).sessionResult.case).to.equal('acceptedVersion');
      expect(events).to.deep.equal([]);
    });

    it('limits are configurable (rpc.maxSessions, rpc.maxSessionsPerPeer)', async () => {
      await start((b) => b.withRpc({ maxSessions: 3, maxSessionsPerPeer: 2 }));
      const a = await client('a');
      await a.session();
      await a.session();
      expect((await (await a.open()).hello()).rejectReason).to.equal(HandshakeRejectReason.NO_SERVER_SESSIONS_AVAILABLE);
      const b = await client('b');
      await b.session();
      expect((await (await b.open()).hello()).rejectReason).to.equal(HandshakeRejectReason.NO_SERVER_SESSIONS_AVAILABLE);
    });

    it('an id with no service behind it: PROTOCOL_NOT_SUPPORTED, then FIN', async () => {
      await start();
      const c = await client();
      node.rpcServices.remove(BENCH); // still negotiated, no longer served
      const s = await c.open();
      const reply = await s.hello();
      expect(reply.sessionResult).to.deep.equal({ case: 'rejected', value: true });
      expect(reply.rejectReason).to.equal(HandshakeRejectReason.PROTOCOL_NOT_SUPPORTED);
      expect(await s.end()).to.equal('fin');
    });

    it('calls answered within their turn are not told to the session actor (it stays idle, counting them); its timer re-arms, and the idle close comes after the last call', async () => {
      await start((b) => b.withRpc({ idleTimeoutMs: 1_000 }));
      const s = await (await client()).session();
      const actor = () => {
        const ctx = node.actors.rpcServer.getSnapshot().context;
        return ctx.directory.get([...ctx.sessions.keys()][0]!)!.getSnapshot();
      };
      await until('the session is idle', () => actor().matches('idle'));
      // Calls for longer than idleTimeoutMs: the timer set before them fires early and re-arms.
      const callsUntil = Date.now() + 1_500;
      let calls = 0;
      while (Date.now() < callsUntil) {
        s.send({ requestId: ++calls, method: ECHO, deadlineMs: DEADLINE, payload: payloadBytes(text('x')) });
        const r = await s.response();
        expect({ status: r.status, flags: r.flags }).to.deep.equal({ status: 0, flags: RpcFlag.FIN });
        await new Promise((resolve) => setTimeout(resolve, 100)); // calls spread over the time, not a settling wait
      }
      expect(actor().matches('idle')).to.equal(true);
      expect(actor().context.method).to.equal(undefined); // never told of a call in flight
      expect(actor().context.stats.calls).to.equal(calls);
      // A call held past its turn is told: inCall.
      let release!: () => void;
      service.echo = (r) => new Promise((resolve) => (release = () => resolve({ data: r.data })));
      s.send({ requestId: ++calls, method: ECHO, deadlineMs: DEADLINE, payload: payloadBytes(text('y')) });
      await until('the session actor is told of the call', () => actor().matches('inCall') && actor().context.method === 'Echo');
      release();
      expect((await s.response()).flags).to.equal(RpcFlag.FIN);
      await until('idle again', () => actor().matches('idle'));
      expect(await s.end(5_000)).to.equal('fin');
      s.fin();
      await until('the session is over', () => node.actors.rpcServer.getSnapshot().context.sessions.size === 0);
    });

    it('idle sessions are closed (FIN) after rpc.idleTimeoutMs without a call; pings do not count', async () => {
      await start((b) => b.withRpc({ idleTimeoutMs: 400 }));
      const s = await (await client()).session();
      const pinging = setInterval(() => s.send({ requestId: 0, flags: RpcFlag.ACK }), 50);
      try {
        expect(await s.end(5_000)).to.equal('fin');
      } finally {
        clearInterval(pinging);
      }
      s.fin();
      await until('the session is over', () => node.actors.rpcServer.getSnapshot().context.sessions.size === 0);
    });
  });
});

