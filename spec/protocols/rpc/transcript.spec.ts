/**
 * The transcript of tcomms-rpc.json: a whole NodeInfo session replayed through the server core
 * (client bytes in, server bytes out) and through the client core (server bytes in, client
 * bytes out), under several chunkings.
 */
import { toBinary } from '@bufbuild/protobuf';
import { expect } from 'chai';
import fc from 'fast-check';
import { ConnectionInfoSchema, GetInfoResponseSchema } from '../../../proto/gen/tcomms/info/v1/info_pb.js';
import { NegotiationAcceptor, NegotiationOpener, decodeNegotiationFrame } from '../../../protocols/negotiation/index.js';
import {
  MAX_STATUS_MESSAGE_BYTES,
  RpcClientSession,
  RpcError,
  RpcFrameDecoder,
  RpcServerSession,
  RpcStatus,
  decodeRpcResponse,
  type RpcClientOutput,
  type RpcServerOutput,
} from '../../../protocols/rpc/index.js';
import { splitAt } from '../../support/streams.js';
import { hex, toHexString } from '../../support/vectors.js';
import { CONNECTIONS, INFO, driveServer, nodeInfo, sentBytes, vectors } from './support.js';

const { transcript } = vectors;
const stepBytes = (s: { frame?: string; bytes?: string }) => hex(s.frame ?? s.bytes ?? '');

/** The bytes one side writes between two writes of the other side: each a batch the other side may see in any chunking. */
function batches(from: 'client' | 'server'): Uint8Array[] {
  const out: Uint8Array[][] = [];
  let last: string | undefined;
  for (const s of transcript.steps) {
    if (s.from !== last) out.push([]);
    last = s.from;
    if (s.from === from && (s.frame !== undefined || s.bytes !== undefined)) out.at(-1)!.push(stepBytes(s));
  }
  return out.filter((b) => b.length > 0).map((b) => Buffer.concat(b));
}

/** Splits each batch at `cuts` (taken modulo its length). */
function chunked(batch: Uint8Array, cuts: number[]): Uint8Array[] {
  return splitAt(batch, cuts).filter((c) => c.length > 0);
}

/** Frames compared as section 8 makes them normative: byte for byte, except the text of a non-Ok status. */
function expectSameResponses(actual: Uint8Array, expected: Uint8Array): void {
  const a = [...new RpcFrameDecoder().decode(actual)];
  const e = [...new RpcFrameDecoder().decode(expected)];
  expect(a.length).to.equal(e.length);
  expect(toHexString(a[0]!), 'RpcSessionReply').to.equal(toHexString(e[0]!));
  for (let i = 1; i < e.length; i++) {
    const want = decodeRpcResponse(e[i]!);
    if (want.status === RpcStatus.Ok) {
      expect(toHexString(a[i]!), `frame ${i}`).to.equal(toHexString(e[i]!));
      continue;
    }
    const got = decodeRpcResponse(a[i]!);
    expect({ requestId: got.requestId, status: got.status, flags: got.flags }, `frame ${i}`).to.deep.equal({ requestId: want.requestId, status: want.status, flags: want.flags });
    expect(got.payload.length).to.be.within(1, MAX_STATUS_MESSAGE_BYTES);
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(got.payload)).not.to.throw();
  }
}

/** The server shell stand-in: negotiation (section 4), then the server core; returns its outputs. */
function replayServer(cuts: number[]): RpcServerOutput[] {
  const acceptor = new NegotiationAcceptor(new Set([nodeInfo.protocol]));
  let session: RpcServerSession | undefined;
  let pending = new Uint8Array(0);
  const out: RpcServerOutput[] = [];
  for (const batch of batches('client')) {
    for (const chunk of chunked(batch, cuts)) {
      if (session === undefined) {
        pending = Buffer.concat([pending, chunk]);
        const decoded = decodeNegotiationFrame(pending);
        if (decoded === undefined) continue;
        const step = acceptor.receive(decoded.frame);
        expect(step).to.deep.include({ kind: 'selected', protocol: '/tcomms/info/1' });
        expect(step.send).to.equal(undefined); // optimistic: no reply
        session = new RpcServerSession({ methods: nodeInfo.methods, nowMs: 0 });
        const rest = pending.subarray(decoded.used);
        for (const o of driveServer(session, { kind: 'bytes', data: rest })) {
          out.push(o);
          if (o.kind === 'admission') out.push(...session.handle({ kind: 'admit', decision: 'accept' }, 0));
        }
        continue;
      }
      for (const o of driveServer(session, { kind: 'bytes', data: chunk })) {
        out.push(o);
        if (o.kind === 'admission') out.push(...session.handle({ kind: 'admit', decision: 'accept' }, 0));
      }
    }
  }
  // "FIN between calls (ends the session)": the server closes too.
  out.push(...session!.handle({ kind: 'remote-fin' }, 0));
  expect(session!.state).to.equal('closed');
  return out;
}

const CHUNKINGS: Array<[string, number[]]> = [
  ['whole batches', []],
  ['1-byte chunks', Array.from({ length: 200 }, (_, i) => i + 1)],
  ['cut inside every header', [1, 2, 3, 5, 6, 9, 14, 17]],
  ['odd cuts', [3, 7, 11, 29, 60, 61]],
];

describe('rpc: the tcomms-rpc.json transcript', () => {
  it('its steps add up to client_bytes and server_bytes', () => {
    expect(toHexString(Buffer.concat(batches('client')))).to.equal(transcript.client_bytes);
    expect(toHexString(Buffer.concat(batches('server')))).to.equal(transcript.server_bytes);
  });

  describe('through the server core (handlers answer with node_info)', () => {
    for (const [name, cuts] of CHUNKINGS) {
      it(`writes server_bytes (status texts aside) and closes after the client's FIN: ${name}`, () => {
        const out = replayServer(cuts);
        expectSameResponses(sentBytes(out), hex(transcript.server_bytes));
        const calls = out.filter((o) => o.kind === 'start-call');
        expect(calls.map((c) => [c.requestId, c.method.name, c.deadlineMs])).to.deep.equal([
          [1, 'GetInfo', 120_000],
          [2, 'ListConnections', 120_000],
          [6, 'ListConnections', 120_000],
        ]);
        expect(out.at(-1)).to.deep.equal({ kind: 'close' });
        expect(out.filter((o) => o.kind === 'reset' || o.kind === 'report')).to.deep.equal([]);
      });
    }

    it('the statuses and the texts of the refused requests', () => {
      const frames = [...new RpcFrameDecoder().decode(sentBytes(replayServer([])))].slice(1).map(decodeRpcResponse);
      const refused = frames.filter((f) => f.status !== RpcStatus.Ok).map((f) => [f.requestId, f.status, new TextDecoder().decode(f.payload)]);
      expect(refused).to.deep.equal([
        [3, RpcStatus.BadRequest, 'deadline_ms 999 is below the minimum of 1000'],
        [4, RpcStatus.UnsupportedMethod, 'method 99 is not supported'],
        // The reference server's text ends "bad length-delimited field"; texts are not normative.
        [5, RpcStatus.BadRequest, 'the payload does not decode as the request of GetInfo (tcomms.info.v1.GetInfoRequest: premature EOF)'],
      ]);
    });

    it('any chunking of the client batches gives the same server bytes', () => {
      const reference = toHexString(sentBytes(replayServer([])));
      fc.assert(
        fc.property(fc.array(fc.nat({ max: 120 }), { maxLength: 12 }), (cuts) => {
          expect(toHexString(sentBytes(replayServer(cuts)))).to.equal(reference);
        }),
        { numRuns: 100 },
      );
    });
  });

  describe('through the client core', () => {
    for (const [name, cuts] of CHUNKINGS) {
      it(`writes client_bytes and accepts every answer: ${name}`, () => replayClient(cuts));
    }
    it('any chunking of the server batches', () => {
      fc.assert(
        fc.property(fc.array(fc.nat({ max: 120 }), { maxLength: 12 }), (cuts) => replayClient(cuts)),
        { numRuns: 100 },
      );
    });
  });
});

/**
 * The client's side of the transcript, step by step. The cancel of request 2 crosses the
 * call's FIN: the caller cancels after the two items, before the FIN arrives; the client core
 * then discards that FIN, which is how a client comes to write a cancel after the call's FIN.
 */
function replayClient(cuts: number[]): void {
  const server = batches('server');
  const written: Uint8Array[] = [];
  const client = new RpcClientSession();
  const opener = new NegotiationOpener([nodeInfo.protocol], { optimistic: true });
  written.push(opener.start().send!);

  const run = (outputs: RpcClientOutput[]): RpcClientOutput[] => {
    written.push(sentBytes(outputs));
    return outputs.filter((o) => o.kind !== 'send');
  };
  const feed = (batch: Uint8Array): RpcClientOutput[] => chunked(batch, cuts).flatMap((c) => run(client.handle({ kind: 'bytes', data: c }, 0)));
  const getInfo = nodeInfo.byName.getInfo;
  const list = nodeInfo.byName.listConnections;
  const call = (method: typeof getInfo | typeof list, payload: Uint8Array, deadlineMs = 120_000) =>
    run(client.handle({ kind: 'call', method: method.number, methodKind: method.kind, payload, deadlineMs, decodeResponse: (p) => method.decodeResponse(p) }, 0));
  const value = (o: RpcClientOutput) => (o as Extract<RpcClientOutput, { kind: 'item' | 'response' }>).value as never;
  const info = (o: RpcClientOutput) => toHexString(toBinary(GetInfoResponseSchema, value(o)));
  const conn = (o: RpcClientOutput) => toHexString(toBinary(ConnectionInfoSchema, value(o)));
  const status = (o: RpcClientOutput | undefined) => (o?.kind === 'failed' && o.error instanceof RpcError ? o.error.status : undefined);

  expect(run(client.handle({ kind: 'start' }, 0))).to.deep.equal([]);
  expect(feed(server[0]!)).to.deep.equal([{ kind: 'accepted', version: 1 }]);
  run(client.handle({ kind: 'ping' }, 0));
  expect(feed(server[1]!)).to.deep.equal([{ kind: 'pong' }]);
  call(getInfo, getInfo.encodeRequest({}));
  const answer = feed(server[2]!);
  expect(answer.map((o) => o.kind)).to.deep.equal(['response']);
  expect(info(answer[0]!)).to.equal(toHexString(toBinary(GetInfoResponseSchema, INFO)));
  call(list, list.encodeRequest({}));
  // The server's third batch: item 1, item 2, the FIN.
  const items = [...new RpcFrameDecoder().decode(server[3]!)].map((p) => Buffer.concat([hex('000000' + p.length.toString(16).padStart(2, '0')), p]));
  const got = [...feed(items[0]!), ...feed(items[1]!)];
  expect(got.map(conn)).to.deep.equal(CONNECTIONS.map((c) => toHexString(toBinary(ConnectionInfoSchema, c))));
  expect(run(client.handle({ kind: 'cancel' }, 0)).map((o) => o.kind)).to.deep.equal(['failed']);
  expect(feed(items[2]!)).to.deep.equal([]); // the call's FIN, discarded
  expect(client.state).to.equal('idle');
  run(client.handle({ kind: 'ping' }, 0));
  expect(feed(server[4]!)).to.deep.equal([{ kind: 'pong' }]);
  call(getInfo, new Uint8Array(0), 999);
  expect(status(feed(server[5]!)[0])).to.equal(RpcStatus.BadRequest);
  call({ ...getInfo, number: 99 }, new Uint8Array(0));
  expect(status(feed(server[6]!)[0])).to.equal(RpcStatus.UnsupportedMethod);
  call(getInfo, hex('0a'));
  expect(status(feed(server[7]!)[0])).to.equal(RpcStatus.BadRequest);
  call(list, list.encodeRequest({ limit: 1 }));
  expect(feed(server[8]!).map((o) => o.kind)).to.deep.equal(['item', 'end']);
  expect(run(client.handle({ kind: 'close' }, 0))).to.deep.equal([{ kind: 'close' }]);
  expect(run(client.handle({ kind: 'remote-fin' }, 0))).to.deep.equal([]);
  expect(client.state).to.equal('closed');
  expect(server).to.have.length(9);
  expect(toHexString(Buffer.concat(written))).to.equal(transcript.client_bytes);
}
