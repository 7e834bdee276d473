/**
 * The four messages of section 8. Receivers accept any valid encoding (unpacked repeated
 * `uint32`, fields in any order, unknown fields); senders write the canonical one (ascending
 * field numbers, defaults omitted, repeated `uint32` packed, a oneof member even when 0).
 *
 * `RpcRequest` and `RpcResponse` carry every call, so their frames are written by hand in one
 * allocation (header and protobuf together, the payload copied once); the tests check them
 * against protobuf-es. The handshake messages go through protobuf-es.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  HandshakeRejectReason,
  RpcRequestSchema,
  RpcResponseSchema,
  RpcSessionReplySchema,
  RpcSessionSchema,
  type RpcRequest,
  type RpcResponse,
  type RpcSession,
  type RpcSessionReply,
} from '../../proto/gen/tcomms/rpc/rpc_pb.js';
import { decodeProtobuf } from './decode.js';
import { writeFrameHeader } from './frame.js';
import { RPC_FRAME_HEADER_BYTES } from './limits.js';

export { HandshakeRejectReason, type RpcRequest, type RpcResponse, type RpcSession, type RpcSessionReply };

/** The fields of an `RpcRequest` to write; absent ones are 0 (or empty). */
export interface RpcRequestFields {
  requestId: number;
  method?: number;
  flags?: number;
  /** Relative: ms from the server's receipt of the frame. */
  deadlineMs?: number | bigint;
  payload?: Uint8Array;
}

/** The fields of an `RpcResponse` to write; absent ones are 0 (or empty). */
export interface RpcResponseFields {
  requestId: number;
  status?: number;
  flags?: number;
  payload?: Uint8Array;
}

/** Decodes an `RpcSession`; malformed bytes are an `RpcProtocolError` (`undecodable`). */
export function decodeRpcSession(protobuf: Uint8Array): RpcSession {
  return decodeProtobuf(RpcSessionSchema, protobuf);
}
/** Decodes an `RpcSessionReply` (with both oneof members present, the last one wins). */
export function decodeRpcSessionReply(protobuf: Uint8Array): RpcSessionReply {
  return decodeProtobuf(RpcSessionReplySchema, protobuf);
}
/** Decodes an `RpcRequest`. Its payload is a view of `protobuf`. */
export function decodeRpcRequest(protobuf: Uint8Array): RpcRequest {
  return decodeProtobuf(RpcRequestSchema, protobuf);
}
/** Decodes an `RpcResponse`. Its payload is a view of `protobuf`. */
export function decodeRpcResponse(protobuf: Uint8Array): RpcResponse {
  return decodeProtobuf(RpcResponseSchema, protobuf);
}

/** The canonical `RpcSession` offering `versions`. */
export function encodeRpcSession(versions: readonly number[]): Uint8Array {
  return toBinary(RpcSessionSchema, create(RpcSessionSchema, { supportedVersions: [...versions] }));
}

/** The canonical `RpcSessionReply`: accepting `version`, or rejecting for `reason`. */
export function encodeRpcSessionReply(reply: { accepted: number } | { rejected: HandshakeRejectReason }): Uint8Array {
  const message =
    'accepted' in reply
      ? create(RpcSessionReplySchema, { sessionResult: { case: 'acceptedVersion', value: reply.accepted } })
      : create(RpcSessionReplySchema, { sessionResult: { case: 'rejected', value: true }, rejectReason: reply.rejected });
  return toBinary(RpcSessionReplySchema, message);
}

/** The canonical protobuf of an `RpcRequest`. */
export function encodeRpcRequest(fields: RpcRequestFields): Uint8Array {
  return writeRequest(fields, 0);
}
/** The frame (header included) of an `RpcRequest`. */
export function rpcRequestFrame(fields: RpcRequestFields): Uint8Array {
  return writeRequest(fields, RPC_FRAME_HEADER_BYTES);
}
/** The canonical protobuf of an `RpcResponse`. */
export function encodeRpcResponse(fields: RpcResponseFields): Uint8Array {
  return writeResponse(fields, 0);
}
/** The frame (header included) of an `RpcResponse`. */
export function rpcResponseFrame(fields: RpcResponseFields): Uint8Array {
  return writeResponse(fields, RPC_FRAME_HEADER_BYTES);
}
/** The protobuf size of an `RpcResponse` (to check it fits a frame before writing it). */
export function rpcResponseSize(fields: RpcResponseFields): number {
  return responseSize(fields);
}

// ---- hand-written canonical encoding ----------------------------------------------------

const TAG_1 = 0x08; // field 1, varint
const TAG_2 = 0x10; // field 2, varint
const TAG_3 = 0x18; // field 3, varint
const TAG_4 = 0x20; // field 4, varint
const TAG_10 = 0x52; // field 10, length-delimited

function u32(value: number | undefined, name: string): number {
  const v = value ?? 0;
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${name} must be a uint32, got ${v}`);
  return v;
}

function u64(value: number | bigint | undefined): bigint {
  const v = typeof value === 'bigint' ? value : BigInt(value ?? 0);
  if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`deadline_ms must be a uint64, got ${v}`);
  return v;
}

function sizeU32(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

function sizeU64(v: bigint): number {
  let n = 1;
  while (v > 0x7fn) {
    v >>= 7n;
    n++;
  }
  return n;
}

function putU32(out: Uint8Array, at: number, v: number): number {
  while (v > 0x7f) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

function putU64(out: Uint8Array, at: number, v: bigint): number {
  while (v > 0x7fn) {
    out[at++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[at++] = Number(v);
  return at;
}

function payloadSize(payload: Uint8Array | undefined): number {
  const n = payload?.length ?? 0;
  return n === 0 ? 0 : 1 + sizeU32(n) + n;
}

function putVarintField(out: Uint8Array, at: number, tag: number, v: number): number {
  if (v === 0) return at;
  out[at++] = tag;
  return putU32(out, at, v);
}

function putPayload(out: Uint8Array, at: number, payload: Uint8Array | undefined): number {
  if (payload === undefined || payload.length === 0) return at;
  out[at++] = TAG_10;
  at = putU32(out, at, payload.length);
  out.set(payload, at);
  return at + payload.length;
}

function varintFieldSize(v: number): number {
  return v === 0 ? 0 : 1 + sizeU32(v);
}

function writeRequest(f: RpcRequestFields, header: number): Uint8Array {
  const id = u32(f.requestId, 'request_id');
  const method = u32(f.method, 'method');
  const flags = u32(f.flags, 'flags');
  const deadline = u64(f.deadlineMs);
  const size = varintFieldSize(id) + varintFieldSize(method) + varintFieldSize(flags) + (deadline === 0n ? 0 : 1 + sizeU64(deadline)) + payloadSize(f.payload);
  const out = new Uint8Array(header + size);
  if (header > 0) writeFrameHeader(out, size);
  let at = putVarintField(out, header, TAG_1, id);
  at = putVarintField(out, at, TAG_2, method);
  at = putVarintField(out, at, TAG_3, flags);
  if (deadline !== 0n) {
    out[at++] = TAG_4;
    at = putU64(out, at, deadline);
  }
  putPayload(out, at, f.payload);
  return out;
}

function responseSize(f: RpcResponseFields): number {
  return varintFieldSize(u32(f.requestId, 'request_id')) + varintFieldSize(u32(f.status, 'status')) + varintFieldSize(u32(f.flags, 'flags')) + payloadSize(f.payload);
}

function writeResponse(f: RpcResponseFields, header: number): Uint8Array {
  const size = responseSize(f);
  const out = new Uint8Array(header + size);
  if (header > 0) writeFrameHeader(out, size);
  let at = putVarintField(out, header, TAG_1, f.requestId);
  at = putVarintField(out, at, TAG_2, f.status ?? 0);
  at = putVarintField(out, at, TAG_3, f.flags ?? 0);
  putPayload(out, at, f.payload);
  return out;
}
