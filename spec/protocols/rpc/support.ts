/** Shared pieces of the RPC specs: the vectors, NodeInfo with the vectors' answers, and small drivers of the cores. */
import { fromBinary } from '@bufbuild/protobuf';
import { ConnectionInfoSchema, GetInfoResponseSchema, NodeInfo, type ConnectionInfo, type ListConnectionsRequest } from '../../../proto/gen/tcomms/info/v1/info_pb.js';
import {
  RpcClientSession,
  RpcFrameDecoder,
  RpcServerSession,
  decodeRpcResponse,
  defineRpcService,
  encodeRpcFrame,
  encodeRpcSession,
  type RpcClientOutput,
  type RpcResponse,
  type RpcServerOutput,
} from '../../../protocols/rpc/index.js';
import { hex, loadVectors } from '../../support/vectors.js';

/** A frame entry of the vector file. */
export interface FrameEntry {
  name: string;
  message: string;
  fields: Record<string, unknown>;
  protobuf: string;
  frame: string;
}
export interface HandshakeJudgement {
  what: string;
  offered: number[];
  frame: string;
  protobuf: string;
  client_action: string;
}
export interface ServerJudgement {
  what: string;
  session_state: 'idle' | 'in_call';
  frame: string;
  protobuf: string;
  server_action: string;
}
export interface ClientJudgement {
  what: string;
  awaiting: 'unary' | 'stream' | 'ping';
  request_id: number;
  frame: string;
  protobuf: string;
  client_action: string;
}
export interface NodeInfoEntry {
  message: string;
  protobuf: string;
  fields?: Record<string, unknown>;
  json?: string;
}
export interface TranscriptStep {
  from: 'client' | 'server';
  what: string;
  frame?: string;
  bytes?: string;
}
export interface RpcVectors {
  max_protobuf_bytes: number;
  handshake: FrameEntry[];
  requests: Array<FrameEntry & { kind: 'call' | 'cancel' | 'ping' }>;
  responses: FrameEntry[];
  handshake_judgements: HandshakeJudgement[];
  server_judgements: ServerJudgement[];
  client_judgements: ClientJudgement[];
  node_info: NodeInfoEntry[];
  transcript: { client_bytes: string; server_bytes: string; client_public_key: string; server_public_key: string; steps: TranscriptStep[] };
}

export const vectors = loadVectors<RpcVectors>('tcomms-rpc.json');

/** NodeInfo (`/tcomms/info/1`) as the cores see it. */
export const nodeInfo = defineRpcService(NodeInfo);

/** The transcript's fixed answers (`node_info`). */
export const INFO = fromBinary(GetInfoResponseSchema, hex(vectors.node_info.find((e) => e.message === 'GetInfoResponse')!.protobuf));
export const CONNECTIONS: ConnectionInfo[] = vectors.node_info.filter((e) => e.message === 'ConnectionInfo').map((e) => fromBinary(ConnectionInfoSchema, hex(e.protobuf)));

/** The frame `RpcSession{supported_versions: [1]}`. */
export const SESSION_FRAME = encodeRpcFrame(encodeRpcSession([1]));

/** Every byte of the `send` outputs, in order. */
export function sentBytes(outputs: ReadonlyArray<RpcServerOutput | RpcClientOutput>): Uint8Array {
  return Buffer.concat(outputs.flatMap((o) => (o.kind === 'send' ? [o.bytes] : [])));
}

/** The response frames in `bytes` (whole frames only). */
export function responses(bytes: Uint8Array): RpcResponse[] {
  return [...new RpcFrameDecoder().decode(bytes)].map(decodeRpcResponse);
}

/**
 * Feeds `input` to a server core and plays the shell: every `start-call` of NodeInfo is run at
 * once with the vectors' answers (GetInfo: INFO; ListConnections: the first `limit` of
 * CONNECTIONS, all for 0). Returns every output, the handlers' included.
 */
export function driveServer(session: RpcServerSession, input: Parameters<RpcServerSession['handle']>[0], nowMs = 0): RpcServerOutput[] {
  const out = session.handle(input, nowMs);
  const all: RpcServerOutput[] = [];
  for (const o of out) {
    all.push(o);
    if (o.kind !== 'start-call') continue;
    if (o.method.number === 1) {
      all.push(...session.handle({ kind: 'result', call: o.call, value: INFO }, nowMs));
    } else {
      const limit = (o.request as ListConnectionsRequest).limit;
      for (const c of CONNECTIONS.slice(0, limit === 0 ? undefined : limit)) all.push(...session.handle({ kind: 'item', call: o.call, value: c }, nowMs));
      all.push(...session.handle({ kind: 'end', call: o.call }, nowMs));
    }
  }
  return all;
}

/** A server core past its handshake (accepted), at time `nowMs`. */
export function openServer(nowMs = 0): RpcServerSession {
  const session = new RpcServerSession({ methods: nodeInfo.methods, nowMs });
  const out = session.handle({ kind: 'bytes', data: SESSION_FRAME }, nowMs);
  if (out.length !== 1 || out[0]!.kind !== 'admission') throw new Error('expected an admission');
  session.handle({ kind: 'admit', decision: 'accept' }, nowMs);
  return session;
}

/** A client core past its handshake (accepted), at time `nowMs`. */
export function openClient(nowMs = 0, firstRequestId = 1): RpcClientSession {
  const session = new RpcClientSession({ firstRequestId });
  session.handle({ kind: 'start' }, nowMs);
  const out = session.handle({ kind: 'bytes', data: hex('000000020801') }, nowMs);
  if (out[0]?.kind !== 'accepted') throw new Error('expected accepted');
  return session;
}

/** The kinds of `outputs`, for compact assertions. */
export function kinds(outputs: ReadonlyArray<{ kind: string }>): string[] {
  return outputs.map((o) => o.kind);
}
