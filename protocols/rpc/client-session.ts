/**
 * The client side of one RPC session (PROTOCOL.md section 8) as a sans-I/O core: commands,
 * substream bytes and the time go in through {@link RpcClientSession.handle}; what to do comes
 * out as a list of {@link RpcClientOutput}. No I/O, no timers, no clock: the shell runs one
 * timer at {@link RpcClientSession.nextTimeout} and feeds `{ kind: 'timeout' }`.
 */
import type { TcommsError } from '../../core/errors.js';
import { RpcCallCancelled, RpcProtocolError, RpcRequestTooLarge, RpcSessionClosed, RpcSessionMisuse, RpcSessionRejected, RpcTimeout, type RpcWait } from './errors.js';
import { RpcFrameDecoder, encodeRpcFrame } from './frame.js';
import {
  CANCEL_TIMEOUT_MS,
  CLIENT_DEADLINE_GRACE_MS,
  CLIENT_HANDSHAKE_TIMEOUT_MS,
  CLOSE_TIMEOUT_MS,
  DEFAULT_CLIENT_DEADLINE_MS,
  KNOWN_RPC_FLAGS,
  MAX_RPC_FRAME_BYTES,
  PING_TIMEOUT_MS,
  RPC_FRAME_HEADER_BYTES,
  RPC_VERSION,
  RpcFlag,
} from './limits.js';
import { decodeRpcResponse, decodeRpcSessionReply, encodeRpcSession, rpcRequestFrame, type RpcResponse } from './messages.js';
import { RpcError, RpcStatus, decodeStatusMessage, statusFromWire } from './status.js';
import type { RpcClientCall, RpcClientInput, RpcClientOutput, RpcClientSessionInit, RpcClientState } from './client-io.js';

const MAX_REQUEST_ID = 0xffffffff;
const identity = (payload: Uint8Array): unknown => payload;

interface PendingCall {
  readonly requestId: number;
  readonly streaming: boolean;
  readonly waitMs: number;
  readonly decode: (payload: Uint8Array) => unknown;
}

/** The sans-I/O client session core. */
export class RpcClientSession {
  readonly #versions: readonly number[];
  readonly #waits: Record<Exclude<RpcWait, 'call'>, number>;
  readonly #graceMs: number;
  readonly #decoder = new RpcFrameDecoder();
  #state: RpcClientState = 'new';
  #due: number | undefined;
  #wait: RpcWait = 'handshake';
  #waitMs = 0;
  #nextId: number;
  #call: PendingCall | undefined;

  constructor(init: RpcClientSessionInit = {}) {
    this.#versions = init.versions ?? [RPC_VERSION];
    this.#nextId = init.firstRequestId ?? 1;
    if (!Number.isInteger(this.#nextId) || this.#nextId < 1 || this.#nextId > MAX_REQUEST_ID) throw new RangeError(`firstRequestId must be 1..2^32-1, got ${this.#nextId}`);
    this.#graceMs = init.deadlineGraceMs ?? CLIENT_DEADLINE_GRACE_MS;
    this.#waits = {
      handshake: init.handshakeTimeoutMs ?? CLIENT_HANDSHAKE_TIMEOUT_MS,
      ping: init.pingTimeoutMs ?? PING_TIMEOUT_MS,
      cancel: init.cancelTimeoutMs ?? CANCEL_TIMEOUT_MS,
      close: init.closeTimeoutMs ?? CLOSE_TIMEOUT_MS,
    };
  }

  /** The current state. The session is over once it is `closed`. */
  get state(): RpcClientState {
    return this.#state;
  }
  /** When the shell must feed `{ kind: 'timeout' }` (its clock, ms), or undefined for no timer. */
  nextTimeout(): number | undefined {
    return this.#due;
  }
  /** Bytes held of a frame not yet complete. */
  get buffered(): number {
    return this.#decoder.buffered;
  }
  /** The id of the call in flight (or being cancelled), if any. */
  get requestId(): number | undefined {
    return this.#call?.requestId;
  }
  /** The id the next call will use (1, 2, ..., 2^32-1, 1, ...). */
  get nextRequestId(): number {
    return this.#nextId;
  }

  /**
   * Feeds one input at time `nowMs`; returns what to do. Never throws for anything the peer
   * sends; a command the state does not allow throws {@link RpcSessionMisuse}.
   */
  handle(input: RpcClientInput, nowMs: number): RpcClientOutput[] {
    const out: RpcClientOutput[] = [];
    try {
      this.#dispatch(input, nowMs, out);
    } catch (err) {
      if (!(err instanceof RpcProtocolError)) throw err;
      this.#reset(err, out);
    }
    return out;
  }

  #dispatch(input: RpcClientInput, now: number, out: RpcClientOutput[]): void {
    const state = this.#state;
    switch (input.kind) {
      case 'start':
        if (state !== 'new') throw new RpcSessionMisuse('start', state);
        out.push({ kind: 'send', bytes: encodeRpcFrame(encodeRpcSession(this.#versions)) });
        return this.#setState('handshake', now, 'handshake', this.#waits.handshake);
      case 'call':
        if (state !== 'idle') throw new RpcSessionMisuse('call', state);
        return this.#startCall(input, now, out);
      case 'ping':
        if (state !== 'idle') throw new RpcSessionMisuse('ping', state);
        out.push({ kind: 'send', bytes: rpcRequestFrame({ requestId: 0, flags: RpcFlag.ACK }) });
        return this.#setState('pinging', now, 'ping', this.#waits.ping);
      case 'cancel': {
        if (state !== 'inCall' && state !== 'streaming') return;
        const requestId = this.#call!.requestId;
        out.push({ kind: 'send', bytes: rpcRequestFrame({ requestId, flags: RpcFlag.FIN }) });
        out.push({ kind: 'failed', requestId, error: new RpcCallCancelled(requestId) });
        return this.#setState('cancelling', now, 'cancel', this.#waits.cancel);
      }
      case 'close':
        if (state === 'closing' || state === 'closed') return;
        this.#failPending(new RpcSessionClosed('local'), out);
        out.push({ kind: 'close' });
        return this.#setState('closing', now, 'close', this.#waits.close);
      case 'bytes':
        return this.#receive(input.data, now, out);
      case 'remote-fin':
        return this.#remoteFin(out);
      case 'remote-reset':
        if (state === 'closed') return;
        this.#failPending(new RpcSessionClosed('reset'), out);
        return this.#setState('closed');
      case 'timeout':
        if (this.#due === undefined || now < this.#due) return;
        return this.#reset(new RpcTimeout(this.#wait, this.#waitMs), out);
    }
  }

  #startCall(call: RpcClientCall, now: number, out: RpcClientOutput[]): void {
    const deadlineMs = call.deadlineMs ?? DEFAULT_CLIENT_DEADLINE_MS;
    if (!Number.isSafeInteger(deadlineMs) || deadlineMs < 0) throw new RangeError(`deadlineMs must be a non-negative integer, got ${deadlineMs}`);
    const requestId = this.#nextId;
    const bytes = rpcRequestFrame({ requestId, method: call.method, deadlineMs, payload: call.payload });
    if (bytes.length - RPC_FRAME_HEADER_BYTES > MAX_RPC_FRAME_BYTES) throw new RpcRequestTooLarge(bytes.length - RPC_FRAME_HEADER_BYTES);
    this.#nextId = requestId === MAX_REQUEST_ID ? 1 : requestId + 1;
    const waitMs = deadlineMs + this.#graceMs;
    this.#call = { requestId, streaming: call.methodKind === 'server_streaming', waitMs, decode: call.decodeResponse ?? identity };
    out.push({ kind: 'send', bytes });
    this.#setState('inCall', now, 'call', waitMs);
  }

  #receive(data: Uint8Array, now: number, out: RpcClientOutput[]): void {
    if (this.#state === 'closing' || this.#state === 'closed') return; // nothing more is read after our FIN
    for (const frame of this.#decoder.decode(data)) {
      this.#frame(frame, now, out);
      if (this.#readClosed()) return;
    }
  }

  #frame(frame: Uint8Array, now: number, out: RpcClientOutput[]): void {
    switch (this.#state) {
      case 'handshake':
        return this.#reply(frame, now, out);
      case 'inCall':
      case 'streaming':
        return this.#response(this.#checked(decodeRpcResponse(frame)), now, out);
      case 'cancelling': {
        const res = this.#checked(decodeRpcResponse(frame));
        if ((res.flags & RpcFlag.FIN) !== 0) this.#idle(); // the call's FIN, whatever its status
        return;
      }
      case 'pinging': {
        const res = decodeRpcResponse(frame);
        if (res.requestId !== 0 || res.status !== RpcStatus.Ok || res.flags !== RpcFlag.ACK || res.payload.length !== 0) {
          throw new RpcProtocolError('ping', `a ping answered with request_id ${res.requestId}, status ${res.status}, flags 0x${res.flags.toString(16)}`);
        }
        out.push({ kind: 'pong' });
        return this.#idle();
      }
      default:
        throw new RpcProtocolError('unexpected', `a frame in state ${this.#state}`);
    }
  }

  #reply(frame: Uint8Array, now: number, out: RpcClientOutput[]): void {
    const reply = decodeRpcSessionReply(frame);
    const result = reply.sessionResult;
    if (result.case === 'acceptedVersion' && this.#versions.includes(result.value)) {
      out.push({ kind: 'accepted', version: result.value });
      return this.#idle();
    }
    if (result.case === 'rejected' && result.value) {
      out.push({ kind: 'rejected', error: new RpcSessionRejected(reply.rejectReason) });
      out.push({ kind: 'close' });
      return this.#setState('closing', now, 'close', this.#waits.close);
    }
    throw new RpcProtocolError('handshake', result.case === undefined ? 'a reply that neither accepts nor rejects' : `a reply with ${result.case} = ${String(result.value)}`);
  }

  /** The checks shared by every frame of a call: flag bits, ACK, the request id. */
  #checked(res: RpcResponse): RpcResponse {
    if ((res.flags & ~KNOWN_RPC_FLAGS) !== 0) throw new RpcProtocolError('flags', `undefined flag bits 0x${res.flags.toString(16)}`);
    if ((res.flags & RpcFlag.ACK) !== 0) throw new RpcProtocolError('flags', 'ACK during a call');
    const expected = this.#call!.requestId;
    if (res.requestId !== expected) throw new RpcProtocolError('request-id', `a response for request ${res.requestId} while ${expected} is in flight`);
    return res;
  }

  #response(res: RpcResponse, now: number, out: RpcClientOutput[]): void {
    const call = this.#call!;
    const fin = (res.flags & RpcFlag.FIN) !== 0;
    if (res.status !== RpcStatus.Ok) {
      if (!fin) throw new RpcProtocolError('response', `status ${res.status} without FIN`);
      out.push({ kind: 'failed', requestId: call.requestId, error: new RpcError(statusFromWire(res.status), decodeStatusMessage(res.payload)) });
      return this.#idle();
    }
    if (!call.streaming) {
      if (!fin) throw new RpcProtocolError('response', 'a unary frame without FIN');
      out.push({ kind: 'response', requestId: call.requestId, value: this.#decode(call, res.payload) });
      return this.#idle();
    }
    if (fin) {
      if (res.payload.length !== 0) throw new RpcProtocolError('response', "a payload in a stream's Ok FIN frame");
      out.push({ kind: 'end', requestId: call.requestId });
      return this.#idle();
    }
    out.push({ kind: 'item', requestId: call.requestId, value: this.#decode(call, res.payload) });
    this.#setState('streaming', now, 'call', call.waitMs);
  }

  #decode(call: PendingCall, payload: Uint8Array): unknown {
    try {
      return call.decode(payload);
    } catch (cause) {
      if (cause instanceof RpcProtocolError) throw cause;
      throw new RpcProtocolError('undecodable', `a response payload does not decode: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    }
  }

  #remoteFin(out: RpcClientOutput[]): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'closing') return this.#setState('closed');
    if (!this.#decoder.atBoundary) throw new RpcProtocolError('truncated', 'the server closed in the middle of a frame');
    // Between calls the server ends the session (idle); the client answers with FIN.
    this.#failPending(new RpcSessionClosed('closed'), out);
    out.push({ kind: 'close' });
    this.#setState('closed');
  }

  /** Tells the caller that what it waits for (open, call, ping) will not come. */
  #failPending(error: TcommsError, out: RpcClientOutput[]): void {
    switch (this.#state) {
      case 'new':
      case 'handshake':
        out.push({ kind: 'open-failed', error });
        break;
      case 'inCall':
      case 'streaming':
        out.push({ kind: 'failed', requestId: this.#call!.requestId, error });
        break;
      case 'pinging':
        out.push({ kind: 'failed', requestId: 0, error });
        break;
      default: // idle, cancelling (already failed), closing, closed: nothing is awaited
    }
    this.#call = undefined;
  }

  #reset(error: TcommsError, out: RpcClientOutput[]): void {
    if (this.#state === 'closed') return;
    this.#failPending(error, out);
    if (error instanceof RpcProtocolError && error.report) out.push({ kind: 'report', error });
    out.push({ kind: 'reset', error });
    this.#setState('closed');
  }

  #idle(): void {
    this.#call = undefined;
    this.#setState('idle');
  }

  /** True once reading stopped (our FIN, or the end of the session). */
  #readClosed(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }

  /** Enters `state`; with `now`, arms the wait `wait` of `waitMs`, otherwise no timer. */
  #setState(state: RpcClientState, now?: number, wait?: RpcWait, waitMs = 0): void {
    this.#state = state;
    this.#due = now === undefined ? undefined : now + waitMs;
    if (wait !== undefined) this.#wait = wait;
    this.#waitMs = waitMs;
  }
}
