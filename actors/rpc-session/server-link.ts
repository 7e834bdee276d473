/**
 * The data path of a server RPC session: the substream, the sans-I/O core and the handlers.
 * Bytes go from the substream into the core, the core's outputs are carried out at once (frames
 * written, handlers started and stopped, FIN, RST), and where the core went is reported to the
 * session actor, which holds the timers and the decisions. The calls of a turn are reported once
 * it is over, as their net change (see {@link ServerSessionLink}'s `#flushCalls`): a unary call
 * answered in the turn it arrived in costs the session actor nothing.
 *
 * Bounded: the core holds at most one partial frame (4 MiB), charged to the connection's memory
 * budget; while that budget is over, or while the substream does not take what is written (the
 * client does not read), the substream is not read. A stream handler is pulled for its next item
 * only once what was written drained.
 */
import { BudgetHold } from '../../core/budget.js';
import { TcommsError, toPlainError } from '../../core/errors.js';
import type { PlainError } from '../../core/errors.js';
import type { YamuxStream } from '../../channels/yamux/stream.js';
import {
  RpcCallCancelled,
  RpcError,
  RpcServerSession,
  RpcSessionClosed,
  RpcStatus,
  type RpcCallContext,
  type RpcPeer,
  type RpcServerInput,
  type RpcServerOutput,
  type RpcServerState,
  type RpcStopReason,
} from '../../protocols/rpc/index.js';
import type { ServedRpcService } from '../rpc-server/services.js';
import type { SessionIoCommand, SessionIoReport } from './rpc-session.events.js';
import type { RpcSessionStats } from './rpc-session.machine.js';

/** What the data path needs. */
export interface ServerLinkInit {
  stream: YamuxStream;
  peer: RpcPeer;
  /** The service behind the protocol id (undefined: none; the session is refused). */
  service: ServedRpcService | undefined;
  now: () => number;
  handshakeTimeoutMs?: number;
  idleTimeoutMs?: number;
  closeTimeoutMs?: number;
  /** Counted into as calls start (default: a counter of its own). */
  stats?: RpcSessionStats;
}

interface ActiveCall {
  readonly call: number;
  readonly requestId: number;
  readonly method: string;
  readonly context: CallContext;
}

/**
 * What a handler learns of its call. The signal is made only when the handler reads it (an
 * AbortController per call was 2% of a unary benchmark's CPU).
 */
class CallContext implements RpcCallContext {
  #controller: AbortController | undefined;
  #reason: Error | undefined;

  constructor(
    readonly peer: RpcPeer,
    readonly deadline: number,
  ) {}

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#reason) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get stopped(): boolean {
    return this.#reason !== undefined;
  }

  stop(reason: Error): void {
    if (this.#reason) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

const EMPTY_METHODS = new Map();

/** The data path of one server session (see the module comment). */
export class ServerSessionLink {
  readonly #stream: YamuxStream;
  readonly #core: RpcServerSession;
  readonly #init: ServerLinkInit;
  readonly #report: (report: SessionIoReport) => void;
  /** Inputs waiting while one is being handled (handle is never re-entered). */
  readonly #inputs: RpcServerInput[] = [];
  #handling = false;
  #active: ActiveCall | undefined;
  /** The substream did not take the last write: reading stops until it drains. */
  #writeBlocked = false;
  #drainWaiters: Array<() => void> = [];
  /** Why the substream ended, when it ended with an error. */
  #streamError: Error | undefined;
  /** Why the core reset the substream, if it did. */
  #resetError: TcommsError | undefined;
  #stopped = false;
  readonly #stats: RpcSessionStats;
  /** The call the session actor was last told of as in flight (its `call` number), and whether as streaming. */
  #toldCall: number | undefined;
  #toldStreaming = false;
  /** A report of the turn's calls is due at the end of the turn. */
  #flushScheduled = false;

  /** What the core holds of a partial frame, charged to the connection's memory. */
  readonly #hold: BudgetHold;
  constructor(init: ServerLinkInit, report: (report: SessionIoReport) => void) {
    this.#init = init;
    this.#stats = init.stats ?? { calls: 0 };
    this.#stream = init.stream;
    this.#hold = new BudgetHold(init.stream.memory, () => this.#updateReading());
    this.#report = report;
    this.#core = new RpcServerSession({
      methods: init.service?.definition.methods ?? EMPTY_METHODS,
      nowMs: init.now(),
      ...(init.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: init.handshakeTimeoutMs }),
      ...(init.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: init.idleTimeoutMs }),
      ...(init.closeTimeoutMs === undefined ? {} : { closeTimeoutMs: init.closeTimeoutMs }),
    });
  }

  /** The core's state (for tests and inspection). */
  get state(): RpcServerState {
    return this.#core.state;
  }

  /** Starts reading the substream. */
  start(): void {
    const s = this.#stream;
    s.on('data', this.#onData);
    s.on('end', this.#onEnd);
    s.on('close', this.#onClose);
    s.on('error', this.#onError);
    s.on('drain', this.#onDrain);
    if (s.destroyed) this.#onClose();
  }

  /** A command of the session actor. */
  command(command: SessionIoCommand): void {
    switch (command.type) {
      case 'io.admit':
        return this.#feed({ kind: 'admit', decision: command.decision });
      case 'io.timeout': {
        const before = this.#core.state;
        this.#feed({ kind: 'timeout' });
        // Not due yet (a stream item, a refused request or calls answered within their turn moved
        // the deadline): what the turn's calls did is told first, then the timer waits again.
        if (this.#core.state === before && before !== 'closed') {
          this.#flushCalls();
          this.#report({ type: 'rpc.rearm', dueAt: this.#core.nextTimeout() });
        }
        return;
      }
      case 'io.close':
        return this.#feed({ kind: 'close' });
    }
  }

  /** The session actor ended: the handler stops, the budget is given back, a substream still open is reset. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopHandler(new RpcSessionClosed('local'));
    const s = this.#stream;
    s.off('data', this.#onData);
    s.off('end', this.#onEnd);
    s.off('close', this.#onClose);
    s.off('drain', this.#onDrain);
    // Errors of a stream being torn down are expected; keep one listener so none is unhandled.
    this.#hold.release();
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
  readonly #onDrain = () => {
    this.#writeBlocked = false;
    this.#updateReading();
    for (const wake of this.#drainWaiters.splice(0)) wake();
  };

  /** Feeds one input; inputs that arrive meanwhile (from the outputs' effects) wait their turn. */
  #feed(input: RpcServerInput): void {
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

  #step(input: RpcServerInput): void {
    const core = this.#core;
    const before = core.state;
    const beforeCall = core.activeCall;
    let outputs: RpcServerOutput[];
    try {
      outputs = core.handle(input, this.#init.now());
    } catch (err) {
      // A handler event of the wrong kind (an item from a unary handler): the handler's bug.
      // The call ends with General; the session goes on.
      if (input.kind === 'item' || input.kind === 'result' || input.kind === 'end') {
        outputs = core.handle({ kind: 'fail', call: input.call, error: err }, this.#init.now());
      } else throw err;
    }
    for (const o of outputs) this.#execute(o);
    this.#hold.set(this.#core.buffered); // a partial frame is charged; over the budget, stop reading
    this.#reportProgress(before, beforeCall);
  }

  #execute(o: RpcServerOutput): void {
    const s = this.#stream;
    switch (o.kind) {
      case 'send':
        if (s.destroyed || s.writableEnded) return;
        if (!s.write(o.bytes)) {
          this.#writeBlocked = true;
          this.#updateReading();
        }
        return;
      case 'start-call':
        return this.#startHandler(o);
      case 'stop-call':
        return this.#stopHandler(stopReason(o.reason, this.#active?.requestId ?? 0));
      case 'close':
        if (!s.writableEnded && !s.destroyed) s.end();
        return;
      case 'reset':
        this.#resetError = o.error;
        if (!s.destroyed) s.destroy();
        return;
      case 'report':
        return this.#report({ type: 'rpc.violation', error: o.error.toPlain() });
      case 'admission':
        return; // reported with the state
    }
  }

  /**
   * Reports where the core went. Admission, acceptance, closing and the end are told at once
   * (after what the turn's calls did); the calls are told at the end of the turn.
   */
  #reportProgress(before: RpcServerState, beforeCall: number | undefined): void {
    const core = this.#core;
    const after = core.state;
    const call = core.activeCall;
    if (call !== undefined && call !== beforeCall) this.#stats.calls++;
    if (after === before && call === beforeCall && after !== 'streaming') return;
    if (after === 'closed') {
      if (before !== 'closed') {
        this.#flushCalls();
        this.#report({ type: 'rpc.closed', error: this.#closeError() });
      }
      return;
    }
    const dueAt = core.nextTimeout();
    if (before === 'admitting' && after !== 'admitting' && after !== 'closing') this.#report({ type: 'rpc.accepted', dueAt });
    if (after === 'admitting' && before !== 'admitting') this.#report({ type: 'rpc.admission' });
    if (after === 'closing' && before !== 'closing') {
      this.#flushCalls();
      this.#report({ type: 'rpc.closing', dueAt });
      return;
    }
    if (call !== this.#toldCall || (after === 'streaming' && !this.#toldStreaming)) this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(this.#onTurnEnd);
  }

  readonly #onTurnEnd = (): void => {
    this.#flushScheduled = false;
    if (!this.#stopped && this.#core.state !== 'closed') this.#flushCalls();
  };

  /**
   * Tells the session actor the net change of the calls since it was last told: the call it knew
   * of ended, a call is in flight (and streaming). A call that started and ended since is not
   * told: it moved only the idle deadline, later, and the actor's timer (never later than the
   * core's deadline) finds that when it fires.
   */
  #flushCalls(): void {
    const core = this.#core;
    const call = core.activeCall;
    const dueAt = core.nextTimeout();
    if (this.#toldCall !== undefined && this.#toldCall !== call) {
      this.#toldCall = undefined;
      this.#toldStreaming = false;
      this.#report({ type: 'rpc.call-ended', dueAt });
    }
    if (call !== undefined && call !== this.#toldCall) {
      const active = this.#active?.call === call ? this.#active : undefined;
      this.#toldCall = call;
      this.#toldStreaming = false;
      this.#report({ type: 'rpc.call-started', requestId: active?.requestId ?? 0, method: active?.method ?? '', dueAt });
    }
    if (call !== undefined && core.state === 'streaming' && !this.#toldStreaming) {
      this.#toldStreaming = true;
      this.#report({ type: 'rpc.streaming', dueAt });
    }
  }

  /** Why the session ended, if it ended badly (for the session's record). */
  #closeError(): PlainError | undefined {
    const err = this.#resetError ?? this.#streamError;
    return err === undefined ? undefined : toPlainError(err);
  }

  // ---- handlers ----------------------------------------------------------------------------

  #startHandler(o: Extract<RpcServerOutput, { kind: 'start-call' }>): void {
    const handler = this.#init.service?.handlers.get(o.method.number);
    const context = new CallContext(this.#init.peer, o.deadlineMs);
    const active: ActiveCall = { call: o.call, requestId: o.requestId, method: o.method.name, context };
    this.#active = active;
    const call = o.call;
    if (handler === undefined) {
      // The method table and the handlers come from one definition: not reached.
      return void Promise.resolve().then(() => this.#feed({ kind: 'fail', call, error: new RpcError(RpcStatus.NotImplemented, `${o.method.name} is not implemented`) }));
    }
    if (o.method.kind === 'unary') {
      // Always answered from a later microtask: the core is never fed from inside its own outputs.
      void Promise.resolve()
        .then(() => handler(o.request, context))
        .then(
          (value) => this.#feed({ kind: 'result', call, value }),
          (error: unknown) => this.#feed({ kind: 'fail', call, error }),
        );
      return;
    }
    void this.#pump(active, () => handler(o.request, context));
  }

  /** Pulls a stream handler's items one at a time, each after what was written drained. */
  async #pump(active: ActiveCall, start: () => unknown): Promise<void> {
    const { call } = active;
    const live = () => this.#active === active && !active.context.stopped;
    let iterator: AsyncIterator<unknown> | undefined;
    try {
      await undefined; // never run the handler inside the core's outputs
      const iterable = start() as AsyncIterable<unknown>;
      iterator = iterable[Symbol.asyncIterator]();
      for (;;) {
        if (!live()) break;
        const r = await iterator.next();
        if (!live()) break;
        if (r.done === true) return this.#feed({ kind: 'end', call });
        this.#feed({ kind: 'item', call, value: r.value });
        if (this.#writeBlocked && live()) await new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
      }
    } catch (error) {
      if (live()) this.#feed({ kind: 'fail', call, error });
      return;
    }
    // Stopped (cancel, timeout, end of the session): let the handler's `finally` blocks run.
    void Promise.resolve(iterator?.return?.()).catch(() => undefined);
  }

  #stopHandler(reason: Error): void {
    const active = this.#active;
    if (!active) return;
    this.#active = undefined;
    active.context.stop(reason);
    for (const wake of this.#drainWaiters.splice(0)) wake();
  }

  // ---- bounds ------------------------------------------------------------------------------

  #updateReading(): void {
    const s = this.#stream;
    if (s.destroyed || this.#stopped) return;
    if (this.#writeBlocked || this.#hold.paused) s.pause();
    else if (s.isPaused()) s.resume();
  }
}

/** What a stopped handler's signal is aborted with. */
function stopReason(reason: RpcStopReason, requestId: number): Error {
  switch (reason) {
    case 'cancelled':
      return new RpcCallCancelled(requestId);
    case 'timeout':
      return new RpcError(RpcStatus.Timeout, 'the call ran past its deadline');
    case 'malformed-response':
      return new RpcError(RpcStatus.MalformedResponse, 'a response could not be sent');
    case 'abandoned':
      return new RpcSessionClosed('closed');
  }
}
