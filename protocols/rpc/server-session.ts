/**
 * The server side of one RPC session (PROTOCOL.md section 8) as a sans-I/O core: substream
 * bytes, handler results and the time go in through {@link RpcServerSession.handle}; what to
 * do comes out as a list of {@link RpcServerOutput}. No I/O, no timers, no clock: the shell
 * runs one timer at {@link RpcServerSession.nextTimeout} and feeds `{ kind: 'timeout' }`.
 */
import type { TcommsError } from '../../core/errors.js';
import { RpcProtocolError, RpcSessionMisuse, RpcTimeout } from './errors.js';
import { RpcFrameDecoder, encodeRpcFrame } from './frame.js';
import { CLOSE_TIMEOUT_MS, IDLE_TIMEOUT_MS, KNOWN_RPC_FLAGS, MAX_RPC_FRAME_BYTES, MIN_DEADLINE_MS, RPC_VERSION, RpcFlag, SERVER_HANDSHAKE_TIMEOUT_MS } from './limits.js';
import { HandshakeRejectReason, decodeRpcRequest, decodeRpcSession, encodeRpcSessionReply, rpcResponseFrame, rpcResponseSize, type RpcRequest } from './messages.js';
import { RpcError, RpcStatus, encodeStatusMessage } from './status.js';
import type { RpcAdmission, RpcServerInput, RpcServerMethod, RpcServerOutput, RpcServerSessionInit, RpcServerState, RpcStopReason } from './server-io.js';

interface ActiveCall {
  readonly call: number;
  readonly requestId: number;
  readonly method: RpcServerMethod;
  readonly deadlineMs: number;
}

const EMPTY = new Uint8Array(0);

/** The sans-I/O server session core. */
export class RpcServerSession {
  readonly #methods: ReadonlyMap<number, RpcServerMethod>;
  readonly #idleMs: number;
  readonly #closeMs: number;
  readonly #decoder = new RpcFrameDecoder();
  #state: RpcServerState = 'handshake';
  #due: number | undefined;
  #waitMs: number;
  #call: ActiveCall | undefined;
  #nextCall = 1;
  /** The request id of the last call, for a cancel that crosses its FIN. */
  #lastRequestId: number | undefined;
  #closeAfterCall = false;

  constructor(init: RpcServerSessionInit) {
    this.#methods = init.methods;
    this.#idleMs = init.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    this.#closeMs = init.closeTimeoutMs ?? CLOSE_TIMEOUT_MS;
    this.#waitMs = init.handshakeTimeoutMs ?? SERVER_HANDSHAKE_TIMEOUT_MS;
    this.#due = init.nowMs + this.#waitMs;
  }

  /** The current state. The session is over once it is `closed`. */
  get state(): RpcServerState {
    return this.#state;
  }
  /** When the shell must feed `{ kind: 'timeout' }` (its clock, ms), or undefined for no timer. */
  nextTimeout(): number | undefined {
    return this.#due;
  }
  /** Bytes held of a frame not yet complete (to budget memory across sessions). */
  get buffered(): number {
    return this.#decoder.buffered;
  }
  /** The `call` number of the call in flight, if any. */
  get activeCall(): number | undefined {
    return this.#call?.call;
  }

  /** Feeds one input at time `nowMs`; returns what to do. Never throws for anything the peer sends. */
  handle(input: RpcServerInput, nowMs: number): RpcServerOutput[] {
    const out: RpcServerOutput[] = [];
    if (this.#state === 'closed') return out;
    try {
      this.#dispatch(input, nowMs, out);
    } catch (err) {
      if (!(err instanceof RpcProtocolError)) throw err;
      this.#reset(err, out);
    }
    return out;
  }

  #dispatch(input: RpcServerInput, now: number, out: RpcServerOutput[]): void {
    switch (input.kind) {
      case 'bytes':
        return this.#receive(input.data, now, out);
      case 'admit':
        return this.#admit(input.decision, now, out);
      case 'item':
      case 'result':
      case 'end':
      case 'fail': {
        const call = this.#call;
        if (call === undefined || call.call !== input.call) return; // a stopped call: ignored
        return this.#handlerEvent(input, call, now, out);
      }
      case 'timeout':
        return this.#timeout(now, out);
      case 'remote-fin':
        return this.#remoteFin(out);
      case 'remote-reset':
        this.#stopCall('abandoned', out);
        return this.#setState('closed', undefined);
      case 'close':
        if (this.#call !== undefined) this.#closeAfterCall = true;
        else if (this.#state !== 'closing') this.#closeLocal(now, out);
        return;
    }
  }

  #receive(data: Uint8Array, now: number, out: RpcServerOutput[]): void {
    if (this.#state === 'closing') return; // after our FIN nothing more is answered
    for (const frame of this.#decoder.decode(data)) {
      this.#frame(frame, now, out);
      if (this.#writeClosed()) return;
    }
  }

  #frame(frame: Uint8Array, now: number, out: RpcServerOutput[]): void {
    switch (this.#state) {
      case 'handshake': {
        const session = decodeRpcSession(frame);
        if (session.supportedVersions.includes(RPC_VERSION)) {
          this.#setState('admitting', undefined);
          out.push({ kind: 'admission' });
          return;
        }
        this.#send(encodeRpcFrame(encodeRpcSessionReply({ rejected: HandshakeRejectReason.UNSUPPORTED_VERSION })), out);
        return this.#closeLocal(now, out);
      }
      case 'admitting':
        throw new RpcProtocolError('unexpected', 'a frame before the handshake reply');
      default:
        return this.#request(decodeRpcRequest(frame), now, out);
    }
  }

  #admit(decision: RpcAdmission, now: number, out: RpcServerOutput[]): void {
    if (this.#state !== 'admitting') return; // closed or reset meanwhile
    if (decision === 'accept') {
      this.#send(encodeRpcFrame(encodeRpcSessionReply({ accepted: RPC_VERSION })), out);
      return this.#setState('idle', now + this.#idleMs, this.#idleMs);
    }
    const reason = decision === 'no-sessions' ? HandshakeRejectReason.NO_SERVER_SESSIONS_AVAILABLE : HandshakeRejectReason.PROTOCOL_NOT_SUPPORTED;
    this.#send(encodeRpcFrame(encodeRpcSessionReply({ rejected: reason })), out);
    this.#closeLocal(now, out);
  }

  /** A request frame in `idle`, `inCall` or `streaming`: the checks of section 8, in order. */
  #request(req: RpcRequest, now: number, out: RpcServerOutput[]): void {
    const { requestId, flags } = req;
    if ((flags & ~KNOWN_RPC_FLAGS) !== 0) throw new RpcProtocolError('flags', `undefined flag bits 0x${flags.toString(16)}`);
    if (flags === (RpcFlag.FIN | RpcFlag.ACK)) throw new RpcProtocolError('flags', 'FIN|ACK in a request');
    if (flags === RpcFlag.ACK) {
      if (requestId !== 0 || req.method !== 0 || req.deadlineMs !== 0n || req.payload.length !== 0) throw new RpcProtocolError('ping', 'a ping with other fields set');
      if (this.#call !== undefined) throw new RpcProtocolError('unexpected', 'a ping during a call');
      this.#send(rpcResponseFrame({ requestId: 0, status: RpcStatus.Ok, flags: RpcFlag.ACK }), out);
      return;
    }
    if (requestId === 0) throw new RpcProtocolError('request-id', 'request_id 0 outside a ping');
    if (flags === RpcFlag.FIN) return this.#cancel(requestId, now, out);
    if (this.#call !== undefined) throw new RpcProtocolError('unexpected', `request ${requestId} while call ${this.#call.requestId} is in flight`);
    this.#lastRequestId = requestId;
    // Checked in this order: the deadline, the method, the payload.
    const deadlineMs = req.deadlineMs > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(req.deadlineMs);
    if (deadlineMs < MIN_DEADLINE_MS) {
      return this.#answer(requestId, RpcStatus.BadRequest, `deadline_ms ${deadlineMs} is below the minimum of ${MIN_DEADLINE_MS}`, now, out);
    }
    const method = req.method === 0 ? undefined : this.#methods.get(req.method);
    if (method === undefined) return this.#answer(requestId, RpcStatus.UnsupportedMethod, `method ${req.method} is not supported`, now, out);
    let request: unknown;
    try {
      request = method.decodeRequest(req.payload);
    } catch (err) {
      const why = err instanceof RpcProtocolError ? err.detail : err instanceof Error ? err.message : String(err);
      return this.#answer(requestId, RpcStatus.BadRequest, `the payload does not decode as the request of ${method.name} (${why})`, now, out);
    }
    const call = this.#nextCall++;
    this.#call = { call, requestId, method, deadlineMs };
    this.#setState('inCall', now + deadlineMs, deadlineMs);
    out.push({ kind: 'start-call', call, requestId, method, request, deadlineMs });
  }

  #cancel(requestId: number, now: number, out: RpcServerOutput[]): void {
    const call = this.#call;
    if (call === undefined) {
      if (requestId === this.#lastRequestId) return; // it crossed the call's FIN: ignored
      throw new RpcProtocolError('cancel', `a cancel of request ${requestId}, which is not the last call`);
    }
    if (requestId !== call.requestId) throw new RpcProtocolError('cancel', `a cancel of request ${requestId} while ${call.requestId} is in flight`);
    this.#stopCall('cancelled', out);
    this.#finish(requestId, RpcStatus.Ok, EMPTY, now, out);
  }

  #handlerEvent(input: Extract<RpcServerInput, { call: number }>, call: ActiveCall, now: number, out: RpcServerOutput[]): void {
    const streaming = call.method.kind === 'server_streaming';
    switch (input.kind) {
      case 'fail': {
        const error = input.error instanceof RpcError ? input.error : new RpcError(RpcStatus.General, 'the handler failed');
        return this.#answer(call.requestId, error.status, error.message, now, out);
      }
      case 'end':
        if (!streaming) throw new RpcSessionMisuse('end (a unary call)', this.#state);
        return this.#finish(call.requestId, RpcStatus.Ok, EMPTY, now, out);
      case 'result':
      case 'item': {
        if (streaming !== (input.kind === 'item')) throw new RpcSessionMisuse(`${input.kind} (a ${call.method.kind} call)`, this.#state);
        let payload: Uint8Array;
        try {
          payload = call.method.encodeResponse(input.value);
        } catch {
          if (streaming) this.#stopCall('malformed-response', out);
          return this.#answer(call.requestId, RpcStatus.MalformedResponse, `the response of ${call.method.name} could not be encoded`, now, out);
        }
        const flags = streaming ? 0 : RpcFlag.FIN;
        if (rpcResponseSize({ requestId: call.requestId, flags, payload }) > MAX_RPC_FRAME_BYTES) {
          if (streaming) this.#stopCall('malformed-response', out);
          return this.#answer(call.requestId, RpcStatus.MalformedResponse, `a response of ${payload.length} bytes does not fit one frame`, now, out);
        }
        this.#send(rpcResponseFrame({ requestId: call.requestId, status: RpcStatus.Ok, flags, payload }), out);
        if (streaming) return this.#setState('streaming', now + call.deadlineMs, call.deadlineMs);
        return this.#endCall(now, out);
      }
    }
  }

  #timeout(now: number, out: RpcServerOutput[]): void {
    if (this.#due === undefined || now < this.#due) return;
    switch (this.#state) {
      case 'idle':
        return this.#closeLocal(now, out);
      case 'inCall':
      case 'streaming': {
        const call = this.#call!;
        this.#stopCall('timeout', out);
        return this.#answer(call.requestId, RpcStatus.Timeout, `no frame was ready within deadline_ms ${call.deadlineMs}`, now, out);
      }
      default:
        return this.#reset(new RpcTimeout(this.#state === 'handshake' ? 'handshake' : 'close', this.#waitMs), out);
    }
  }

  #remoteFin(out: RpcServerOutput[]): void {
    if (this.#state === 'closing') return this.#setState('closed', undefined);
    if (!this.#decoder.atBoundary) throw new RpcProtocolError('truncated', 'the client closed in the middle of a frame');
    // Between calls the client ends the session; during a call it abandons it.
    this.#stopCall('abandoned', out);
    out.push({ kind: 'close' });
    this.#setState('closed', undefined);
  }

  /** Ends the call in flight (or a refused request) with a non-Ok status and a message. */
  #answer(requestId: number, status: RpcStatus, message: string, now: number, out: RpcServerOutput[]): void {
    this.#finish(requestId, status, encodeStatusMessage(message), now, out);
  }

  /** Writes the FIN frame of `requestId`; the session is idle again. */
  #finish(requestId: number, status: RpcStatus, payload: Uint8Array, now: number, out: RpcServerOutput[]): void {
    this.#send(rpcResponseFrame({ requestId, status, flags: RpcFlag.FIN, payload }), out);
    this.#endCall(now, out);
  }

  #endCall(now: number, out: RpcServerOutput[]): void {
    this.#call = undefined;
    this.#setState('idle', now + this.#idleMs, this.#idleMs);
    if (this.#closeAfterCall) this.#closeLocal(now, out);
  }

  #stopCall(reason: RpcStopReason, out: RpcServerOutput[]): void {
    if (this.#call === undefined) return;
    out.push({ kind: 'stop-call', call: this.#call.call, reason });
    this.#call = undefined;
  }

  #closeLocal(now: number, out: RpcServerOutput[]): void {
    out.push({ kind: 'close' });
    this.#setState('closing', now + this.#closeMs, this.#closeMs);
  }

  #reset(error: TcommsError, out: RpcServerOutput[]): void {
    this.#stopCall('abandoned', out);
    if (error instanceof RpcProtocolError && error.report) out.push({ kind: 'report', error });
    out.push({ kind: 'reset', error });
    this.#setState('closed', undefined);
  }

  /** True once this side wrote its FIN or the session is over: no more frames are read. */
  #writeClosed(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }

  #send(bytes: Uint8Array, out: RpcServerOutput[]): void {
    out.push({ kind: 'send', bytes });
  }

  #setState(state: RpcServerState, due: number | undefined, waitMs = 0): void {
    this.#state = state;
    this.#due = due;
    this.#waitMs = waitMs;
  }
}
