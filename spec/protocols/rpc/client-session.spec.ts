/** The client session core, byte by byte (PROTOCOL.md section 8). */
import { expect } from 'chai';
import {
  MAX_RPC_FRAME_BYTES,
  RPC_CLIENT_STATES,
  RpcCallCancelled,
  RpcClientSession,
  RpcError,
  RpcProtocolError,
  RpcRequestTooLarge,
  RpcSessionClosed,
  RpcSessionMisuse,
  RpcSessionRejected,
  RpcStatus,
  RpcTimeout,
  rpcResponseFrame,
  type RpcClientOutput,
} from '../../../protocols/rpc/index.js';
import { hex, toHexString } from '../../support/vectors.js';
import { kinds, openClient, sentBytes, vectors } from './support.js';

const bytes = (data: Uint8Array) => ({ kind: 'bytes', data }) as const;
const unary = (deadlineMs?: number, payload?: Uint8Array) => ({ kind: 'call', method: 1, methodKind: 'unary', deadlineMs, payload }) as const;
const stream = (deadlineMs?: number) => ({ kind: 'call', method: 2, methodKind: 'server_streaming', deadlineMs }) as const;
const sent = (out: RpcClientOutput[]) => toHexString(sentBytes(out));
const errorOf = (out: RpcClientOutput[], kind: 'reset' | 'failed' | 'open-failed') => (out.find((o) => o.kind === kind) as { error: Error } | undefined)?.error;
const frameOf = (name: string) => vectors.requests.find((r) => r.name === name)!.frame;

describe('rpc: client session core', () => {
  it('exports its states', () => {
    expect(RPC_CLIENT_STATES).to.deep.equal(['new', 'handshake', 'idle', 'inCall', 'streaming', 'pinging', 'cancelling', 'closing', 'closed']);
  });

  describe('handshake', () => {
    it('writes RpcSession{[1]} and nothing until the reply', () => {
      const c = new RpcClientSession();
      expect(sent(c.handle({ kind: 'start' }, 0))).to.equal('000000030a0101');
      expect(c.state).to.equal('handshake');
      expect(c.nextTimeout()).to.equal(10_000);
      expect(() => c.handle(unary(), 0)).to.throw(RpcSessionMisuse);
      expect(() => c.handle({ kind: 'start' }, 0)).to.throw(RpcSessionMisuse);
    });

    it('no reply within 10 s: open-failed and reset', () => {
      const c = new RpcClientSession();
      c.handle({ kind: 'start' }, 0);
      expect(c.handle({ kind: 'timeout' }, 9_999)).to.deep.equal([]);
      const out = c.handle({ kind: 'timeout' }, 10_000);
      expect(kinds(out)).to.deep.equal(['open-failed', 'reset']);
      expect(errorOf(out, 'reset')).to.be.instanceOf(RpcTimeout).and.include({ wait: 'handshake' });
    });

    it('a rejection for each reason: no violation, FIN, then closed by the server FIN', () => {
      for (const reason of [1, 2, 3, 4]) {
        const c = new RpcClientSession();
        c.handle({ kind: 'start' }, 0);
        const out = c.handle(bytes(hex(`000000041001180${reason}`)), 0);
        expect(kinds(out)).to.deep.equal(['rejected', 'close']);
        expect((out[0] as { error: RpcSessionRejected }).error.reason).to.equal(reason);
        expect(c.state).to.equal('closing');
        c.handle({ kind: 'remote-fin' }, 0);
        expect(c.state).to.equal('closed');
      }
    });

    it('a frame after the reply, before any request, is a protocol error', () => {
      const c = new RpcClientSession();
      c.handle({ kind: 'start' }, 0);
      const out = c.handle(bytes(hex('000000020801000000021802')), 0);
      expect(kinds(out)).to.deep.equal(['accepted', 'reset']);
    });

    it('the server closing or resetting before its reply: open-failed', () => {
      const c = new RpcClientSession();
      c.handle({ kind: 'start' }, 0);
      const out = c.handle({ kind: 'remote-fin' }, 0);
      expect(kinds(out)).to.deep.equal(['open-failed', 'close']);
      expect(errorOf(out, 'open-failed')).to.be.instanceOf(RpcSessionClosed);
      const r = new RpcClientSession();
      r.handle({ kind: 'start' }, 0);
      expect(kinds(r.handle({ kind: 'remote-reset' }, 0))).to.deep.equal(['open-failed']);
    });
  });

  describe('calls', () => {
    it('request ids: 1, 2, ... and 2^32-1 wraps to 1 (the vectors’ frames)', () => {
      const c = openClient(0, 0xffffffff);
      expect(sent(c.handle(unary(1000), 0))).to.equal(frameOf('request-id-max'));
      c.handle(bytes(rpcResponseFrame({ requestId: 0xffffffff, flags: 1 })), 0);
      expect(c.nextRequestId).to.equal(1);
      expect(sent(c.handle(unary(1000), 0))).to.equal(frameOf('request-id-after-wrap'));
      expect(c.requestId).to.equal(1);
      const fresh = openClient();
      expect(sent(fresh.handle(unary(), 0))).to.equal(frameOf('unary-getinfo')); // deadline 120,000 by default
    });

    it('one call at a time: a call or a ping while one is in flight is refused', () => {
      const c = openClient();
      c.handle(unary(), 0);
      expect(() => c.handle(unary(), 0)).to.throw(RpcSessionMisuse);
      expect(() => c.handle({ kind: 'ping' }, 0)).to.throw(RpcSessionMisuse);
      c.handle(bytes(hex('0000000408011801')), 0);
      expect(c.state).to.equal('idle');
      expect(kinds(c.handle(unary(), 0))).to.deep.equal(['send']);
    });

    it('each status answered with FIN ends the call with an RpcError (its message; Timeout is a timeout)', () => {
      for (const r of vectors.responses.filter((x) => x.name.startsWith('status-'))) {
        const c = openClient(0, 3);
        c.handle(unary(), 0);
        const out = c.handle(bytes(hex(r.frame)), 0);
        expect(kinds(out)).to.deep.equal(['failed']);
        const error = errorOf(out, 'failed') as RpcError;
        expect(error).to.be.instanceOf(RpcError);
        expect(error.status).to.equal(r.fields.status);
        expect(error.statusName).to.equal(r.fields.status_name);
        expect(error.message).to.equal(`example message for ${r.fields.status_name}`);
        expect(error.kind).to.equal(r.fields.status === RpcStatus.Timeout ? 'timeout' : 'peer');
      }
    });

    it('a status message longer than 1,024 bytes or not UTF-8 is accepted', () => {
      const c = openClient();
      c.handle(unary(), 0);
      const payload = Buffer.concat([Buffer.from('x'.repeat(2000)), hex('ff')]);
      const error = errorOf(c.handle(bytes(rpcResponseFrame({ requestId: 1, status: 7, flags: 1, payload })), 0), 'failed') as RpcError;
      expect(error.message.length).to.equal(2001);
    });

    it('every undefined flag bit, and ACK, during a call: reset', () => {
      for (let bit = 1; bit < 32; bit++) {
        const c = openClient();
        c.handle(unary(), 0);
        const out = c.handle(bytes(rpcResponseFrame({ requestId: 1, flags: (2 ** bit | 1) >>> 0 })), 0);
        expect(kinds(out), `bit ${bit}`).to.deep.equal(['failed', 'reset']);
        expect((errorOf(out, 'reset') as RpcProtocolError).violation).to.equal('flags');
      }
    });

    it('a stream: items re-arm the wait of deadline_ms + 60 s; no frame in time: reset', () => {
      const c = openClient();
      c.handle(stream(5000), 100);
      expect(c.nextTimeout()).to.equal(100 + 5000 + 60_000);
      expect(kinds(c.handle(bytes(rpcResponseFrame({ requestId: 1, payload: hex('0a00') })), 1000))).to.deep.equal(['item']);
      expect(c.state).to.equal('streaming');
      expect(c.nextTimeout()).to.equal(1000 + 65_000);
      const out = c.handle({ kind: 'timeout' }, 66_000);
      expect(kinds(out)).to.deep.equal(['failed', 'reset']);
      expect(errorOf(out, 'reset')).to.be.instanceOf(RpcTimeout).and.include({ wait: 'call', timeoutMs: 65_000 });
    });

    it('a response payload that does not decode is the server’s protocol error', () => {
      const c = openClient();
      c.handle({ ...unary(), decodeResponse: () => { throw new Error('bad'); } }, 0);
      const out = c.handle(bytes(rpcResponseFrame({ requestId: 1, flags: 1, payload: hex('00') })), 0);
      expect((errorOf(out, 'reset') as RpcProtocolError).violation).to.equal('undecodable');
    });

    it('a request that does not fit a frame is refused before anything is written', () => {
      const c = openClient();
      expect(() => c.handle(unary(120_000, new Uint8Array(MAX_RPC_FRAME_BYTES)), 0)).to.throw(RpcRequestTooLarge);
      expect(c.state).to.equal('idle');
      expect(c.nextRequestId).to.equal(1);
      expect(() => c.handle(unary(-1), 0)).to.throw(RangeError);
    });

    it('deadlines below the minimum are sent as given (the server answers BadRequest)', () => {
      const c = openClient();
      expect(sent(c.handle(unary(999), 0))).to.equal('000000070801100120e707');
    });
  });

  describe('cancel', () => {
    it('writes the FIN request, fails the call at once, and discards its frames up to a FIN', () => {
      const c = openClient(0, 2);
      c.handle(stream(), 0);
      const out = c.handle({ kind: 'cancel' }, 10);
      expect(sent(out)).to.equal(frameOf('cancel'));
      expect(errorOf(out, 'failed')).to.be.instanceOf(RpcCallCancelled);
      expect(c.state).to.equal('cancelling');
      expect(c.nextTimeout()).to.equal(2010);
      expect(c.handle(bytes(rpcResponseFrame({ requestId: 2, payload: hex('0a00') })), 20)).to.deep.equal([]);
      expect(c.handle(bytes(rpcResponseFrame({ requestId: 2, status: 4, flags: 1, payload: hex('61') })), 30)).to.deep.equal([]);
      expect(c.state).to.equal('idle');
      expect(c.handle({ kind: 'cancel' }, 40)).to.deep.equal([]); // nothing in flight: nothing to do
    });

    it('no FIN within 2 s: reset; a frame of another call meanwhile: reset', () => {
      const c = openClient();
      c.handle(unary(), 0);
      c.handle({ kind: 'cancel' }, 0);
      const out = c.handle({ kind: 'timeout' }, 2000);
      expect(kinds(out)).to.deep.equal(['reset']);
      expect(errorOf(out, 'reset')).to.be.instanceOf(RpcTimeout).and.include({ wait: 'cancel' });
      const other = openClient();
      other.handle(unary(), 0);
      other.handle({ kind: 'cancel' }, 0);
      expect(kinds(other.handle(bytes(rpcResponseFrame({ requestId: 9, flags: 1 })), 0))).to.deep.equal(['reset']);
    });
  });

  describe('ping', () => {
    it('between calls: request_id 0, method 0, flags ACK; answered by request_id 0, status 0, ACK', () => {
      const c = openClient();
      expect(sent(c.handle({ kind: 'ping' }, 0))).to.equal(frameOf('ping'));
      expect(c.nextTimeout()).to.equal(10_000);
      expect(c.handle(bytes(hex('000000021802')), 5)).to.deep.equal([{ kind: 'pong' }]);
      expect(c.state).to.equal('idle');
      expect(c.nextTimeout()).to.equal(undefined);
    });

    it('unanswered for 10 s, or answered wrongly: reset', () => {
      const c = openClient();
      c.handle({ kind: 'ping' }, 0);
      const out = c.handle({ kind: 'timeout' }, 10_000);
      expect(out[0]).to.deep.include({ kind: 'failed', requestId: 0 });
      expect(errorOf(out, 'reset')).to.be.instanceOf(RpcTimeout).and.include({ wait: 'ping' });
      for (const answer of ['0000000408011802', '000000021800', '00000005180252017a', '0000000418025201']) {
        const p = openClient();
        p.handle({ kind: 'ping' }, 0);
        expect(kinds(p.handle(bytes(hex(answer)), 0)), answer).to.deep.equal(['failed', 'reset']);
      }
    });

    it('a frame between calls is a protocol error', () => {
      expect(kinds(openClient().handle(bytes(hex('000000021802')), 0))).to.deep.equal(['reset']);
    });
  });

  describe('ending the session', () => {
    it('close between calls: FIN; the server FIN ends it, or a reset after 10 s', () => {
      const c = openClient();
      expect(c.handle({ kind: 'close' }, 0)).to.deep.equal([{ kind: 'close' }]);
      expect(c.handle(bytes(hex('000000021802')), 0)).to.deep.equal([]); // nothing is read after our FIN
      expect(c.handle({ kind: 'remote-fin' }, 0)).to.deep.equal([]);
      expect(c.state).to.equal('closed');
      const late = openClient();
      late.handle({ kind: 'close' }, 0);
      expect(errorOf(late.handle({ kind: 'timeout' }, 10_000), 'reset')).to.be.instanceOf(RpcTimeout).and.include({ wait: 'close' });
    });

    it('close during a call abandons it', () => {
      const c = openClient();
      c.handle(unary(), 0);
      const out = c.handle({ kind: 'close' }, 0);
      expect(kinds(out)).to.deep.equal(['failed', 'close']);
      expect(errorOf(out, 'failed')).to.be.instanceOf(RpcSessionClosed);
    });

    it('the server closing between calls (idle): the client answers with FIN', () => {
      const c = openClient();
      expect(c.handle({ kind: 'remote-fin' }, 0)).to.deep.equal([{ kind: 'close' }]);
      expect(c.state).to.equal('closed');
    });

    it('the server closing or resetting during a call fails it', () => {
      const c = openClient();
      c.handle(unary(), 0);
      expect(kinds(c.handle({ kind: 'remote-fin' }, 0))).to.deep.equal(['failed', 'close']);
      const r = openClient();
      r.handle(stream(), 0);
      const out = r.handle({ kind: 'remote-reset' }, 0);
      expect(kinds(out)).to.deep.equal(['failed']);
      expect((errorOf(out, 'failed') as RpcSessionClosed).how).to.equal('reset');
    });

    it('a frame over 4 MiB from the server: report and reset, from its header alone', () => {
      const c = openClient();
      c.handle(unary(), 0);
      const out = c.handle(bytes(hex('00400001')), 0);
      expect(kinds(out)).to.deep.equal(['failed', 'report', 'reset']);
      expect(c.buffered).to.equal(0);
    });

    it('the server closing in the middle of a frame is a protocol error', () => {
      const c = openClient();
      c.handle(unary(), 0);
      c.handle(bytes(hex('0000000408')), 0);
      expect((errorOf(c.handle({ kind: 'remote-fin' }, 0), 'reset') as RpcProtocolError).violation).to.equal('truncated');
    });
  });
});
