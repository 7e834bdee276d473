/**
 * The yamux shell: runs a {@link YamuxSession} over a connection (any Duplex, usually the secure
 * channel), with streams as {@link YamuxStream} Duplexes, coalesced writes, keepalive pings,
 * violation handling (GoAway 1, half-close, close after the peer's EOF or a deadline) and a
 * graceful close (GoAway 0, a grace period for open streams).
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { TcommsError, TimeoutError } from '../../core/errors.js';
import { yamuxConfig, type YamuxConfig } from '../../protocols/yamux/config.js';
import { KeepaliveTimeout, MuxerClosed, StreamReset, YamuxProtocolError } from '../../protocols/yamux/errors.js';
import { GoAwayCode } from '../../protocols/yamux/frame.js';
import { YamuxSession } from '../../protocols/yamux/session.js';
import { YamuxStream, type StreamHost } from './stream.js';

/** Construction options of a muxer. */
export interface YamuxMuxerInit {
  /** The dialing side is the client (odd stream ids). */
  client: boolean;
  config?: Partial<YamuxConfig>;
  /** Called for every stream the peer opens. Streams nobody takes should be destroyed. */
  onStream?: (stream: YamuxStream) => void;
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

/** Runs a yamux session over a connection: substreams, keepalive, violation handling, graceful close. */
export class YamuxMuxer extends EventEmitter<YamuxMuxerEvents> {
  readonly #conn: Duplex;
  readonly #config: YamuxConfig;
  readonly #session: YamuxSession;
  readonly #streams = new Map<number, YamuxStream>();
  readonly #host: StreamHost;
  #flushScheduled = false;
  #connBlocked = false;
  #readPaused = false;
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
  readonly #closedPromise: Promise<TcommsError | undefined>;
  #resolveClosed!: (err: TcommsError | undefined) => void;

  constructor(conn: Duplex, init: YamuxMuxerInit) {
    super();
    this.#conn = conn;
    this.#config = yamuxConfig(init.config);
    this.#onStream = init.onStream;
    this.#closedPromise = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#session = new YamuxSession({
      client: init.client,
      config: this.#config,
      events: {
        stream: (id) => this.#inbound(id),
        data: (id, data) => this.#streams.get(id)?.onData(data),
        remoteClose: (id) => this.#streams.get(id)?.onRemoteClose(),
        reset: (id) => this.#streams.get(id)?.destroy(new StreamReset(id)),
        sendWindow: (id) => this.#streams.get(id)?.onSendWindow(),
        pong: (opaque) => this.#pong(opaque),
        goAway: (code) => this.emit('goaway', code),
        output: () => this.#scheduleFlush(),
      },
    });
    this.#host = {
      write: (id, data) => {
        const n = this.#session.write(id, data);
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

  // ---- internals ----------------------------------------------------------------------------

  #inbound(id: number): void {
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
    this.#receiving = true;
    try {
      let next: Buffer | undefined = chunk;
      while (next !== undefined && !this.#closed) {
        this.#session.receive(next);
        next = this.#inbox.shift();
      }
    } catch (err) {
      if (err instanceof YamuxProtocolError) return this.#violation(err);
      throw err;
    } finally {
      this.#receiving = false;
      this.#inbox.length = 0;
    }
    if (this.#session.pendingOutput > this.#config.maxPendingOutput && !this.#readPaused) {
      // The peer makes us write faster than the connection takes it (Ping floods): stop reading.
      this.#readPaused = true;
      this.#conn.pause();
      this.#flush();
    }
  }

  /** PROTOCOL.md section 3: GoAway(1), half-close, close after the peer's EOF or the deadline. */
  #violation(err: YamuxProtocolError): void {
    this.#closeError ??= err;
    this.#session.goAway(GoAwayCode.ProtocolError);
    this.#endConnection(err, this.#config.violationCloseMs);
    for (const stream of [...this.#streams.values()]) stream.destroy(err);
  }

  #endConnection(err: TcommsError | undefined, deadlineMs: number): void {
    this.#flush();
    const conn = this.#conn;
    if (!conn.writableEnded) conn.end();
    // Keep reading (and dropping) until the peer's EOF, which closes the session.
    if (this.#readPaused) conn.resume();
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
    let reason = err;
    for (const stream of [...this.#streams.values()]) {
      // A stream that is finished both ways keeps its received data for its reader.
      if (stream.remoteEnded && stream.writableEnded) continue;
      stream.destroy(quiet ? undefined : (reason ??= new MuxerClosed(normalMessage)));
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
    let ok = true;
    if (chunks.length === 1) ok = conn.write(chunks[0]);
    else {
      conn.cork();
      for (const c of chunks) ok = conn.write(c);
      conn.uncork();
    }
    if (!ok) this.#connBlocked = true;
    if (this.#readPaused && this.#session.pendingOutput === 0 && ok) {
      this.#readPaused = false;
      conn.resume();
    }
  }

  #drained(): void {
    this.#connBlocked = false;
    if (this.#readPaused) {
      this.#readPaused = false;
      this.#conn.resume();
    }
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

