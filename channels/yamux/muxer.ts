/**
 * The yamux shell: runs a {@link YamuxSession} over a connection (any Duplex, usually the secure
 * channel), with streams as {@link YamuxStream} Duplexes, coalesced writes, keepalive pings,
 * violation handling (GoAway 1, half-close, close after the peer's EOF or a deadline) and a
 * graceful close (GoAway 0, a grace period for open streams).
 *
 * What the peer makes this side hold is bounded. Received data is charged to the connection's
 * {@link MemoryBudget} (a child of the node's) by the buffers it keeps alive; output is counted
 * until the connection has taken it (its write callbacks: the secure channel calls them only
 * once the socket has room). The connection is not read while the budget is exceeded or the
 * output is above `maxPendingOutput`, and a peer that leaves it there is dropped.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { DEFAULT_NODE_MEMORY, MemoryBudget } from '../../core/budget.js';
import { stackless, TcommsError, TimeoutError, type ProtocolError } from '../../core/errors.js';
import { yamuxConfig, type YamuxConfig } from '../../protocols/yamux/config.js';
import { KeepaliveTimeout, MuxerClosed, PeerNotReading, StreamReset, YamuxProtocolError } from '../../protocols/yamux/errors.js';
import { GoAwayCode } from '../../protocols/yamux/frame.js';
import { YamuxSession } from '../../protocols/yamux/session.js';
import { YamuxStream, type StreamHost } from './stream.js';
import { PeerRate } from './peer-rate.js';
import { heldSize } from './receive-queue.js';
import { TurnBudget, turnReader, type TurnReader } from '../turn-budget.js';

/** Construction options of a muxer. */
export interface YamuxMuxerInit {
  /** The dialing side is the client (odd stream ids). */
  client: boolean;
  config?: Partial<YamuxConfig>;
  /** Called for every stream the peer opens. Streams nobody takes should be destroyed. */
  onStream?: (stream: YamuxStream) => void;
  /**
   * The node's memory budget: this connection's budget (`maxConnectionMemory`) is a child of
   * it, so its charges count against both. Default: a budget of its own of 256 MiB.
   */
  budget?: MemoryBudget;
  /** The work per turn of the event loop this connection shares (its peer's stream opens are charged to it): its node's; default: the process's, {@link TurnBudget.shared}. */
  turns?: TurnBudget;
}

/** Events of a muxer. */
export interface YamuxMuxerEvents {
  stream: [stream: YamuxStream];
  /** The peer sent GoAway. */
  goaway: [code: number];
  /** A keepalive or explicit ping was answered, in milliseconds. */
  rtt: [ms: number];
  /** The answer to the ping `opaque` (see {@link YamuxMuxer.sendPing}) arrived after `ms`. */
  pong: [opaque: number, ms: number];
  /** The session is over; `error` says why when it did not end normally. */
  close: [error?: TcommsError];
}

/** Writes to the connection are flushed when this much output is queued, at the latest. */
const FLUSH_AT = 256 * 1024;
/** A stream write waits rather than send a Data frame smaller than this for lack of room in the output. */
const MIN_DATA_FRAME = 4096;
/**
 * What a stream the peer opens is charged to the turn's budget, in bytes of data it stands for:
 * its set-up (a Duplex, the handler's negotiation, the actors told of it) costs about as much as
 * 16 KiB decrypted (bench:hostile's 16 peers x 512 substreams, all in one read each: 8,192
 * streams, 1,024 of them negotiated, took one turn of 210-270 ms, about 30 us a stream; at 4
 * KiB a stream, turns of that burst still took 10-25 ms). Past the budget, what the peer sent
 * after the stream waits for the next turn: about 32 opens a turn in all, and one more per
 * connection. A connection's first stream (the identity exchange's) is not charged.
 */
const STREAM_OPEN_COST = 16 * 1024;

/** Runs a yamux session over a connection: substreams, keepalive, violation handling, graceful close. */
export class YamuxMuxer extends EventEmitter<YamuxMuxerEvents> {
  readonly #conn: Duplex;
  readonly #config: YamuxConfig;
  readonly #session: YamuxSession;
  readonly #streams = new Map<number, YamuxStream>();
  readonly #host: StreamHost;
  /**
   * What this connection holds for the peer (streams' unread data, queued output, partial
   * frames that handlers charge): a child of the node's budget. Its `used` is what to report.
   */
  readonly memory: MemoryBudget;
  #flushScheduled = false;
  #connBlocked = false;
  #readPaused = false;
  /** Ending after a violation or a graceful close: the connection is read (and dropped) to its EOF. */
  #ending = false;
  #cancelBudgetWait: (() => void) | undefined;
  #stallTimer: NodeJS.Timeout | undefined;
  /** The peer's Pings and stream opens, each a token bucket over the session's count (`peer-rate.ts`). */
  readonly #pingRate: PeerRate;
  readonly #openRate: PeerRate;
  /** How many of the two are in debt now (the connection is not read while any is). */
  #throttled = 0;
  /** Streams whose writes wait for room in the output. */
  readonly #waitingForRoom = new Set<number>();
  #wakingWriters = false;
  #wakeAgain = false;
  #waitingWriters: Array<() => void> = [];
  #closed = false;
  #closeError: TcommsError | undefined;
  #keepalive: NodeJS.Timeout | undefined;
  #pingOpaque = 0;
  #pings = new Map<number, { sent: number; resolve?: (ms: number) => void }>();
  #keepalivePing: number | undefined;
  #missed = 0;
  #onStream: ((stream: YamuxStream) => void) | undefined;
  #whenNoStreams: (() => void) | undefined;
  #receiving = false;
  #inbox: Buffer[] = [];
  readonly #turns: TurnBudget;
  readonly #turnReader: TurnReader = turnReader();
  /** The turn's budget ran out while decoding (on stream opens): the rest waits for the next turn. */
  #yielded = false;
  /** Input waiting for the next turn, oldest first (the connection is not read meanwhile), and what it keeps alive. */
  #deferred: Buffer[] | undefined;
  #deferredCharge = 0;
  readonly #closedPromise: Promise<TcommsError | undefined>;
  #resolveClosed!: (err: TcommsError | undefined) => void;

  constructor(conn: Duplex, init: YamuxMuxerInit) {
    super();
    this.#conn = conn;
    this.#config = yamuxConfig(init.config);
    this.memory = (init.budget ?? new MemoryBudget(DEFAULT_NODE_MEMORY)).child(this.#config.maxConnectionMemory);
    this.#onStream = init.onStream;
    this.#turns = init.turns ?? TurnBudget.shared;
    this.#closedPromise = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#session = new YamuxSession({
      client: init.client,
      config: this.#config,
      events: {
        stream: (id) => this.#inbound(id),
        data: (id, data) => this.#streams.get(id)?.onData(data),
        remoteClose: (id) => this.#streams.get(id)?.onRemoteClose(),
        // (A peer may reset streams at a high rate: the error carries no stack trace.)
        reset: (id) => this.#streams.get(id)?.destroy(stackless(() => new StreamReset(id))),
        sendWindow: (id) => this.#streams.get(id)?.onSendWindow(),
        pong: (opaque) => this.#pong(opaque),
        goAway: (code) => this.emit('goaway', code),
        output: () => this.#scheduleFlush(),
      },
    });
    const session = this.#session;
    this.#pingRate = new PeerRate(this.#config.pingsPerSecond, this.#config.pingBurst, () => session.pingsAnswered, (n) => session.limitPings(n));
    this.#openRate = new PeerRate(this.#config.streamOpensPerSecond, this.#config.streamOpenBurst, () => session.streamsOpenedByPeer, (n) => session.limitStreamOpens(n));
    this.#host = {
      memory: this.memory,
      write: (id, data) => {
        // Stream data may fill half of the output bound; the rest is kept for control frames.
        const room = this.#config.maxPendingOutput / 2 - this.queuedOutput;
        if (room < data.length) {
          // Woken (as by a window update) once the output has room again.
          this.#waitingForRoom.add(id);
          if (room < MIN_DATA_FRAME) return 0;
        }
        const n = this.#session.write(id, room < data.length ? data.subarray(0, room) : data);
        if (this.#session.pendingOutput >= FLUSH_AT) this.#flush();
        return n;
      },
      consumed: (id, n) => this.#session.consumed(id, n),
      closeWrite: (id) => this.#session.closeWrite(id),
      reset: (id) => {
        if (!this.#closed) this.#session.reset(id);
      },
      whenWritable: (resume) => {
        if (this.#connBlocked) this.#waitingWriters.push(resume);
        else resume();
      },
      forget: (id) => {
        this.#streams.delete(id);
        if (this.#streams.size === 0) this.#whenNoStreams?.();
      },
    };
    conn.on('data', (chunk: Buffer) => this.#receive(chunk));
    conn.on('drain', () => this.#drained());
    // (Errors are made only when they will be used: each costs a stack trace.)
    conn.once('end', () => this.#closed || this.#terminate(this.#closeError, false, 'the connection ended'));
    conn.once('close', () => this.#closed || this.#terminate(this.#closeError, false, 'the connection closed'));
    conn.on('error', (err) => {
      this.#closeError ??= err instanceof TcommsError ? err : new MuxerClosed(`connection error: ${err.message}`);
    });
    if (this.#config.keepaliveIntervalMs > 0) {
      this.#keepalive = setInterval(() => this.#keepaliveTick(), this.#config.keepaliveIntervalMs);
      this.#keepalive.unref();
    }
  }

  /** True on the dialing side. */
  get client(): boolean {
    return this.#session.client;
  }
  /** Streams currently open. */
  get streamCount(): number {
    return this.#streams.size;
  }
  /** True once the session is over. */
  get closed(): boolean {
    return this.#closed;
  }
  /** Resolves when the session is over, with the reason unless it ended normally. */
  get closedPromise(): Promise<TcommsError | undefined> {
    return this.#closedPromise;
  }
  /**
   * Bytes of output queued for the peer: frames not yet written, and writes the connection has
   * not called back (its `writableLength`; the secure channel calls a write back only once the
   * socket has room).
   */
  get queuedOutput(): number {
    return this.#session.pendingOutput + this.#conn.writableLength;
  }
  /** True while the connection is not being read (budget exceeded, output above its bound, or the peer's Pings or stream opens over their rate). */
  get readPaused(): boolean {
    return this.#readPaused;
  }

  /** Open a stream to the peer. */
  newStream(): YamuxStream {
    if (this.#closed) throw new MuxerClosed('the session is closed');
    const id = this.#session.openStream();
    const stream = new YamuxStream(id, 'outbound', this.#host);
    this.#streams.set(id, stream);
    return stream;
  }

  /** Round-trip time of one Ping, in ms; rejects after `timeoutMs`. */
  ping(timeoutMs = 10_000): Promise<number> {
    if (this.#closed) return Promise.reject(new MuxerClosed('the session is closed'));
    return new Promise((resolve, reject) => {
      const opaque = this.#nextOpaque();
      const timer = setTimeout(() => {
        this.#pings.delete(opaque);
        reject(new TimeoutError(`no Ping answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pings.set(opaque, {
        sent: performance.now(),
        resolve: (ms) => {
          clearTimeout(timer);
          resolve(ms);
        },
      });
      this.#session.ping(opaque);
    });
  }

  /**
   * Sends one Ping and returns its opaque value; its answer is the `pong` event with that value.
   * For a keepalive driven from outside (the peer-connection actor's clock); an unanswered ping
   * is forgotten when the session ends.
   */
  sendPing(): number {
    if (this.#closed) throw new MuxerClosed('the session is closed');
    const opaque = this.#nextOpaque();
    this.#pings.set(opaque, { sent: performance.now() });
    this.#session.ping(opaque);
    return opaque;
  }

  /** Forgets an unanswered ping from {@link sendPing} (a late answer is then ignored). */
  forgetPing(opaque: number): void {
    this.#pings.delete(opaque);
  }

  /**
   * Graceful close: GoAway(0), then open streams get the grace period to finish; whatever is
   * still open after it is reset. Resolves when the connection is closed.
   */
  async close(graceMs = this.#config.closeGraceMs): Promise<void> {
    if (this.#closed) return;
    this.#session.goAway(GoAwayCode.Normal);
    this.#flush();
    if (this.#streams.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, graceMs);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#whenNoStreams = done;
        this.#closedPromise.then(done);
      });
    }
    this.#endConnection(undefined, this.#config.violationCloseMs);
    await this.#closedPromise;
  }

  /**
   * Close at once, without GoAway: the connection and every stream are destroyed. Streams get
   * `reason` as their error when one is given (as `socket.destroy(err)` does), none otherwise.
   */
  abort(reason?: TcommsError): void {
    if (reason !== undefined) this.#closeError ??= reason;
    this.#terminate(reason, reason === undefined);
  }

  /**
   * The peer broke a protocol running over this connection (the identity exchange, say): as for
   * a yamux violation, GoAway(1), half-close, close after the peer's EOF or the deadline; the
   * session closes with `err`.
   */
  violation(err: ProtocolError): void {
    if (this.#closed) return;
    this.#violation(err);
  }

  // ---- internals ----------------------------------------------------------------------------

  #inbound(id: number): void {
    if (this.#session.streamsOpenedByPeer > 1 && !this.#turns.admit(STREAM_OPEN_COST, this.#turnReader)) {
      this.#yielded = true;
      this.#session.yieldInput();
    }
    const stream = new YamuxStream(id, 'inbound', this.#host);
    this.#streams.set(id, stream);
    if (this.#onStream !== undefined) this.#onStream(stream);
    else if (this.listenerCount('stream') > 0) this.emit('stream', stream);
    else stream.destroy();
  }

  #receive(chunk: Buffer): void {
    if (this.#closed) return;
    // Stream callbacks may write, and a synchronous connection may answer at once: input that
    // arrives while the session is decoding waits its turn instead of re-entering the decoder.
    if (this.#receiving) {
      this.#inbox.push(chunk);
      return;
    }
    if (this.#deferred !== undefined) return this.#defer([chunk]);
    this.#decode([chunk]);
  }

  /**
   * Decodes `chunks` in order, then what arrived meanwhile, until they run out or the turn's
   * budget does (the session stops at a frame boundary; the rest waits for the next turn).
   */
  #decode(chunks: Buffer[]): void {
    this.#receiving = true;
    this.#pingRate.beforeRead();
    this.#openRate.beforeRead();
    const session = this.#session;
    const pings = session.pingsAnswered;
    const opens = session.streamsOpenedByPeer;
    try {
      let i = 0;
      let next: Buffer | undefined = chunks[0];
      while (next !== undefined && !this.#closed) {
        const used = session.receive(next);
        if (this.#yielded) {
          this.#yielded = false;
          this.#defer([...(used < next.length ? [next.subarray(used)] : []), ...chunks.slice(i + 1), ...this.#inbox]);
          break;
        }
        next = ++i < chunks.length ? chunks[i] : this.#inbox.shift();
      }
    } catch (err) {
      if (err instanceof YamuxProtocolError) return this.#violation(err);
      throw err;
    } finally {
      this.#receiving = false;
      this.#yielded = false;
      this.#inbox.length = 0;
    }
    // (Looked at only when the read moved a count: nothing on the data path.)
    if (session.pingsAnswered !== pings && this.#pingRate.afterRead(this.#paid)) this.#throttled++;
    if (session.streamsOpenedByPeer !== opens && this.#openRate.afterRead(this.#paid)) this.#throttled++;
    this.#updateReading();
  }

  /** Keeps `chunks` for the next turn (charged to the connection: they keep their buffers alive); the connection is not read meanwhile. */
  #defer(chunks: Buffer[]): void {
    if (chunks.length === 0) return;
    if (this.#deferred === undefined) {
      this.#deferred = [];
      this.#turns.waitForNextTurn(this.#nextTurn);
    }
    for (const c of chunks) {
      this.#deferred.push(c);
      const cost = heldSize(c);
      this.#deferredCharge += cost;
      this.memory.charge(cost);
    }
  }

  /**
   * The next turn: decode what waited a tick later, as a secure channel's resume reads its
   * connection (Readable.resume reads on the next tick). Decoding at once would take the turn's
   * budget before every channel that waited before this connection had read anything: a peer
   * with a backlog of stream opens would starve every other connection's bulk data (each turn's
   * budget spent on its opens) until its backlog ran out.
   */
  readonly #nextTurn = (): void => {
    process.nextTick(this.#resume);
  };

  readonly #resume = (): void => {
    const chunks = this.#deferred;
    this.#deferred = undefined;
    this.memory.release(this.#deferredCharge);
    this.#deferredCharge = 0;
    if (chunks !== undefined && !this.#closed) this.#decode(chunks);
  };

  /** A peer back within its rates: read again (unless something else holds reading back). */
  readonly #paid = (): void => {
    this.#throttled--;
    this.#updateReading();
  };

  /**
   * Read the connection only while the budget has room and the output is within its bound (a
   * peer that sends Pings and reads nothing then gets no more answers); drop a peer whose
   * output stays above the bound too long or doubles it; let stream writes wait for room.
   */
  #updateReading(): void {
    if (this.#closed) return;
    const queued = this.queuedOutput;
    const bound = this.#config.maxPendingOutput;
    // The usual case, on every read and flush: nothing to change.
    if (!this.#readPaused && queued < bound / 2 && this.#stallTimer === undefined && this.#waitingForRoom.size === 0 && !this.memory.exceeded && this.#throttled === 0 && this.#deferred === undefined) return;
    if (queued > 2 * bound) return this.#notReading(new PeerNotReading(queued, 'over-limit'));
    if (queued <= bound) {
      if (this.#stallTimer !== undefined) {
        clearTimeout(this.#stallTimer);
        this.#stallTimer = undefined;
      }
    } else if (this.#stallTimer === undefined) {
      this.#stallTimer = setTimeout(() => {
        this.#stallTimer = undefined;
        const now = this.queuedOutput;
        if (now > this.#config.maxPendingOutput) this.#notReading(new PeerNotReading(now, 'stalled'));
      }, this.#config.outputStallMs);
      this.#stallTimer.unref();
    }
    if (this.#waitingForRoom.size > 0 && queued < bound / 2) this.#wakeWriters();
    if (this.#ending) return; // read (and drop) until the peer's EOF
    const overBudget = this.memory.exceeded;
    const pause = overBudget || queued > bound || this.#throttled > 0 || this.#deferred !== undefined;
    if (pause !== this.#readPaused) {
      this.#readPaused = pause;
      if (pause) this.#conn.pause();
      else this.#conn.resume();
    }
    if (overBudget && this.#cancelBudgetWait === undefined) {
      this.#cancelBudgetWait = this.memory.whenAvailable(() => {
        this.#cancelBudgetWait = undefined;
        this.#updateReading();
      });
    }
  }

  #wakeWriters(): void {
    // A woken writer's write may flush, and a synchronous connection call it back at once: room
    // that comes back while writers are being woken wakes those that waited meanwhile.
    if (this.#wakingWriters) {
      this.#wakeAgain = true;
      return;
    }
    this.#wakingWriters = true;
    try {
      do {
        this.#wakeAgain = false;
        for (const id of [...this.#waitingForRoom]) {
          this.#waitingForRoom.delete(id);
          this.#streams.get(id)?.onSendWindow();
        }
      } while (this.#wakeAgain && this.#waitingForRoom.size > 0 && !this.#closed && this.queuedOutput < this.#config.maxPendingOutput / 2);
    } finally {
      this.#wakingWriters = false;
    }
  }

  /** The peer does not read what we send it: close without GoAway (it would not read that either). */
  #notReading(err: PeerNotReading): void {
    this.#closeError ??= err;
    this.#terminate(err);
  }

  /** PROTOCOL.md section 3: GoAway(1), half-close, close after the peer's EOF or the deadline. */
  #violation(err: ProtocolError): void {
    this.#closeError ??= err;
    this.#session.goAway(GoAwayCode.ProtocolError);
    this.#endConnection(err, this.#config.violationCloseMs);
    // The session reads nothing more: a connection that can drop the peer's bytes undecrypted
    // (the secure channel) does, while the peer's EOF is awaited.
    if (discardsInput(this.#conn)) this.#conn.discardInput();
    for (const stream of [...this.#streams.values()]) stream.destroy(err);
  }

  #endConnection(err: TcommsError | undefined, deadlineMs: number): void {
    this.#flush();
    const conn = this.#conn;
    if (!conn.writableEnded) conn.end();
    // Keep reading (and dropping) until the peer's EOF, which closes the session.
    this.#ending = true;
    if (this.#readPaused) {
      this.#readPaused = false;
      conn.resume();
    }
    const timer = setTimeout(() => this.#terminate(err ?? this.#closeError), deadlineMs);
    timer.unref();
    this.#closedPromise.then(() => clearTimeout(timer));
  }

  /**
   * Ends the session. `err` undefined is a normal end: streams still open are destroyed with a
   * MuxerClosed saying `normalMessage`, made only if such a stream exists.
   */
  #terminate(err: TcommsError | undefined, quiet = false, normalMessage = 'the session closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#keepalive !== undefined) clearInterval(this.#keepalive);
    if (this.#stallTimer !== undefined) clearTimeout(this.#stallTimer);
    this.#pingRate.stop();
    this.#openRate.stop();
    this.#cancelBudgetWait?.();
    this.#cancelBudgetWait = undefined;
    this.#waitingForRoom.clear();
    this.#deferred = undefined; // (its charge goes with the budget, closed below)
    let reason = err;
    for (const stream of [...this.#streams.values()]) {
      // A stream that is finished both ways keeps its received data for its reader.
      if (stream.remoteEnded && stream.writableEnded) continue;
      stream.destroy(quiet ? undefined : (reason ??= stackless(() => new MuxerClosed(normalMessage))));
    }
    this.#streams.clear();
    this.#pings.clear();
    const waiting = this.#waitingWriters;
    this.#waitingWriters = [];
    for (const resume of waiting) resume();
    if (!this.#conn.destroyed) {
      this.#conn.on('error', () => {});
      this.#conn.destroy();
    }
    // Nothing of the peer's stays held: unsent output is dropped, the budget given back.
    this.#session.takeOutput();
    this.memory.close();
    const normal = err instanceof MuxerClosed && this.#closeError === undefined;
    this.#resolveClosed(normal ? undefined : err);
    this.emit('close', normal ? undefined : err);
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    process.nextTick(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = false;
    const chunks = this.#session.takeOutput();
    if (chunks.length === 0) return;
    const conn = this.#conn;
    if (conn.destroyed || conn.writableEnded) return;
    let bytes = 0;
    for (const c of chunks) bytes += c.length;
    // Output near half the bound and beyond (where stream writers wait for room and, past the
    // bound, the connection is not read) is charged to the budget and followed: the write's
    // callback comes once everything before it is taken, which is when to look again (whoever
    // waits, waits on a followed write). Below that, a callback per flush would cost more than
    // the flush (a quarter of the in-memory throughput).
    let written: (() => void) | undefined;
    if (conn.writableLength + bytes > this.#config.maxPendingOutput / 2 - MIN_DATA_FRAME) {
      this.memory.charge(bytes);
      written = () => this.#written(bytes);
    }
    let ok = true;
    if (chunks.length === 1) ok = conn.write(chunks[0], written);
    else {
      conn.cork();
      const last = chunks.length - 1;
      for (let i = 0; i < last; i++) ok = conn.write(chunks[i]);
      ok = conn.write(chunks[last], written);
      conn.uncork();
    }
    if (!ok) this.#connBlocked = true;
    this.#updateReading();
  }

  #written(bytes: number): void {
    this.memory.release(bytes);
    this.#updateReading();
  }

  #drained(): void {
    this.#connBlocked = false;
    this.#updateReading();
    const waiting = this.#waitingWriters;
    this.#waitingWriters = [];
    for (const resume of waiting) {
      if (this.#connBlocked) this.#waitingWriters.push(resume);
      else resume();
    }
  }

  #nextOpaque(): number {
    this.#pingOpaque = (this.#pingOpaque + 1) >>> 0;
    return this.#pingOpaque;
  }

  #pong(opaque: number): void {
    const p = this.#pings.get(opaque);
    if (p === undefined) return; // unsolicited or late: ignored
    this.#pings.delete(opaque);
    const ms = performance.now() - p.sent;
    if (opaque === this.#keepalivePing) {
      this.#keepalivePing = undefined;
      this.#missed = 0;
    }
    p.resolve?.(ms);
    this.emit('rtt', ms);
    this.emit('pong', opaque, ms);
  }

  /** PROTOCOL.md section 3: a ping unanswered when the next is due is missed; 3 in a row close. */
  #keepaliveTick(): void {
    if (this.#closed) return;
    if (this.#keepalivePing !== undefined) {
      this.#pings.delete(this.#keepalivePing);
      this.#missed++;
      if (this.#missed >= this.#config.keepaliveMaxMissed) {
        const err = new KeepaliveTimeout(this.#missed);
        this.#closeError ??= err;
        this.#terminate(err); // no GoAway: the peer is presumed gone
        return;
      }
    }
    const opaque = this.#nextOpaque();
    this.#keepalivePing = opaque;
    this.#pings.set(opaque, { sent: performance.now() });
    this.#session.ping(opaque);
  }
}

/** A connection that can drop what the peer sends without processing it (see `SecureDuplex.discardInput`). */
interface DiscardsInput {
  discardInput(): void;
}

function discardsInput(conn: object): conn is DiscardsInput {
  return typeof (conn as Partial<DiscardsInput>).discardInput === 'function';
}
