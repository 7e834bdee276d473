/** tcomms-rpc.json (PROTOCOL.md section 8): every frame, every judgement and the NodeInfo messages, through the cores. */
import { create, fromBinary, fromJsonString, toBinary, toJsonString, type DescMessage } from '@bufbuild/protobuf';
import { expect } from 'chai';
import { ConnectionInfoSchema, GetInfoRequestSchema, GetInfoResponseSchema, ListConnectionsRequestSchema } from '../../../proto/gen/tcomms/info/v1/info_pb.js';
import { RpcResponseSchema, RpcRequestSchema } from '../../../proto/gen/tcomms/rpc/rpc_pb.js';
import {
  MAX_RPC_FRAME_BYTES,
  RpcClientSession,
  RpcError,
  RpcFrameDecoder,
  RpcProtocolError,
  RpcServerSession,
  RpcSessionRejected,
  RpcStatus,
  decodeRpcRequest,
  decodeRpcResponse,
  decodeRpcSession,
  decodeRpcSessionReply,
  encodeRpcFrame,
  encodeRpcRequest,
  encodeRpcResponse,
  encodeRpcSession,
  encodeRpcSessionReply,
  rpcRequestFrame,
  rpcResponseFrame,
  statusName,
  type RpcClientOutput,
  type RpcServerOutput,
} from '../../../protocols/rpc/index.js';
import { hex, toHexString } from '../../support/vectors.js';
import { CONNECTIONS, INFO, SESSION_FRAME, driveServer, kinds, nodeInfo, openClient, openServer, responses, vectors } from './support.js';

/** The one frame in `frameHex`, checked to be exactly header + protobuf. */
function protobufOf(frameHex: string, protobufHex: string): Uint8Array {
  const frames = [...new RpcFrameDecoder().decode(hex(frameHex))];
  expect(frames).to.have.length(1);
  expect(toHexString(frames[0]!)).to.equal(protobufHex);
  return frames[0]!;
}

const requestFields = (f: Record<string, unknown>) => ({
  requestId: f.request_id as number,
  method: f.method as number,
  flags: f.flags as number,
  deadlineMs: BigInt(f.deadline_ms as number),
  payload: hex(f.payload as string),
});
const responseFields = (f: Record<string, unknown>) => ({ requestId: f.request_id as number, status: f.status as number, flags: f.flags as number, payload: hex(f.payload as string) });

describe('rpc: tcomms-rpc.json', () => {
  it('has the counts the README gives', () => {
    expect(vectors.max_protobuf_bytes).to.equal(MAX_RPC_FRAME_BYTES);
    expect(vectors.handshake_judgements).to.have.length(10);
    expect(vectors.server_judgements).to.have.length(23);
    expect(vectors.client_judgements).to.have.length(15);
  });

  describe('handshake frames', () => {
    for (const e of vectors.handshake) {
      it(`${e.name}: decodes, and encodes canonically`, () => {
        const protobuf = protobufOf(e.frame, e.protobuf);
        if (e.message.startsWith('RpcSession ') || e.message === 'RpcSession') {
          const versions = e.fields.supported_versions as number[];
          expect(decodeRpcSession(protobuf).supportedVersions).to.deep.equal(versions);
          // The unpacked form is accepted; what is written is always the packed one.
          const canonical = encodeRpcSession(versions);
          if (e.name.includes('unpacked')) expect(toHexString(canonical)).to.equal('0a020102');
          else expect(toHexString(encodeRpcFrame(canonical))).to.equal(e.frame);
        } else {
          const reply = decodeRpcSessionReply(protobuf);
          const encoded = e.fields.rejected === true ? encodeRpcSessionReply({ rejected: e.fields.reject_reason as number }) : encodeRpcSessionReply({ accepted: e.fields.accepted_version as number });
          expect(toHexString(encodeRpcFrame(encoded))).to.equal(e.frame);
          if (e.fields.rejected === true) expect(reply.sessionResult).to.deep.equal({ case: 'rejected', value: true });
          else expect(reply.sessionResult).to.deep.equal({ case: 'acceptedVersion', value: e.fields.accepted_version });
          expect(reply.rejectReason).to.equal(e.fields.reject_reason ?? 0);
        }
      });
    }

    it("the server core reads each RpcSession: [1], [1, 2] and unpacked [1, 2] ask for admission; [2] is rejected with UNSUPPORTED_VERSION and a FIN", () => {
      for (const e of vectors.handshake.filter((h) => h.message.startsWith('RpcSession') && !h.message.startsWith('RpcSessionReply'))) {
        const server = new RpcServerSession({ methods: nodeInfo.methods, nowMs: 0 });
        const out = server.handle({ kind: 'bytes', data: hex(e.frame) }, 0);
        if ((e.fields.supported_versions as number[]).includes(1)) {
          expect(kinds(out), e.name).to.deep.equal(['admission']);
          const accepted = server.handle({ kind: 'admit', decision: 'accept' }, 0);
          expect(accepted).to.deep.equal([{ kind: 'send', bytes: hex(vectors.handshake.find((h) => h.name === 'accept')!.frame) }]);
        } else {
          expect(out).to.deep.equal([{ kind: 'send', bytes: hex(vectors.handshake.find((h) => h.name === 'reject-UNSUPPORTED_VERSION')!.frame) }, { kind: 'close' }]);
        }
      }
    });

    it('the server core answers the limit decisions with the vectors’ rejections', () => {
      for (const [decision, name] of [
        ['no-sessions', 'reject-NO_SERVER_SESSIONS_AVAILABLE'],
        ['no-service', 'reject-PROTOCOL_NOT_SUPPORTED'],
      ] as const) {
        const server = new RpcServerSession({ methods: nodeInfo.methods, nowMs: 0 });
        server.handle({ kind: 'bytes', data: SESSION_FRAME }, 0);
        const out = server.handle({ kind: 'admit', decision }, 0);
        expect(out).to.deep.equal([{ kind: 'send', bytes: hex(vectors.handshake.find((h) => h.name === name)!.frame) }, { kind: 'close' }]);
        expect(server.state).to.equal('closing');
      }
    });
  });

  describe('request frames', () => {
    for (const e of vectors.requests) {
      it(`${e.name}: encodes canonically (as protobuf-es does), decodes, and reads as a ${e.kind}`, () => {
        const protobuf = protobufOf(e.frame, e.protobuf);
        const fields = requestFields(e.fields);
        expect(toHexString(encodeRpcRequest(fields))).to.equal(e.protobuf);
        expect(toHexString(rpcRequestFrame(fields))).to.equal(e.frame);
        expect(toHexString(toBinary(RpcRequestSchema, create(RpcRequestSchema, fields)))).to.equal(e.protobuf);
        const decoded = decodeRpcRequest(protobuf);
        expect({ ...decoded, payload: toHexString(decoded.payload) }).to.deep.include({ ...fields, payload: e.fields.payload });
        const server = openServer();
        if (e.kind === 'cancel') {
          driveCall(server, fields.requestId);
          const out = server.handle({ kind: 'bytes', data: hex(e.frame) }, 0);
          expect(kinds(out)).to.deep.equal(['stop-call', 'send']);
        } else if (e.kind === 'ping') {
          expect(server.handle({ kind: 'bytes', data: hex(e.frame) }, 0)).to.deep.equal([{ kind: 'send', bytes: hex('000000021802') }]);
        } else {
          expect(kinds(server.handle({ kind: 'bytes', data: hex(e.frame) }, 0))).to.deep.equal(['start-call']);
        }
      });
    }
  });

  describe('response frames', () => {
    for (const e of vectors.responses) {
      it(`${e.name}: encodes canonically (as protobuf-es does) and decodes`, () => {
        const protobuf = protobufOf(e.frame, e.protobuf);
        const fields = responseFields(e.fields);
        expect(toHexString(encodeRpcResponse(fields))).to.equal(e.protobuf);
        expect(toHexString(rpcResponseFrame(fields))).to.equal(e.frame);
        expect(toHexString(toBinary(RpcResponseSchema, create(RpcResponseSchema, fields)))).to.equal(e.protobuf);
        const decoded = decodeRpcResponse(protobuf);
        expect({ ...decoded, payload: toHexString(decoded.payload) }).to.deep.include({ ...fields, payload: e.fields.payload });
        expect(statusName(fields.status)).to.equal(e.fields.status_name);
      });
    }
  });

  describe('handshake_judgements (a client that offered [1])', () => {
    for (const j of vectors.handshake_judgements) {
      it(`${j.what}: ${j.client_action}`, () => {
        const client = new RpcClientSession({ versions: j.offered });
        client.handle({ kind: 'start' }, 0);
        const out = client.handle({ kind: 'bytes', data: hex(j.frame) }, 0);
        if (j.client_action === 'accepted') {
          expect(out).to.deep.equal([{ kind: 'accepted', version: 1 }]);
          expect(client.state).to.equal('idle');
        } else if (j.client_action.startsWith('rejected')) {
          expect(kinds(out)).to.deep.equal(['rejected', 'close']);
          const rejected = out[0] as Extract<RpcClientOutput, { kind: 'rejected' }>;
          expect(rejected.error).to.be.instanceOf(RpcSessionRejected);
          expect(rejected.error.reason).to.equal(decodeRpcSessionReply(hex(j.protobuf)).rejectReason);
        } else {
          expect(j.client_action).to.equal('protocol error: reset');
          expect(kinds(out)).to.deep.equal(['open-failed', 'reset']);
          expect((out[1] as { error: unknown }).error).to.be.instanceOf(RpcProtocolError);
          expect(client.state).to.equal('closed');
        }
      });
    }
  });

  describe('server_judgements (the last call, or the call in flight, is request_id 1)', () => {
    for (const j of vectors.server_judgements) {
      it(`${j.session_state}: ${j.what}: ${j.server_action}`, () => {
        const server = openServer();
        if (j.session_state === 'in_call') driveCall(server, 1);
        else {
          // Request 1 was a call, answered with its FIN.
          expect(kinds(driveServer(server, { kind: 'bytes', data: hex('000000080801100120c0a907') }))).to.deep.equal(['start-call', 'send']);
          expect(server.state).to.equal('idle');
        }
        const out = server.handle({ kind: 'bytes', data: hex(j.frame) }, 0);
        expectServerAction(out, j.server_action, j.protobuf, j.session_state === 'in_call');
      });
    }
  });

  describe('client_judgements', () => {
    for (const j of vectors.client_judgements) {
      it(`awaiting ${j.awaiting}: ${j.what}: ${j.client_action}`, () => {
        const client = openClient(0, j.awaiting === 'ping' ? 1 : j.request_id);
        if (j.awaiting === 'ping') client.handle({ kind: 'ping' }, 0);
        else {
          const method = j.awaiting === 'unary' ? nodeInfo.byName.getInfo : nodeInfo.byName.listConnections;
          client.handle({ kind: 'call', method: method.number, methodKind: method.kind, decodeResponse: (p) => method.decodeResponse(p) }, 0);
          expect(client.requestId).to.equal(j.request_id);
        }
        const out = client.handle({ kind: 'bytes', data: hex(j.frame) }, 0);
        expectClientAction(out, j);
      });
    }
  });

  describe('node_info', () => {
    const schemas: Record<string, DescMessage> = {
      GetInfoRequest: GetInfoRequestSchema,
      GetInfoResponse: GetInfoResponseSchema,
      ListConnectionsRequest: ListConnectionsRequestSchema,
      ConnectionInfo: ConnectionInfoSchema,
    };
    for (const e of vectors.node_info) {
      it(`${e.message} ${e.protobuf.slice(0, 16)}: decodes strictly, re-encodes canonically${e.json ? ', and has the JSON form' : ''}`, () => {
        const schema = schemas[e.message]!;
        const method = [...nodeInfo.methods.values()].find((m) => m.input === schema || m.output === schema)!;
        const message = method.input === schema ? method.decodeRequest(hex(e.protobuf)) : method.decodeResponse(hex(e.protobuf));
        expect(toHexString(toBinary(schema, message))).to.equal(e.protobuf);
        if (e.fields !== undefined) expect(message).to.deep.include(e.fields);
        if (e.json !== undefined) {
          expect(toJsonString(schema, message)).to.equal(e.json);
          expect(toHexString(toBinary(schema, fromJsonString(schema, e.json)))).to.equal(e.protobuf);
        }
      });
    }

    it('NodeInfo is /tcomms/info/1 with GetInfo = 1 (unary) and ListConnections = 2 (server streaming)', () => {
      expect(nodeInfo.protocol).to.equal('/tcomms/info/1');
      expect([...nodeInfo.methods].map(([n, m]) => [n, m.name, m.kind])).to.deep.equal([
        [1, 'GetInfo', 'unary'],
        [2, 'ListConnections', 'server_streaming'],
      ]);
      expect(INFO.userAgent).to.equal('tcomms-vector/1');
      expect(CONNECTIONS).to.have.length(2);
    });
  });
});

/** Starts a unary GetInfo call with `requestId` and leaves it in flight. */
function driveCall(server: RpcServerSession, requestId: number): void {
  const out = server.handle({ kind: 'bytes', data: rpcRequestFrame({ requestId, method: 1, deadlineMs: 120_000 }) }, 0);
  expect(kinds(out)).to.deep.equal(['start-call']);
}

function expectServerAction(out: RpcServerOutput[], action: string, requestHex: string, inCall: boolean): void {
  if (action === 'call') return void expect(kinds(out)).to.deep.equal(['start-call']);
  if (action === 'reset') {
    // A call in flight is stopped first.
    expect(kinds(out)).to.deep.equal(inCall ? ['stop-call', 'reset'] : ['reset']);
    expect((out.at(-1) as { error: unknown }).error).to.be.instanceOf(RpcProtocolError);
    return;
  }
  if (action === 'ignore') return void expect(out).to.deep.equal([]);
  if (action === 'answer pong') return void expect(out).to.deep.equal([{ kind: 'send', bytes: hex('000000021802') }]);
  if (action.startsWith('cancel')) {
    expect(out).to.deep.equal([
      { kind: 'stop-call', call: 1, reason: 'cancelled' },
      { kind: 'send', bytes: hex('0000000408011801') },
    ]);
    return;
  }
  const status = /^answer (\w+) \(FIN\)$/.exec(action)?.[1];
  expect(status, action).to.be.a('string');
  expect(kinds(out)).to.deep.equal(['send']);
  const [res, ...more] = responses((out[0] as { bytes: Uint8Array }).bytes);
  expect(more).to.deep.equal([]);
  expect(res!.requestId).to.equal(decodeRpcRequest(hex(requestHex)).requestId);
  expect(statusName(res!.status)).to.equal(status);
  expect(res!.flags).to.equal(1);
  expect(res!.payload.length).to.be.within(1, 1024);
}

function expectClientAction(out: RpcClientOutput[], j: { awaiting: string; client_action: string; protobuf: string; request_id: number }): void {
  const res = fromBinary(RpcResponseSchema, hex(j.protobuf));
  switch (j.client_action) {
    case 'reset':
      expect(kinds(out)).to.deep.equal(['failed', 'reset']);
      expect((out[1] as { error: unknown }).error).to.be.instanceOf(RpcProtocolError);
      return;
    case 'pong':
      return void expect(out).to.deep.equal([{ kind: 'pong' }]);
    case 'item':
      expect(kinds(out)).to.deep.equal(['item']);
      expect(toHexString(toBinary(ConnectionInfoSchema, (out[0] as Extract<RpcClientOutput, { kind: 'item' }>).value as never))).to.equal(toHexString(res.payload));
      return;
    case 'end of call': {
      expect(out).to.have.length(1);
      const o = out[0]!;
      if (res.status !== 0) {
        expect(o.kind).to.equal('failed');
        const error = (o as Extract<RpcClientOutput, { kind: 'failed' }>).error as RpcError;
        expect(error).to.be.instanceOf(RpcError);
        expect(error.status).to.equal(res.status > 10 ? RpcStatus.General : res.status);
      } else if (j.awaiting === 'unary') {
        expect(o.kind).to.equal('response');
        expect(toHexString(toBinary(GetInfoResponseSchema, (o as Extract<RpcClientOutput, { kind: 'response' }>).value as never))).to.equal(toHexString(res.payload));
      } else {
        expect(o).to.deep.equal({ kind: 'end', requestId: j.request_id });
      }
      return;
    }
    default:
      throw new Error(`unknown action ${j.client_action}`);
  }
}
