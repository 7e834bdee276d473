/**
 * The data path of a client RPC session: the substream, the sans-I/O core and the call in
 * flight. Bytes go from the substream into the core; its outputs are carried out at once
 * (frames written, FIN, RST) and its answers delivered straight to the call's handle; where the
 * core went is reported to the session actor, which holds the timers and the decisions. A unary
 * call that ends takes the next call waiting in the pool's queue here, without a report (the
 * session stays inCall), unless its deadline is earlier than the one the session's timer waits
 * for (`rpc.rearm`).
 *
 * Bounded: the core holds at most one partial frame (4 MiB), charged to the connection's memory
 * budget (reading stops while it is over); a stream call's consumer that falls behind stops the
 * reading too, so the yamux window pushes back on the server.
 *
 * A call failed because the connection went (the substream was destroyed with the muxer's
 * error) fails with that transport error, not with an RPC one.
 */
import { BudgetHold } from '../../core/budget.js';
import { ConfigError, TcommsError, toPlainError, type PlainError } from '../../core/errors.js';
import type { YamuxStream } from '../../channels/yamux/stream.js';
import { StreamReset } from '../../protocols/yamux/errors.js';
import { RpcClientSession, RpcSessionClosed, type RpcClientInput, type RpcClientOutput, type RpcClientState } from '../../protocols/rpc/index.js';
import type { RpcClientCall } from '../rpc-client/call.js';
import type { CallQueue } from '../rpc-client/pools.js';
import type { ClientIoCommand, ClientIoReport } from './rpc-client-session.events.js';
import type { RpcClientSessionStats } from './rpc-client-session.machine.js';

/** What the data path needs. */
export interface ClientLinkInit {
  stream: YamuxStream;
  now: () => number;
  /** The pool's waiting calls (none: each call is given by the session actor). */
  queue?: CallQueue;
  /** Counted into as calls start (default: a counter of its own). */
  stats?: RpcClientSessionStats;
  handshakeTimeoutMs?: number;
  pingTimeoutMs?: number;
  cancelTimeoutMs?: number;
  closeTimeoutMs?: number;
}

/** The data path of one client session (see the module comment). */
export class ClientSessionLink {
  readonly #stream: YamuxStream;
  readonly #core: RpcClientSession;
  readonly #init: ClientLinkInit;
  readonly #sendBack: (report: ClientIoReport) => void;
  readonly #stats: RpcClientSessionStats;
  /** The deadline the session actor's timer waits for, as last told (it may be earlier, never later). */
  #toldDue: number | undefined;
  /** The call just started was taken from the queue here: its deadline is told only when earlier than {@link #toldDue}. */
  #tookNext = false;
  readonly #inputs: RpcClientInput[] = [];
  #handling = false;
  /** The call in flight (or being cancelled). */
  #call: RpcClientCall | undefined;
  /** The encoded size of the last response payload decoded (for the stream consumer's bound). */
  #lastSize = 0;
  #consumerPaused = false;
  #streamError: Error | undefined;
  #endError: TcommsError | undefined;
  #rejectReason: number | undefined;
  #stopped = false;

  /** What the core holds of a partial frame, charged to the connection's memory. */
  readonly #hold: BudgetHold;
  constructor(init: ClientLinkInit, report: (report: ClientIoReport) => void) {
    this.#init = init;
    this.#stream = init.stream;
    this.#hold = new BudgetHold(init.stream.memory, () => this.#updateReading());
    this.#sendBack = report;
    this.#stats = init.stats ?? { calls: 0 };
    this.#core = new RpcClientSession({
      ...(init.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: init.handshakeTimeoutMs }),
      ...(init.pingTimeoutMs === undefined ? {} : { pingTimeoutMs: init.pingTimeoutMs }),
      ...(init.cancelTimeoutMs === undefined ? {} : { cancelTimeoutMs: init.cancelTimeoutMs }),
      ...(init.closeTimeoutMs === undefined ? {} : { closeTimeoutMs: init.closeTimeoutMs }),
    });
  }

  get state(): RpcClientState {
    return this.#core.state;
  }

  /** Starts reading the substream and writes `RpcSession`. */
  start(): void {
    const s = this.#stream;
    s.on('data', this.#onData);
    s.on('end', this.#onEnd);
    s.on('close', this.#onClose);
    s.on('error', this.#onError);
    if (s.destroyed) return this.#onClose();
    this.#feed({ kind: 'start' });
  }

  /** A command of the session actor. */
  command(command: ClientIoCommand): void {
    switch (command.type) {
      case 'io.call':
        this.#startCall(command.call);
        // The session actor set its timer for this call (at most the core's deadline).
        if (this.#core.state === 'inCall') this.#toldDue = this.#core.nextTimeout();
        return;
      case 'io.ping':
        // Not between calls (a call was just given to it): the ping is refused.
        if (this.#core.state !== 'idle') return this.#report({ type: 'rpc.ping-ended', ok: false, dueAt: this.#core.nextTimeout() });
        return this.#feed({ kind: 'ping' });
      case 'io.timeout': {
        const before = this.#core.state;
        this.#feed({ kind: 'timeout' });
        if (this.#core.state === before && before !== 'closed') this.#report({ type: 'rpc.rearm', dueAt: this.#core.nextTimeout() });
        return;
      }
      case 'io.close':
        return this.#feed({ kind: 'close' });
    }
  }

  /** The session actor ended: a call still in flight fails, the budget is given back, a substream still open is reset. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    const s = this.#stream;
    s.off('data', this.#onData);
    s.off('end', this.#onEnd);
    s.off('close', this.#onClose);
    this.#hold.release();
    const call = this.#call;
    this.#call = undefined;
    call?.fail(this.#transportError() ?? new RpcSessionClosed('local'));
    if (!s.destroyed && !(s.writableEnded && s.readableEnded)) s.destroy();
  }

  readonly #onData = (chunk: Uint8Array) => this.#feed({ kind: 'bytes', data: chunk });
  readonly #onEnd = () => this.#feed({ kind: 'remote-fin' });
  readonly #onClose = () => {
    if (this.#core.state !== 'closed') this.#feed({ kind: 'remote-reset' });
  };
  readonly #onError = (err: Error) => {
    this.#streamError ??= err;
  };

  #startCall(call: RpcClientCall): void {
    const core = this.#core;
    if (this.#stopped || core.state !== 'idle' || !call.attach(this.#carrier)) {
      // Settled while it waited (cancelled), or this session cannot take it: nothing was sent.
      if (!call.done && !this.#stopped && core.state !== 'idle') call.fail(new RpcSessionClosed('local'));
      return this.#report({ type: 'rpc.call-ended', dueAt: core.nextTimeout() });
    }
    this.#call = call;
    this.#stats.calls++;
    const m = call.method;
    this.#feed({
      kind: 'call',
      method: m.number,
      methodKind: m.kind,
      payload: call.payload,
      ...(call.deadlineMs === undefined ? {} : { deadlineMs: call.deadlineMs }),
      decodeResponse: (payload) => {
        this.#lastSize = payload.length;
        return m.decodeResponse(payload);
      },
    });
  }

  /** What the call's handle may ask of this session. */
  readonly #carrier = {
    cancel: () => this.#feed({ kind: 'cancel' }),
    pause: () => {
      this.#consumerPaused = true;
      this.#updateReading();
    },
    resume: () => {
      this.#consumerPaused = false;
      this.#updateReading();
    },
  };

  #feed(input: RpcClientInput): void {
    if (this.#stopped) return;
    this.#inputs.push(input);
    if (this.#handling) return;
    this.#handling = true;
    try {
      for (let next = this.#inputs.shift(); next !== undefined; next = this.#inputs.shift()) this.#step(next);
    } finally {
      this.#handling = false;
    }
  }

  #step(input: RpcClientInput): void {
    const core = this.#core;
    const before = core.state;
    const beforeRequest = core.requestId;
    let outputs: RpcClientOutput[];
    try {
      outputs = core.handle(input, this.#init.now());
    } catch (err) {
      // A call that cannot be sent (a request over 4 MiB, a bad deadline): that call fails, the session goes on.
      if (input.kind !== 'call') throw err;
      this.#tookNext = false;
      const call = this.#call;
      this.#call = undefined;
      call?.fail(err instanceof TcommsError ? err : new ConfigError((err as Error)?.message ?? String(err), { cause: err }));
      return this.#report({ type: 'rpc.call-ended', dueAt: core.nextTimeout() });
    }
    for (const o of outputs) this.#execute(o);
    this.#hold.set(this.#core.buffered); // a partial frame is charged; over the budget, stop reading
    this.#reportProgress(before, beforeRequest);
  }

  #execute(o: RpcClientOutput): void {
    const s = this.#stream;
    switch (o.kind) {
      case 'send':
        if (!s.destroyed && !s.writableEnded) s.write(o.bytes);
        return;
      case 'close':
        if (!s.writableEnded && !s.destroyed) s.end();
        return;
      case 'reset':
        this.#endError ??= o.error;
        if (!s.destroyed) s.destroy();
        return;
      case 'report':
        return this.#report({ type: 'rpc.violation', error: o.error.toPlain() });
      case 'rejected':
        this.#rejectReason = o.error.reason;
        this.#endError = o.error;
        return;
      case 'open-failed':
        this.#endError ??= this.#transportError() ?? o.error;
        return;
      case 'item':
        return this.#call?.item(o.value, this.#lastSize);
      case 'response':
        return this.#settle((call) => call.response(o.value));
      case 'end':
        return this.#settle((call) => call.end());
      case 'failed':
        // A ping's failure (request 0) is the session's end, reported with it.
        if (o.requestId === 0) return;
        return this.#settle((call) => call.fail(this.#failure(o.error)));
      case 'pong':
      case 'accepted':
        return;
    }
  }

  #settle(fn: (call: RpcClientCall) => void): void {
    const call = this.#call;
    this.#call = undefined;
    this.#consumerPaused = false;
    this.#updateReading();
    if (call) fn(call);
  }

  /** A session that ended under the call: the transport's own error when the connection went. */
  #failure(error: TcommsError): TcommsError {
    if (error instanceof RpcSessionClosed && error.how === 'reset') return this.#transportError() ?? error;
    return error;
  }

  /** The substream's error when it was not a plain reset by the peer (the connection went). */
  #transportError(): TcommsError | undefined {
    const err = this.#streamError;
    return err instanceof TcommsError && !(err instanceof StreamReset) ? err : undefined;
  }

  /** Tells the session actor (and keeps the deadline it was told). */
  #report(report: ClientIoReport): void {
    if ('dueAt' in report) this.#toldDue = report.dueAt;
    this.#sendBack(report);
  }

  #reportProgress(before: RpcClientState, beforeRequest: number | undefined): void {
    const core = this.#core;
    const after = core.state;
    const dueAt = core.nextTimeout();
    if (this.#tookNext) {
      // The next call, taken here: the session's timer is told only of an earlier deadline.
      this.#tookNext = false;
      if (after === 'inCall') {
        if (dueAt !== undefined && (this.#toldDue === undefined || dueAt < this.#toldDue)) this.#report({ type: 'rpc.rearm', dueAt });
        return;
      }
    }
    if (after === 'closed') {
      if (before !== 'closed') this.#report({ type: 'rpc.closed', error: this.#closeError(), rejectReason: this.#rejectReason });
      return;
    }
    if (after === before && core.requestId === beforeRequest) return;
    switch (after) {
      case 'handshake':
        return this.#report({ type: 'rpc.handshaking', dueAt });
      case 'idle':
        if (before === 'handshake') return this.#report({ type: 'rpc.accepted', dueAt });
        if (before === 'pinging') return this.#report({ type: 'rpc.ping-ended', ok: true, dueAt });
        if (before === 'inCall' && this.#takeNext()) return;
        return this.#report({ type: 'rpc.call-ended', dueAt });
      case 'inCall':
        return; // the session started the call itself
      case 'streaming':
        if (before !== 'streaming') return this.#report({ type: 'rpc.streaming', dueAt });
        return;
      case 'cancelling':
        return this.#report({ type: 'rpc.cancelling', dueAt });
      case 'pinging':
        return this.#report({ type: 'rpc.pinging', dueAt });
      case 'closing':
        if (before === 'handshake' && this.#rejectReason !== undefined) return this.#report({ type: 'rpc.rejected', reason: this.#rejectReason, dueAt });
        return this.#report({ type: 'rpc.closing', dueAt });
      default:
        return;
    }
  }

  /**
   * A unary call ended (the session actor knows this session inCall): the next waiting call is
   * started here, after this step. False when none waits (the session actor is told the call ended).
   */
  #takeNext(): boolean {
    const next = this.#init.queue?.next();
    if (next === undefined) return false;
    this.#tookNext = true;
    this.#startCall(next);
    return true;
  }

  #closeError(): PlainError | undefined {
    const err = this.#endError ?? this.#transportError();
    return err === undefined ? undefined : toPlainError(err);
  }

  #updateReading(): void {
    const s = this.#stream;
    if (s.destroyed || this.#stopped) return;
    if (this.#hold.paused || this.#consumerPaused) s.pause();
    else if (s.isPaused()) s.resume();
  }
}
