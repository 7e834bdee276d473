/**
 * One client call (PROTOCOL.md section 8) as a handle: the encoded request, and where its
 * answer goes. The handle is the data path of a call: the pool queues it, a client session's
 * data path sends it and delivers the answer straight to it (a promise for a unary call, the
 * items of an async iterable for a stream call); mailboxes carry the handle, never the answer.
 * A call settles exactly once.
 */
import { AbortedError, RequestFailed, type TcommsError } from '../../core/errors.js';
import { RpcCallCancelled, type RpcMethodDefinition } from '../../protocols/rpc/index.js';

/** What the data path of the session carrying a call offers it. */
export interface CallCarrier {
  /** Cancels the call in flight (a FIN request). */
  cancel(): void;
  /** Stops reading the substream (the consumer of a stream is behind). */
  pause(): void;
  resume(): void;
}

/** Where a call's answer goes. */
export interface RpcCallSink {
  item(value: unknown, size: number): void;
  response(value: unknown): void;
  end(): void;
  fail(error: TcommsError): void;
}

/** What a call is made of. */
export interface RpcCallInit {
  method: RpcMethodDefinition;
  /** The encoded request message. */
  payload: Uint8Array;
  /** `deadline_ms` (default 120,000). */
  deadlineMs: number | undefined;
}

/** A call on its way (see the module comment). */
export class RpcClientCall {
  readonly method: RpcMethodDefinition;
  readonly payload: Uint8Array;
  readonly deadlineMs: number | undefined;
  readonly #sink: RpcCallSink;
  #carrier: CallCarrier | undefined;
  #done = false;

  constructor(init: RpcCallInit, sink: RpcCallSink) {
    this.method = init.method;
    this.payload = init.payload;
    this.deadlineMs = init.deadlineMs;
    this.#sink = sink;
  }

  /** True once the call settled (answered, failed or cancelled). */
  get done(): boolean {
    return this.#done;
  }

  /** True once a session's data path took the call (it settles it from then on). */
  get carried(): boolean {
    return this.#carrier !== undefined;
  }

  /**
   * A session's data path takes the call; false when it settled already (cancelled while queued),
   * or another session's carries it (a call is sent once).
   */
  attach(carrier: CallCarrier): boolean {
    if (this.#done || this.#carrier !== undefined) return false;
    this.#carrier = carrier;
    return true;
  }

  /** Cancels the call: a queued one settles at once, one in flight is cancelled on its session. */
  cancel(): void {
    if (this.#done) return;
    if (this.#carrier) return this.#carrier.cancel();
    this.fail(new RpcCallCancelled(0));
  }

  /** The consumer of a stream is behind: the session stops reading (the yamux window pushes back). */
  pause(): void {
    if (!this.#done) this.#carrier?.pause();
  }

  resume(): void {
    if (!this.#done) this.#carrier?.resume();
  }

  /** A stream item (`size`: its encoded bytes). */
  item(value: unknown, size: number): void {
    if (!this.#done) this.#sink.item(value, size);
  }

  response(value: unknown): void {
    if (this.#settle()) this.#sink.response(value);
  }

  end(): void {
    if (this.#settle()) this.#sink.end();
  }

  fail(error: TcommsError): void {
    if (this.#settle()) this.#sink.fail(error);
  }

  #settle(): boolean {
    if (this.#done) return false;
    this.#done = true;
    this.#carrier = undefined;
    return true;
  }
}

/** The call was not made: the node's RPC client is not running. */
export class RpcClientStopped extends AbortedError {}

/** The call's session could not be opened (the dial or the negotiation failed): `error` says why, as the transport reported it. */
export class RpcOpenFailed extends RequestFailed {}
