/**
 * Property tests of the RPC cores: whatever the peer sends, in whatever chunks, the cores only
 * ever answer with outputs (a reset carrying a typed error among them), never a crash; the
 * hand-written encoders agree with protobuf-es; strict decoding agrees with protobuf-es.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { expect } from 'chai';
import fc from 'fast-check';
import { TcommsError } from '../../../core/errors.js';
import { GetInfoResponseSchema, ListConnectionsRequestSchema } from '../../../proto/gen/tcomms/info/v1/info_pb.js';
import { RpcRequestSchema, RpcResponseSchema } from '../../../proto/gen/tcomms/rpc/rpc_pb.js';
import {
  RpcClientSession,
  RpcError,
  RpcProtocolError,
  RpcServerSession,
  decodeProtobuf,
  encodeRpcFrame,
  encodeRpcRequest,
  encodeRpcResponse,
  rpcRequestFrame,
  rpcResponseFrame,
  type RpcClientInput,
  type RpcClientOutput,
  type RpcServerInput,
  type RpcServerOutput,
} from '../../../protocols/rpc/index.js';
import { splitAt } from '../../support/streams.js';
import { hex, toHexString } from '../../support/vectors.js';
import { INFO, SESSION_FRAME, nodeInfo, openClient, openServer } from './support.js';

const u32 = fc.oneof(fc.constantFrom(0, 1, 2, 3, 99, 0xffffffff), fc.nat(), fc.integer({ min: 0, max: 0xffffffff }));
const u64 = fc.oneof(fc.constantFrom(0n, 999n, 1000n, 120_000n), fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }));
const flags = fc.oneof(fc.constantFrom(0, 1, 2, 3), u32);
const payload = fc.oneof(fc.constant(new Uint8Array(0)), fc.constantFrom(hex('0805'), hex('0a'), hex('0a00'), hex('3801')), fc.uint8Array({ maxLength: 40 }));
const requestFields = fc.record({ requestId: u32, method: u32, flags, deadlineMs: u64, payload });
const responseFields = fc.record({ requestId: u32, status: u32, flags, payload });

/** Request frames a client might send, often nearly valid. */
const requestFrame = fc.oneof(
  requestFields.map((f) => rpcRequestFrame(f)),
  fc.constantFrom(hex('000000021802'), hex('000000080801100120c0a907'), hex('0000000c0802100220c0a90752020805'), hex('0000000408011801')),
  fc.uint8Array({ maxLength: 30 }).map(encodeRpcFrame),
  fc.uint8Array({ maxLength: 30 }),
);
/** Response frames a server might send, often nearly valid. */
const responseFrame = fc.oneof(
  responseFields.map((f) => rpcResponseFrame(f)),
  fc.record({ requestId: fc.constantFrom(0, 1), status: fc.constantFrom(0, 1, 42), flags: fc.constantFrom(0, 1, 2), payload }).map((f) => rpcResponseFrame(f)),
  fc.constantFrom(hex('000000021802'), hex('000000020801'), hex('0000000410011802')),
  fc.uint8Array({ maxLength: 30 }).map(encodeRpcFrame),
  fc.uint8Array({ maxLength: 30 }),
);

const SERVER_OUTPUTS = new Set(['send', 'admission', 'start-call', 'stop-call', 'close', 'reset', 'report']);
const CLIENT_OUTPUTS = new Set(['send', 'close', 'reset', 'report', 'accepted', 'rejected', 'open-failed', 'item', 'response', 'end', 'failed', 'pong']);

function checkServerOutputs(out: RpcServerOutput[]): void {
  for (const o of out) {
    expect(SERVER_OUTPUTS.has(o.kind)).to.equal(true);
    if (o.kind === 'reset') expect(o.error).to.be.instanceOf(TcommsError);
  }
}
function checkClientOutputs(out: RpcClientOutput[]): void {
  for (const o of out) {
    expect(CLIENT_OUTPUTS.has(o.kind)).to.equal(true);
    if (o.kind === 'reset' || o.kind === 'failed' || o.kind === 'open-failed') expect(o.error).to.be.instanceOf(TcommsError);
  }
}

/** A server in one of its states: handshake, idle, a unary call or a stream in flight. */
function serverIn(state: number): RpcServerSession {
  if (state === 0) return new RpcServerSession({ methods: nodeInfo.methods, nowMs: 0 });
  const s = openServer();
  if (state === 2) s.handle({ kind: 'bytes', data: hex('000000080801100120c0a907') }, 0);
  if (state === 3) s.handle({ kind: 'bytes', data: hex('000000080802100220c0a907') }, 0);
  return s;
}

/** A client in one of its states: handshake, a unary call, a stream, a ping, a cancel. */
function clientIn(state: number): RpcClientSession {
  if (state === 0) {
    const c = new RpcClientSession();
    c.handle({ kind: 'start' }, 0);
    return c;
  }
  const c = openClient();
  if (state === 1) c.handle({ kind: 'call', method: 1, methodKind: 'unary', decodeResponse: (p) => nodeInfo.byName.getInfo.decodeResponse(p) }, 0);
  if (state === 2 || state === 4) c.handle({ kind: 'call', method: 2, methodKind: 'server_streaming' }, 0);
  if (state === 3) c.handle({ kind: 'ping' }, 0);
  if (state === 4) c.handle({ kind: 'cancel' }, 0);
  return c;
}

describe('rpc: properties', () => {
  it('random bytes into the server core, in any state and chunking: outputs only, never a throw', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 6 }), (state, bytes, cuts) => {
        const s = serverIn(state);
        for (const c of splitAt(bytes, cuts)) checkServerOutputs(s.handle({ kind: 'bytes', data: c }, 0));
        checkServerOutputs(s.handle({ kind: 'remote-fin' }, 0));
      }),
      { numRuns: 2000 },
    );
  });

  it('random request frames and events into the server core: at most one call, nothing after a reset, never a throw', () => {
    const event = fc.oneof(
      { weight: 5, arbitrary: requestFrame.map((data) => ({ kind: 'bytes', data }) as RpcServerInput) },
      { weight: 3, arbitrary: fc.constantFrom('handler', 'fail', 'stale') },
      { weight: 1, arbitrary: fc.constantFrom<RpcServerInput>({ kind: 'timeout' }, { kind: 'remote-fin' }, { kind: 'close' }, { kind: 'admit', decision: 'accept' }) },
    );
    fc.assert(
      fc.property(fc.boolean(), fc.array(event, { maxLength: 25 }), fc.array(fc.nat({ max: 200_000 }), { maxLength: 25 }), (handshake, events, steps) => {
        const s = handshake ? new RpcServerSession({ methods: nodeInfo.methods, nowMs: 0 }) : openServer();
        if (handshake) s.handle({ kind: 'bytes', data: SESSION_FRAME }, 0);
        let now = 0;
        let over = false;
        const streaming = new Map<number, boolean>();
        events.forEach((e, i) => {
          now += steps[i] ?? 0;
          const call = s.activeCall;
          let input: RpcServerInput;
          if (typeof e !== 'string') input = e;
          else if (e === 'stale') input = { kind: 'result', call: (call ?? 0) + 1000, value: {} };
          else if (call === undefined) input = { kind: 'timeout' };
          else if (e === 'fail') input = { kind: 'fail', call, error: (i & 1) === 0 ? new RpcError(7, 'no') : new Error('x') };
          else if (!streaming.get(call)) input = { kind: 'result', call, value: INFO };
          else input = (i & 1) === 0 ? { kind: 'item', call, value: { limit: i } } : { kind: 'end', call };
          const out = s.handle(input, now);
          for (const o of out) if (o.kind === 'start-call') streaming.set(o.call, o.method.kind === 'server_streaming');
          checkServerOutputs(out);
          if (over) expect(out).to.deep.equal([]);
          if (out.some((o) => o.kind === 'reset')) over = true;
          expect(out.filter((o) => o.kind === 'start-call').length).to.be.at.most(1);
          if (s.state === 'idle') expect(s.activeCall).to.equal(undefined);
        });
      }),
      { numRuns: 1500 },
    );
  });

  it('random bytes and response frames into the client core, in any state and chunking: never a throw', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4 }), fc.array(responseFrame, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 6 }), (state, frames, cuts) => {
        const c = clientIn(state);
        let over = false;
        for (const chunk of splitAt(Buffer.concat(frames), cuts)) {
          const out = c.handle({ kind: 'bytes', data: chunk }, 0);
          checkClientOutputs(out);
          if (over) expect(out).to.deep.equal([]);
          if (out.some((o) => o.kind === 'reset')) over = true;
          // The caller's side: make a call or ping whenever the session is free.
          if (c.state === 'idle') checkClientOutputs(c.handle((chunk.length & 1) === 0 ? { kind: 'call', method: 2, methodKind: 'server_streaming' } : ({ kind: 'ping' } as RpcClientInput), 0));
        }
        for (const input of [{ kind: 'timeout' }, { kind: 'remote-fin' }, { kind: 'remote-reset' }] as const) checkClientOutputs(c.handle(input, 1e9));
      }),
      { numRuns: 2000 },
    );
  });

  it('the hand-written RpcRequest and RpcResponse encodings are protobuf-es’s (canonical), and decode back', () => {
    fc.assert(
      fc.property(requestFields, responseFields, (req, res) => {
        expect(toHexString(encodeRpcRequest(req))).to.equal(toHexString(toBinary(RpcRequestSchema, create(RpcRequestSchema, req))));
        expect(toHexString(encodeRpcResponse(res))).to.equal(toHexString(toBinary(RpcResponseSchema, create(RpcResponseSchema, res))));
        expect(toHexString(rpcRequestFrame(req))).to.equal(toHexString(encodeRpcFrame(encodeRpcRequest(req))));
        const back = decodeProtobuf(RpcRequestSchema, encodeRpcRequest(req));
        expect({ ...back, payload: toHexString(back.payload) }).to.deep.include({ ...req, payload: toHexString(req.payload) });
      }),
      { numRuns: 1000 },
    );
  });

  it('strict decoding accepts what protobuf-es accepts, except known fields of the wrong wire type, and gives the same message', () => {
    const wireTypeMismatch = (schema: typeof GetInfoResponseSchema | typeof ListConnectionsRequestSchema, bytes: Uint8Array) => {
      try {
        decodeProtobuf(schema, bytes);
        return false;
      } catch (err) {
        expect(err).to.be.instanceOf(RpcProtocolError);
        return /wire type/.test((err as RpcProtocolError).detail);
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), fc.boolean(), (bytes, info) => {
        const schema = info ? GetInfoResponseSchema : ListConnectionsRequestSchema;
        let loose: unknown;
        try {
          loose = fromBinary(schema, bytes, { readUnknownFields: false });
        } catch {
          expect(() => decodeProtobuf(schema, bytes)).to.throw(RpcProtocolError);
          return;
        }
        if (wireTypeMismatch(schema, bytes)) return;
        expect(decodeProtobuf(schema, bytes)).to.deep.equal(loose);
      }),
      { numRuns: 3000 },
    );
  });
});
