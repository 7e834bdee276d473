/**
 * A yamux session as a sans-I/O core (PROTOCOL.md section 3). Bytes from the connection go in
 * through {@link YamuxSession.receive}; commands (open, write, close, reset, ping, go away) are
 * methods; what happens is reported through {@link YamuxSessionEvents}, and the bytes to send
 * are taken with {@link YamuxSession.takeOutput}. No I/O, no timers, no clock.
 */
import { MuxerClosed, StreamLimitReached, YamuxProtocolError } from './errors.js';
import { Flag, FrameType, GoAwayCode, HEADER_LENGTH, INITIAL_WINDOW, KNOWN_FLAGS, MAX_U32, YAMUX_VERSION, readU32 } from './frame.js';
import { OutputQueue } from './output.js';
import type { YamuxConfig } from './config.js';

/** What the session reports. Called synchronously from inside the session's methods. */
export interface YamuxSessionEvents {
  /** The peer opened stream `id`. */
  stream(id: number): void;
  /** In-order payload of stream `id`. A view into the received chunk, not a copy. */
  data(id: number, data: Uint8Array): void;
  /** The peer closed its side of stream `id` (FIN): no more data will come. */
  remoteClose(id: number): void;
  /** The peer reset stream `id` (RST); the stream is gone. */
  reset(id: number): void;
  /** The send window of stream `id` grew: blocked writes may continue. */
  sendWindow(id: number): void;
  /** A Ping this side sent was answered. */
  pong(opaque: number): void;
  /** The peer sent GoAway: it accepts no new streams. */
  goAway(code: number): void;
  /** Output was queued (the shell should schedule a flush). */
  output(): void;
}

/** Per-stream state of the core. */
interface StreamState {
  readonly id: number;
  readonly inbound: boolean;
  /** Bytes this side may still send. */
  sendWindow: number;
  /** Credit the peer still has (bytes it may send before our next update). */
  recvWindow: number;
  /** The current size of the receive window; it grows up to the configured maximum. */
  recvTarget: number;
  /** Bytes the application consumed that have not been credited back yet. */
  uncredited: number;
  localFin: boolean;
  remoteFin: boolean;
}

/**
 * Streams this side reset (or refused) whose peer may still have data in flight, remembered at
 * most this many at a time (the oldest forgotten first; data for a forgotten one is a violation).
 */
const MAX_LINGERING = 4096;

/** The read state between two chunks: a partial header, or the rest of a Data payload. */
const enum Read {
  Header,
  Payload,
}

/** The sans-I/O yamux session: bytes and commands in, frames and stream events out. */
export class YamuxSession {
  readonly #events: YamuxSessionEvents;
  readonly #config: YamuxConfig;
  readonly #client: boolean;
  readonly #streams = new Map<number, StreamState>();
  readonly #out = new OutputQueue();
  #nextOutboundId: number;
  #lastInboundId = 0;
  #inboundOpen = 0;
  #outboundOpen = 0;
  /** The sum of the open streams' receive windows (what the peer may have this side hold). */
  #windowTotal = 0;
  /**
   * Stream id -> the bytes the peer may still send on it: the receive window it had when this
   * side reset it (or refused its SYN). The peer may have sent that much before it heard of the
   * reset; more, or data on a stream the peer itself finished or reset, is sending beyond the
   * window (PROTOCOL.md section 3), a violation. Without this, an authenticated peer could keep
   * a node decrypting data for dead streams at line rate, the data dropped and never counted.
   */
  readonly #lingering = new Map<number, number>();
  #pingsAnswered = 0;
  #pingLimit = Infinity;
  #streamsOpened = 0;
  #streamLimit = Infinity;
  #localGoAway = false;
  #remoteGoAway = false;
  #failed = false;
  /** {@link yieldInput} was asked while decoding: stop at the next frame boundary. */
  #yield = false;
  // Decoder state.
  #read = Read.Header;
  readonly #header = new Uint8Array(HEADER_LENGTH);
  #headerFill = 0;
  #payloadLeft = 0;
  #payloadStream: StreamState | undefined;
  #payloadFlags = 0;

  constructor(init: { client: boolean; config: YamuxConfig; events: YamuxSessionEvents }) {
    this.#client = init.client;
    this.#config = init.config;
    this.#events = init.events;
    this.#nextOutboundId = init.client ? 1 : 2;
  }

  /** True on the side whose streams have odd ids. */
  get client(): boolean {
    return this.#client;
  }
  /** Streams open now (not yet closed both ways or reset). */
  get openStreams(): number {
    return this.#streams.size;
  }
  /** The sum of the open streams' receive windows: the stream data the peer may send before it hears from us. */
  get receiveWindows(): number {
    return this.#windowTotal;
  }
  /** Bytes queued for the connection and not yet taken. */
  get pendingOutput(): number {
    return this.#out.pendingBytes;
  }
  /**
   * Pings of the peer this session has answered so far (a count that only grows): the shell
   * compares it between reads to limit how fast a peer may make it answer.
   */
  get pingsAnswered(): number {
    return this.#pingsAnswered;
  }
  /**
   * How many Pings in all (counted as {@link pingsAnswered}) the peer may have answered: one
   * past it is the violation `ping-flood`, found as the frame is decoded. The shell sets it
   * from its clock (a rate and a burst); the core keeps no time.
   */
  limitPings(totalAnswered: number): void {
    this.#pingLimit = totalAnswered;
  }
  /** Streams the peer opened so far (each SYN, taken or refused; a count that only grows). */
  get streamsOpenedByPeer(): number {
    return this.#streamsOpened;
  }
  /**
   * How many streams in all (counted as {@link streamsOpenedByPeer}) the peer may open: one past
   * it is the violation `stream-flood`. Set by the shell from its clock, as {@link limitPings}.
   */
  limitStreamOpens(total: number): void {
    this.#streamLimit = total;
  }
  /** True once this side sent GoAway. */
  get localGoAway(): boolean {
    return this.#localGoAway;
  }
  /** True once the peer sent GoAway. */
  get remoteGoAway(): boolean {
    return this.#remoteGoAway;
  }
  /** True after a protocol violation: the session reads nothing more. */
  get failed(): boolean {
    return this.#failed;
  }

  /** The bytes to write to the connection, in order. */
  takeOutput(): Uint8Array[] {
    return this.#out.take();
  }

  // ---- commands -------------------------------------------------------------------------

  /** Open a stream; returns its id. The SYN is queued at once. */
  openStream(): number {
    if (this.#failed) throw new MuxerClosed('the session failed');
    if (this.#localGoAway) throw new MuxerClosed('this side is going away');
    if (this.#remoteGoAway) throw new MuxerClosed('the peer is going away');
    if (this.#outboundOpen >= this.#config.maxOutboundStreams) throw new StreamLimitReached(this.#config.maxOutboundStreams);
    const id = this.#nextOutboundId;
    if (id > MAX_U32) throw new MuxerClosed('stream ids are exhausted');
    this.#nextOutboundId += 2;
    this.#streams.set(id, newStream(id, false));
    this.#outboundOpen++;
    this.#windowTotal += INITIAL_WINDOW;
    this.#frame(FrameType.WindowUpdate, Flag.SYN, id, 0);
    return id;
  }

  /**
   * Queue up to `data.length` bytes on stream `id`; returns how many the send window allowed
   * (0 when it is exhausted: wait for {@link YamuxSessionEvents.sendWindow}).
   */
  write(id: number, data: Uint8Array): number {
    const s = this.#streams.get(id);
    if (s === undefined || s.localFin) return 0;
    const n = Math.min(data.length, s.sendWindow);
    const max = this.#config.maxDataFrame;
    for (let off = 0; off < n; off += max) {
      const len = Math.min(max, n - off);
      this.#out.header(FrameType.Data, 0, id, len);
      this.#out.payload(n === data.length && len === n ? data : data.subarray(off, off + len));
    }
    s.sendWindow -= n;
    if (n > 0) this.#events.output();
    return n;
  }

  /** Send window left on stream `id` (0 if it is gone). */
  sendWindowOf(id: number): number {
    return this.#streams.get(id)?.sendWindow ?? 0;
  }

  /** The application consumed `n` bytes of stream `id`: credit them back to the peer. */
  consumed(id: number, n: number): void {
    const s = this.#streams.get(id);
    if (s === undefined || s.remoteFin || n <= 0) return;
    s.uncredited += n;
    if (s.uncredited < s.recvTarget >>> 1) return;
    let delta = s.uncredited;
    const unread = s.recvTarget - s.recvWindow - s.uncredited;
    if (unread === 0 && s.recvTarget < this.#config.maxReceiveWindow) {
      // The reader keeps up with the sender: let more be in flight, as long as all the windows
      // together stay within half the connection's memory (the rest is for what data costs
      // beyond its bytes, and for output): a peer that keeps to its windows never makes the
      // connection stop reading, which would hold back the window updates it waits for.
      const target = Math.min(this.#config.maxReceiveWindow, s.recvTarget * 2);
      if (this.#windowTotal + target - s.recvTarget <= this.#config.maxConnectionMemory / 2) {
        delta += target - s.recvTarget;
        this.#windowTotal += target - s.recvTarget;
        s.recvTarget = target;
      }
    }
    s.recvWindow += delta;
    s.uncredited = 0;
    this.#frame(FrameType.WindowUpdate, 0, id, delta);
  }

  /** Half-close stream `id` (FIN): this side sends no more data. */
  closeWrite(id: number): void {
    const s = this.#streams.get(id);
    if (s === undefined || s.localFin) return;
    s.localFin = true;
    this.#frame(FrameType.WindowUpdate, Flag.FIN, id, 0);
    if (s.remoteFin) this.#remove(s);
  }

  /** Reset stream `id` (RST): both directions end at once. */
  reset(id: number): void {
    const s = this.#streams.get(id);
    if (s === undefined) return;
    this.#remove(s);
    if (!s.remoteFin) this.#linger(id, s.recvWindow);
    this.#frame(FrameType.WindowUpdate, Flag.RST, id, 0);
  }

  /** Send a Ping with an opaque value; the answer comes as {@link YamuxSessionEvents.pong}. */
  ping(opaque: number): void {
    this.#frame(FrameType.Ping, Flag.SYN, 0, opaque >>> 0);
  }

  /** Send GoAway: the peer may open no new streams. Existing streams go on. */
  goAway(code: GoAwayCode): void {
    if (this.#localGoAway) return;
    this.#localGoAway = true;
    this.#frame(FrameType.GoAway, 0, 0, code);
  }

  // ---- input ----------------------------------------------------------------------------

  /**
   * Feed bytes from the connection, in any chunking; returns how many were taken: all of them,
   * unless {@link yieldInput} was called while they were decoded (the rest is to be fed again,
   * first, later). Throws {@link YamuxProtocolError} on a violation; the session is then failed
   * and ignores (takes) further input.
   */
  receive(chunk: Uint8Array): number {
    if (this.#failed) return chunk.length;
    try {
      return this.#receive(chunk);
    } catch (err) {
      this.#failed = true;
      throw err;
    } finally {
      this.#yield = false;
    }
  }

  /**
   * Asked from an event while {@link receive} decodes (a shell that spreads a burst of work
   * over turns of its event loop): decoding stops at the next frame boundary, and `receive`
   * returns how far it got. It applies to the chunk being decoded only.
   */
  yieldInput(): void {
    this.#yield = true;
  }

  #receive(chunk: Uint8Array): number {
    const end = chunk.length;
    let off = 0;
    while (off < end) {
      if (this.#read === Read.Payload) {
        const take = Math.min(this.#payloadLeft, end - off);
        const s = this.#payloadStream;
        if (s !== undefined) this.#events.data(s.id, chunk.subarray(off, off + take));
        off += take;
        this.#payloadLeft -= take;
        if (this.#payloadLeft === 0) {
          this.#read = Read.Header;
          if (s !== undefined) this.#afterPayload(s, this.#payloadFlags);
        }
        continue;
      }
      if (this.#yield && this.#headerFill === 0) return off;
      if (this.#headerFill === 0 && end - off >= HEADER_LENGTH) {
        this.#onHeader(chunk, off);
        off += HEADER_LENGTH;
        continue;
      }
      const take = Math.min(HEADER_LENGTH - this.#headerFill, end - off);
      this.#header.set(chunk.subarray(off, off + take), this.#headerFill);
      this.#headerFill += take;
      off += take;
      if (this.#headerFill === HEADER_LENGTH) {
        this.#headerFill = 0;
        this.#onHeader(this.#header, 0);
      }
    }
    return end;
  }

  #onHeader(h: Uint8Array, at: number): void {
    const version = h[at]!;
    const type = h[at + 1]!;
    const flags = (h[at + 2]! << 8) | h[at + 3]!;
    const id = readU32(h, at + 4);
    const length = readU32(h, at + 8);
    if (version !== YAMUX_VERSION) throw new YamuxProtocolError('bad-version', `version ${version}`);
    if ((flags & ~KNOWN_FLAGS) !== 0) throw new YamuxProtocolError('unknown-flag', `flags 0x${flags.toString(16)}`, id);
    switch (type) {
      case FrameType.Data:
      case FrameType.WindowUpdate:
        return this.#onStreamFrame(type, flags, id, length);
      case FrameType.Ping:
        return this.#onPing(flags, id, length);
      case FrameType.GoAway:
        return this.#onGoAway(flags, id, length);
      default:
        throw new YamuxProtocolError('unknown-type', `type ${type}`, id);
    }
  }

  #onStreamFrame(type: number, flags: number, id: number, length: number): void {
    if (id === 0) throw new YamuxProtocolError('bad-stream-id', 'stream frame on stream 0');
    const isData = type === FrameType.Data;
    if (isData && length > this.#config.maxReceiveWindow) throw new YamuxProtocolError('window-exceeded', `a ${length}-byte Data frame`, id);
    let s = this.#streams.get(id);
    if ((flags & Flag.SYN) !== 0) s = this.#onSyn(id);
    else if (s === undefined) {
      if (this.#neverExisted(id)) throw new YamuxProtocolError('stream-never-existed', `frame for stream ${id}`, id);
      // A frame in flight for a stream that is already closed or reset: dropped (its data within
      // what the peer may still send on it, see #lingering).
    }
    if (isData) {
      if (length > 0) {
        if (s === undefined) this.#chargeLingering(id, length);
        else {
          if (s.remoteFin) throw new YamuxProtocolError('data-after-fin', `Data on stream ${id} after its FIN`, id);
          if (length > s.recvWindow) throw new YamuxProtocolError('window-exceeded', `${length} bytes with a window of ${s.recvWindow}`, id);
          s.recvWindow -= length;
        }
        this.#read = Read.Payload;
        this.#payloadLeft = length;
        this.#payloadStream = s;
        this.#payloadFlags = flags;
        return;
      }
    } else if (s !== undefined && length > 0) {
      if (s.sendWindow + length > MAX_U32) throw new YamuxProtocolError('window-overflow', `window update of ${length}`, id);
      s.sendWindow += length;
      this.#events.sendWindow(id);
    }
    if (s !== undefined) this.#afterPayload(s, flags);
  }

  /** FIN and RST take effect after the frame's payload. */
  #afterPayload(s: StreamState, flags: number): void {
    // The application may have reset the stream while its payload was arriving.
    if (this.#streams.get(s.id) !== s) return;
    if ((flags & Flag.RST) !== 0) {
      this.#remove(s);
      this.#events.reset(s.id);
      return;
    }
    if ((flags & Flag.FIN) !== 0 && !s.remoteFin) {
      s.remoteFin = true;
      if (s.localFin) this.#remove(s);
      this.#events.remoteClose(s.id);
    }
  }

  #onSyn(id: number): StreamState | undefined {
    const peerParity = this.#client ? 0 : 1;
    if (id % 2 !== peerParity) throw new YamuxProtocolError('bad-stream-id', `SYN with id ${id} of the wrong parity`, id);
    if (id <= this.#lastInboundId) throw new YamuxProtocolError('reused-stream-id', `SYN reuses stream id ${id}`, id);
    if (this.#streamsOpened >= this.#streamLimit) throw new YamuxProtocolError('stream-flood', `more than ${this.#streamLimit} streams opened, faster than allowed`, id);
    this.#streamsOpened++;
    this.#lastInboundId = id;
    if (this.#localGoAway || this.#inboundOpen >= this.#config.maxInboundStreams) {
      this.#linger(id, INITIAL_WINDOW);
      this.#frame(FrameType.WindowUpdate, Flag.RST, id, 0);
      return undefined;
    }
    const s = newStream(id, true);
    this.#streams.set(id, s);
    this.#inboundOpen++;
    this.#windowTotal += INITIAL_WINDOW;
    this.#frame(FrameType.WindowUpdate, Flag.ACK, id, 0);
    this.#events.stream(id);
    return s;
  }

  #neverExisted(id: number): boolean {
    const ours = id % 2 === (this.#client ? 1 : 0);
    return ours ? id >= this.#nextOutboundId : id > this.#lastInboundId;
  }

  #onPing(flags: number, id: number, opaque: number): void {
    if (id !== 0) throw new YamuxProtocolError('bad-stream-id', `Ping on stream ${id}`, id);
    if (flags === Flag.SYN) {
      if (this.#pingsAnswered >= this.#pingLimit) throw new YamuxProtocolError('ping-flood', `more than ${this.#pingLimit} Pings answered, faster than allowed`);
      this.#pingsAnswered++;
      this.#frame(FrameType.Ping, Flag.ACK, 0, opaque);
    } else if (flags === Flag.ACK) this.#events.pong(opaque);
    else throw new YamuxProtocolError('bad-ping', `Ping with flags 0x${flags.toString(16)}`);
  }

  #onGoAway(flags: number, id: number, code: number): void {
    if (id !== 0) throw new YamuxProtocolError('bad-stream-id', `GoAway on stream ${id}`, id);
    if (flags !== 0) throw new YamuxProtocolError('unknown-flag', `GoAway with flags 0x${flags.toString(16)}`);
    if (code > GoAwayCode.InternalError) throw new YamuxProtocolError('bad-goaway-code', `GoAway code ${code}`);
    this.#remoteGoAway = true;
    this.#events.goAway(code);
  }

  #linger(id: number, window: number): void {
    if (window <= 0) return;
    if (this.#lingering.size >= MAX_LINGERING) this.#lingering.delete(this.#lingering.keys().next().value!);
    this.#lingering.set(id, window);
  }

  /** Data for a stream that is gone: within what the peer may still send on it, or a violation. */
  #chargeLingering(id: number, length: number): void {
    const left = this.#lingering.get(id);
    if (left === undefined || length > left) throw new YamuxProtocolError('window-exceeded', `${length} bytes for stream ${id}, which is closed (${left ?? 0} may still arrive)`, id);
    if (length === left) this.#lingering.delete(id);
    else this.#lingering.set(id, left - length);
  }

  #remove(s: StreamState): void {
    this.#streams.delete(s.id);
    this.#windowTotal -= s.recvTarget;
    if (s.inbound) this.#inboundOpen--;
    else this.#outboundOpen--;
  }

  #frame(type: number, flags: number, id: number, length: number): void {
    this.#out.header(type, flags, id, length);
    this.#events.output();
  }
}

function newStream(id: number, inbound: boolean): StreamState {
  return { id, inbound, sendWindow: INITIAL_WINDOW, recvWindow: INITIAL_WINDOW, recvTarget: INITIAL_WINDOW, uncredited: 0, localFin: false, remoteFin: false };
}
