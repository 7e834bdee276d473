/** The server session core, byte by byte (PROTOCOL.md section 8). */
import { expect } from 'chai';
import {
  MAX_RPC_FRAME_BYTES,
  RPC_SERVER_STATES,
  RpcError,
  RpcFrameTooLarge,
  RpcProtocolError,
  RpcServerSession,
  RpcSessionMisuse,
  RpcStatus,
  RpcTimeout,
  encodeRpcFrame,
  encodeRpcSession,
  rpcRequestFrame,
  type RpcServerMethod,
  type RpcServerOutput,
} from '../../../protocols/rpc/index.js';
import { hex, toHexString } from '../../support/vectors.js';
import { INFO, SESSION_FRAME, kinds, nodeInfo, openServer, responses, sentBytes } from './support.js';

const GET_INFO = (requestId: number, deadlineMs = 120_000) => rpcRequestFrame({ requestId, method: 1, deadlineMs });
const LIST = (requestId: number, deadlineMs = 120_000) => rpcRequestFrame({ requestId, method: 2, deadlineMs });
const bytes = (data: Uint8Array) => ({ kind: 'bytes', data }) as const;
const startOf = (out: RpcServerOutput[]) => out.find((o): o is Extract<RpcServerOutput, { kind: 'start-call' }> => o.kind === 'start-call')!;
const only = (out: RpcServerOutput[]) => {
  const [res, ...rest] = responses(sentBytes(out));
  expect(rest).to.deep.equal([]);
  return res!;
};
const resetError = (out: RpcServerOutput[]) => (out.find((o) => o.kind === 'reset') as { error: Error } | undefined)?.error;

describe('rpc: server session core', () => {
  it('exports its states', () => {
    expect(RPC_SERVER_STATES).to.deep.equal(['handshake', 'admitting', 'idle', 'inCall', 'streaming', 'closing', 'closed']);
  });

  describe('handshake', () => {
    it('version 1 among the offered: admission, then the reply; the idle timer starts', () => {
      const s = new RpcServerSession({ methods: nodeInfo.methods, nowMs: 1000 });
      expect(s.state).to.equal('handshake');
      expect(s.nextTimeout()).to.equal(16_000);
      expect(s.handle(bytes(encodeRpcFrame(encodeRpcSession([3, 1]))), 1000)).to.deep.equal([{ kind: 'admission' }]);
      expect(s.state).to.equal('admitting');
      expect(s.nextTimeout()).to.equal(undefined);
      expect(s.handle({ kind: 'admit', decision: 'accept' }, 2000)).to.deep.equal([{ kind: 'send', bytes: hex('000000020801') }]);
      expect(s.state).to.equal('idle');
      expect(s.nextTimeout()).to.equal(122_000);
    });

    it('no version 1: UNSUPPORTED_VERSION, FIN, and the session ends with the client FIN', () => {
      const s = new RpcServerSession({ methods: nodeInfo.methods, nowMs: 0 });
      expect(s.handle(bytes(encodeRpcFrame(encodeRpcSession([]))), 0)).to.deep.equal([{ kind: 'send', bytes: hex('0000000410011801') }, { kind: 'close' }]);
      expect(s.handle(bytes(GET_INFO(1)), 0)).to.deep.equal([]); // after its FIN the server reads nothing
      expect(s.handle({ kind: 'remote-fin' }, 0)).to.deep.equal([]);
      expect(s.state).to.equal('closed');
    });

    it('no client FIN within 10 s of a rejection: reset', () => {
      const s = new RpcServerSession({ methods: nodeInfo.methods, nowMs: 0 });
      s.handle(bytes(encodeRpcFrame(encodeRpcSession([2]))), 0);
      expect(s.nextTimeout()).to.equal(10_000);
      expect(s.handle({ kind: 'timeout' }, 9_999)).to.deep.equal([]);
      const out = s.handle({ kind: 'timeout' }, 10_000);
      expect(resetError(out)).to.be.instanceOf(RpcTimeout).and.include({ wait: 'close', timeoutMs: 10_000 });
    });

    it('no RpcSession within 15 s: reset', () => {
      const s = new RpcServerSession({ methods: nodeInfo.methods, nowMs: 0 });
      s.handle(bytes(hex('000000')), 1);
      const out = s.handle({ kind: 'timeout' }, 15_000);
      expect(kinds(out)).to.deep.equal(['reset']);
      expect(resetError(out)).to.be.instanceOf(RpcTimeout).and.include({ wait: 'handshake', timeoutMs: 15_000 });
      expect(s.handle(bytes(SESSION_FRAME), 15_001)).to.deep.equal([]);
    });

    it('a frame before the reply, in the same chunk or later, is a protocol error', () => {
      const s = new RpcServerSession({ methods: nodeInfo.methods, nowMs: 0 });
      const out = s.handle(bytes(Buffer.concat([SESSION_FRAME, hex('000000021802')])), 0);
      expect(kinds(out)).to.deep.equal(['admission', 'reset']);
      expect(s.handle({ kind: 'admit', decision: 'accept' }, 0)).to.deep.equal([]);
    });

    it('an undecodable RpcSession, or a frame over 4 MiB (reported), resets', () => {
      const s = new RpcServerSession({ methods: nodeInfo.methods, nowMs: 0 });
      expect((resetError(s.handle(bytes(hex('0000000108')), 0)) as RpcProtocolError).violation).to.equal('undecodable');
      const big = new RpcServerSession({ methods: nodeInfo.methods, nowMs: 0 });
      const out = big.handle(bytes(hex('00400001')), 0);
      expect(kinds(out)).to.deep.equal(['report', 'reset']);
      expect(resetError(out)).to.be.instanceOf(RpcFrameTooLarge);
    });

    it('the client closing before or during admission ends the session', () => {
      const s = new RpcServerSession({ methods: nodeInfo.methods, nowMs: 0 });
      s.handle(bytes(SESSION_FRAME), 0);
      expect(s.handle({ kind: 'remote-fin' }, 0)).to.deep.equal([{ kind: 'close' }]);
      expect(s.state).to.equal('closed');
      expect(s.handle({ kind: 'admit', decision: 'accept' }, 0)).to.deep.equal([]);
    });
  });

  describe('flags', () => {
    it('0: a call; FIN: a cancel; ACK: a ping; FIN|ACK and every undefined bit: reset', () => {
      expect(kinds(openServer().handle(bytes(GET_INFO(1)), 0))).to.deep.equal(['start-call']);
      expect(kinds(openServer().handle(bytes(rpcRequestFrame({ requestId: 0, flags: 2 })), 0))).to.deep.equal(['send']);
      const s = openServer();
      s.handle(bytes(GET_INFO(1)), 0);
      expect(kinds(s.handle(bytes(rpcRequestFrame({ requestId: 1, flags: 1 })), 0))).to.deep.equal(['stop-call', 'send']);
      for (let bit = 2; bit < 32; bit++) {
        const flags = [3, 2 ** bit, (2 ** bit | 1) >>> 0];
        for (const f of flags) {
          const out = openServer().handle(bytes(rpcRequestFrame({ requestId: 1, method: 1, flags: f, deadlineMs: 5000 })), 0);
          expect((resetError(out) as RpcProtocolError).violation, `flags ${f}`).to.equal('flags');
        }
      }
    });
  });

  describe('calls and statuses', () => {
    it('a unary call: start-call with the decoded request, then one Ok FIN frame', () => {
      const s = openServer();
      const start = startOf(s.handle(bytes(GET_INFO(7)), 0));
      expect(start).to.deep.include({ call: 1, requestId: 7, deadlineMs: 120_000 });
      expect(start.method.name).to.equal('GetInfo');
      expect(s.state).to.equal('inCall');
      const res = only(s.handle({ kind: 'result', call: start.call, value: INFO }, 5));
      expect(res).to.deep.include({ requestId: 7, status: 0, flags: 1 });
      expect(toHexString(res.payload)).to.equal(toHexString(nodeInfo.byName.getInfo.encodeResponse(INFO)));
      expect(s.state).to.equal('idle');
      expect(s.nextTimeout()).to.equal(5 + 120_000);
    });

    it('a stream: items with status 0 and flags 0, then status 0, FIN, no payload', () => {
      const s = openServer();
      const { call } = startOf(s.handle(bytes(LIST(2)), 0));
      const out = [
        ...s.handle({ kind: 'item', call, value: { address: 'a' } }, 1),
        ...s.handle({ kind: 'item', call, value: {} }, 2),
        ...s.handle({ kind: 'end', call }, 3),
      ];
      expect(responses(sentBytes(out)).map((r) => [r.requestId, r.status, r.flags, r.payload.length])).to.deep.equal([
        [2, 0, 0, 3],
        [2, 0, 0, 0],
        [2, 0, 1, 0],
      ]);
    });

    it('every status a handler throws ends the call with FIN and its message; other throws are General', () => {
      for (let status = 1; status <= 10; status++) {
        const s = openServer();
        const { call } = startOf(s.handle(bytes(GET_INFO(3)), 0));
        const res = only(s.handle({ kind: 'fail', call, error: new RpcError(status as RpcStatus, `failed with ${status}`) }, 0));
        expect(res).to.deep.include({ requestId: 3, status, flags: 1 });
        expect(new TextDecoder().decode(res.payload)).to.equal(`failed with ${status}`);
      }
      for (const error of [new Error('secret detail'), new RpcError(RpcStatus.Ok, 'ok is no failure'), 'a string']) {
        const s = openServer();
        const { call } = startOf(s.handle(bytes(LIST(3)), 0));
        expect(only(s.handle({ kind: 'fail', call, error }, 0)).status).to.equal(RpcStatus.General);
      }
    });

    it('a status message is cut to 1,024 bytes on a character boundary', () => {
      const s = openServer();
      const { call } = startOf(s.handle(bytes(GET_INFO(3)), 0));
      const res = only(s.handle({ kind: 'fail', call, error: new RpcError(RpcStatus.NotFound, 'a' + 'é'.repeat(600)) }, 0));
      expect(res.payload.length).to.equal(1023);
      expect(new TextDecoder('utf-8', { fatal: true }).decode(res.payload)).to.equal('a' + 'é'.repeat(511));
    });

    it('request ids are not checked for sequence: 4294967295, then 1, then 5, then 3', () => {
      const s = openServer();
      for (const id of [0xffffffff, 1, 5, 3]) {
        const { call } = startOf(s.handle(bytes(GET_INFO(id, 1000)), 0));
        expect(only(s.handle({ kind: 'result', call, value: {} }, 0)).requestId).to.equal(id);
      }
    });

    it('a ping between calls is answered at once and leaves the idle timer alone', () => {
      const s = openServer(0);
      const { call } = startOf(s.handle(bytes(GET_INFO(1)), 0));
      s.handle({ kind: 'result', call, value: {} }, 10);
      expect(s.handle(bytes(hex('000000021802')), 50_000)).to.deep.equal([{ kind: 'send', bytes: hex('000000021802') }]);
      expect(s.nextTimeout()).to.equal(120_010);
      expect(kinds(s.handle(bytes(GET_INFO(2)), 60_000))).to.deep.equal(['start-call']);
    });

    it('a second request while one is in flight: the handler is stopped and the substream reset', () => {
      const s = openServer();
      s.handle(bytes(LIST(1)), 0);
      const out = s.handle(bytes(GET_INFO(2)), 0);
      expect(out[0]).to.deep.equal({ kind: 'stop-call', call: 1, reason: 'abandoned' });
      expect((resetError(out) as RpcProtocolError).violation).to.equal('unexpected');
      expect(s.state).to.equal('closed');
    });

    it('deadlines below 1,000 ms (or absent) are BadRequest, checked before the method', () => {
      for (const [deadlineMs, method] of [
        [999, 1],
        [0, 1],
        [1, 99],
      ]) {
        const res = only(openServer().handle(bytes(rpcRequestFrame({ requestId: 4, method: method!, deadlineMs })), 0));
        expect(res).to.deep.include({ requestId: 4, status: RpcStatus.BadRequest, flags: 1 });
      }
      const huge = startOf(openServer().handle(bytes(rpcRequestFrame({ requestId: 4, method: 1, deadlineMs: 0xffffffffffffffffn })), 0));
      expect(huge.deadlineMs).to.equal(Number.MAX_SAFE_INTEGER);
    });

    it('a handler that misses its deadline: Timeout FIN, and the handler is stopped; a stream re-arms it per item', () => {
      const s = openServer();
      const { call } = startOf(s.handle(bytes(LIST(1, 1000)), 100));
      expect(s.nextTimeout()).to.equal(1100);
      s.handle({ kind: 'item', call, value: {} }, 900);
      expect(s.nextTimeout()).to.equal(1900);
      expect(s.handle({ kind: 'timeout' }, 1899)).to.deep.equal([]);
      const out = s.handle({ kind: 'timeout' }, 1900);
      expect(out[0]).to.deep.equal({ kind: 'stop-call', call, reason: 'timeout' });
      expect(only(out)).to.deep.include({ requestId: 1, status: RpcStatus.Timeout, flags: 1 });
      expect(s.handle({ kind: 'item', call, value: {} }, 1901)).to.deep.equal([]); // too late: ignored
      expect(s.state).to.equal('idle');
    });

    it('a response too large for one frame is replaced by MalformedResponse', () => {
      const big: RpcServerMethod = { number: 1, name: 'Big', kind: 'server_streaming', decodeRequest: () => ({}), encodeResponse: () => new Uint8Array(MAX_RPC_FRAME_BYTES - 6) };
      const s = new RpcServerSession({ methods: new Map([[1, big]]), nowMs: 0 });
      s.handle(bytes(SESSION_FRAME), 0);
      s.handle({ kind: 'admit', decision: 'accept' }, 0);
      const { call } = startOf(s.handle(bytes(GET_INFO(1)), 0));
      const out = s.handle({ kind: 'item', call, value: {} }, 0);
      expect(out[0]).to.deep.equal({ kind: 'stop-call', call, reason: 'malformed-response' });
      expect(only(out)).to.deep.include({ requestId: 1, status: RpcStatus.MalformedResponse, flags: 1 });
      const unary = openServer();
      const first = startOf(unary.handle(bytes(GET_INFO(1)), 0));
      expect(only(unary.handle({ kind: 'result', call: first.call, value: { userAgent: 'x'.repeat(MAX_RPC_FRAME_BYTES) } }, 0)).status).to.equal(RpcStatus.MalformedResponse);
    });

    it('a handler result of the wrong kind is a bug of the shell (RpcSessionMisuse)', () => {
      const s = openServer();
      const { call } = startOf(s.handle(bytes(GET_INFO(1)), 0));
      expect(() => s.handle({ kind: 'item', call, value: {} }, 0)).to.throw(RpcSessionMisuse);
      expect(() => s.handle({ kind: 'end', call }, 0)).to.throw(RpcSessionMisuse);
    });
  });

  describe('cancel', () => {
    it('of the call in flight: the handler stops and the call ends with status 0, FIN, empty', () => {
      const s = openServer();
      const { call } = startOf(s.handle(bytes(LIST(2)), 0));
      s.handle({ kind: 'item', call, value: {} }, 0);
      const out = s.handle(bytes(hex('0000000408021801')), 0);
      expect(out).to.deep.equal([
        { kind: 'stop-call', call, reason: 'cancelled' },
        { kind: 'send', bytes: hex('0000000408021801') },
      ]);
      expect(s.handle({ kind: 'item', call, value: {} }, 0)).to.deep.equal([]);
      expect(s.handle({ kind: 'end', call }, 0)).to.deep.equal([]);
      // Its repeat crosses the FIN: ignored.
      expect(s.handle(bytes(hex('0000000408021801')), 0)).to.deep.equal([]);
    });

    it('of the last call after its FIN: ignored; of an older one, of id 0, or of one never made: reset', () => {
      const s = openServer();
      for (const id of [1, 2]) s.handle({ kind: 'result', call: startOf(s.handle(bytes(GET_INFO(id)), 0)).call, value: {} }, 0);
      expect(s.handle(bytes(rpcRequestFrame({ requestId: 2, flags: 1, method: 7, deadlineMs: 3 })), 0)).to.deep.equal([]); // other fields ignored
      expect((resetError(s.handle(bytes(rpcRequestFrame({ requestId: 1, flags: 1 })), 0)) as RpcProtocolError).violation).to.equal('cancel');
      expect((resetError(openServer().handle(bytes(rpcRequestFrame({ requestId: 0, flags: 1 })), 0)) as RpcProtocolError).violation).to.equal('request-id');
    });
  });

  describe('ending the session', () => {
    it('idle for 120 s: FIN; the client FIN ends it, or a reset 10 s later', () => {
      const s = openServer(0);
      expect(s.handle({ kind: 'timeout' }, 120_000)).to.deep.equal([{ kind: 'close' }]);
      expect(s.state).to.equal('closing');
      expect(s.handle({ kind: 'remote-fin' }, 125_000)).to.deep.equal([]);
      expect(s.state).to.equal('closed');
      const late = openServer(0);
      late.handle({ kind: 'timeout' }, 120_000);
      expect(kinds(late.handle({ kind: 'timeout' }, 130_000))).to.deep.equal(['reset']);
    });

    it('the client FIN between calls: the server closes too', () => {
      const s = openServer();
      expect(s.handle({ kind: 'remote-fin' }, 0)).to.deep.equal([{ kind: 'close' }]);
      expect(s.state).to.equal('closed');
      expect(s.nextTimeout()).to.equal(undefined);
    });

    it('the client FIN or reset during a call abandons it: stop the handler, write nothing more, close', () => {
      const s = openServer();
      const { call } = startOf(s.handle(bytes(GET_INFO(1)), 0));
      expect(s.handle({ kind: 'remote-fin' }, 0)).to.deep.equal([{ kind: 'stop-call', call, reason: 'abandoned' }, { kind: 'close' }]);
      expect(s.handle({ kind: 'result', call, value: {} }, 0)).to.deep.equal([]);
      const r = openServer();
      const c2 = startOf(r.handle(bytes(GET_INFO(1)), 0)).call;
      expect(r.handle({ kind: 'remote-reset' }, 0)).to.deep.equal([{ kind: 'stop-call', call: c2, reason: 'abandoned' }]);
      expect(r.state).to.equal('closed');
    });

    it('the client FIN in the middle of a frame is a protocol error', () => {
      const s = openServer();
      s.handle(bytes(GET_INFO(1).subarray(0, 5)), 0);
      expect((resetError(s.handle({ kind: 'remote-fin' }, 0)) as RpcProtocolError).violation).to.equal('truncated');
    });

    it('a frame over 4 MiB during a session: the call is stopped, the peer reported, the substream reset', () => {
      const s = openServer();
      s.handle(bytes(GET_INFO(1)), 0);
      const out = s.handle(bytes(hex('00400001')), 0);
      expect(kinds(out)).to.deep.equal(['stop-call', 'report', 'reset']);
    });

    it('close from this node: at once between calls, after the call in flight otherwise', () => {
      const s = openServer();
      const { call } = startOf(s.handle(bytes(GET_INFO(1)), 0));
      expect(s.handle({ kind: 'close' }, 0)).to.deep.equal([]);
      expect(kinds(s.handle({ kind: 'result', call, value: {} }, 0))).to.deep.equal(['send', 'close']);
      expect(s.state).to.equal('closing');
      expect(openServer().handle({ kind: 'close' }, 0)).to.deep.equal([{ kind: 'close' }]);
    });
  });
});
