/**
 * RPC statuses (PROTOCOL.md section 8) and {@link RpcError}, the error a handler throws to end
 * a call with a non-Ok status and the error a client receives for such an answer.
 */
import { TcommsError, type ErrorKind } from '../../core/errors.js';
import { MAX_STATUS_MESSAGE_BYTES } from './limits.js';

/** The status of a response frame. 0 is Ok; every other value ends the call. */
export const RpcStatus = {
  Ok: 0,
  BadRequest: 1,
  UnsupportedMethod: 2,
  NotImplemented: 3,
  Timeout: 4,
  MalformedResponse: 5,
  General: 6,
  NotFound: 7,
  ProtocolError: 8,
  Forbidden: 9,
  Conflict: 10,
} as const;
/** One of the statuses of {@link RpcStatus}. */
export type RpcStatus = (typeof RpcStatus)[keyof typeof RpcStatus];

const NAMES = Object.fromEntries(Object.entries(RpcStatus).map(([name, code]) => [code, name])) as Record<number, string>;

/** A status as received: an unknown value reads as General. */
export function statusFromWire(status: number): RpcStatus {
  return NAMES[status] === undefined ? RpcStatus.General : (status as RpcStatus);
}

/** The name of a status (`Ok`, `BadRequest`, ...); unknown values are named after General. */
export function statusName(status: number): string {
  return NAMES[statusFromWire(status)]!;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * The UTF-8 bytes of a status message, cut to at most 1,024 bytes on a character boundary
 * (section 8: senders write at most 1,024 bytes).
 */
export function encodeStatusMessage(message: string): Uint8Array {
  const bytes = encoder.encode(message);
  if (bytes.length <= MAX_STATUS_MESSAGE_BYTES) return bytes;
  let end = MAX_STATUS_MESSAGE_BYTES;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // back to the start of a character
  return bytes.subarray(0, end);
}

/** A received status message: any length, invalid UTF-8 replaced (receivers accept both). */
export function decodeStatusMessage(payload: Uint8Array): string {
  return decoder.decode(payload);
}

/**
 * A call ended with a non-Ok status. A handler throws it to answer with that status and
 * message; a client receives it when the server answered so. It is an answer, not a violation:
 * its `kind` is `timeout` for Timeout and `peer` (the peer refused or failed the call) otherwise.
 */
export class RpcError extends TcommsError {
  /** The status (never Ok: an Ok status given here is sent as General). */
  readonly status: RpcStatus;
  readonly kind: ErrorKind;

  constructor(status: RpcStatus, message: string, init: { cause?: unknown } = {}) {
    super(message, init);
    this.status = status === RpcStatus.Ok ? RpcStatus.General : statusFromWire(status);
    this.kind = this.status === RpcStatus.Timeout ? 'timeout' : 'peer';
  }

  /** The name of {@link RpcError.status}. */
  get statusName(): string {
    return statusName(this.status);
  }
}
