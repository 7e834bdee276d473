/**
 * The encrypted Duplex of an established Noise session. Writes are split at 65519 bytes,
 * sealed and framed; received frames are opened into one byte stream. Backpressure both ways:
 * a full raw socket holds back write callbacks, and a full readable side pauses the socket.
 * Large chunks may be sealed/opened on the worker pool; results are written in nonce order.
 */
import { Duplex } from 'node:stream';
import { piecesLength } from '../core/crypto/provider.js';
import type { CipherState } from '../protocols/noise/cipher-state.js';
import { stackless } from '../core/errors.js';
import { NonceExhausted } from '../protocols/noise/errors.js';
import type { U16FrameDecoder } from '../protocols/framing/u16-frame-decoder.js';
import { NoiseDecoder, NoiseEncoder, splitPlaintext } from '../protocols/noise/transport.js';
import type { TaskExecutor } from '../workers/executor.js';
import type { CryptoPolicy } from './crypto-policy.js';
import { SecureChannelDropped, type SecureChannelDropReason } from './errors.js';
import { TurnBudget, turnReader, type TurnReader } from './turn-budget.js';

/** Default buffering of each side, in bytes (four full Noise messages). */
const DEFAULT_HIGH_WATER_MARK = 256 * 1024;
const MAX_NONCE = 0xffff_ffff_ffff_fffen;
/** Largest plaintext held back (to the end of the turn) to join later writes; it is copied once. */
const TAIL_MAX = 8 * 1024;
/** What {@link SecureDuplex.discardInput} reads and drops at most, waiting for the peer's EOF. */
const MAX_DISCARD = 1024 * 1024;

/** Everything a SecureDuplex is built from. */
export interface SecureDuplexInit {
  send: CipherState;
  recv: CipherState;
  remoteStatic: Uint8Array;
  handshakeHash: Uint8Array;
  /** The handshake's frame decoder, possibly holding a partial transport frame. */
  decoder: U16FrameDecoder;
  /** Transport frames the handshake read ahead. */
  pending: Uint8Array[];
  policy: CryptoPolicy;
  executor?: TaskExecutor;
  highWaterMark?: number;
  /** The bytes per turn of the event loop this channel shares with others (its node's; default: the process's, {@link TurnBudget.shared}). */
  turns?: TurnBudget;
}

interface Slot {
  data: Uint8Array[] | undefined;
}

/** Reserve `count` consecutive nonces; returns the first. */
function reserveNonces(cipher: CipherState, count: number): bigint {
  const first = cipher.nonce;
  if (first + BigInt(count) - 1n > MAX_NONCE) throw new NonceExhausted();
  cipher.nonce = first + BigInt(count);
  return first;
}

/** The encrypted stream after the handshake: writes sealed and framed, frames opened into one byte stream. */
export class SecureDuplex extends Duplex {
  /** The peer's Noise static public key (X25519). */
  readonly remoteStatic: Uint8Array;
  /** The Noise handshake hash (channel binding). */
  readonly handshakeHash: Uint8Array;
  readonly #raw: Duplex;
  /** {@link discardInput} was called: raw bytes are dropped undecrypted. */
  #discarding = false;
  /** Bytes dropped since {@link discardInput}: past {@link MAX_DISCARD} the socket is no longer read. */
  #discarded = 0;
  /** The readable side was ended (push(null) done once). */
  #readableFinished = false;
  readonly #encoder: NoiseEncoder;
  readonly #decoder: NoiseDecoder;
  readonly #policy: CryptoPolicy;
  readonly #executor: TaskExecutor | undefined;
  readonly #out: Slot[] = [];
  readonly #in: Slot[] = [];
  #rawFull = false;
  /**
   * Short plaintext held back to join later writes (see {@link #sealInThread}):
   * its bytes are `#tail[0, #tailLength)`; the buffer exists only while something is held.
   */
  #tail: Buffer | undefined;
  #tailLength = 0;
  #tailScheduled = false;
  #tailUntilCheck = false;
  #writeCallback: ((err?: Error | null) => void) | undefined;
  #finalCallback: ((err?: Error | null) => void) | undefined;
  #rawEnded = false;
  #pushPaused = false;
  readonly #turns: TurnBudget;
  readonly #turnReader: TurnReader = turnReader();
  /** The turn's budget was spent: the connection is not read until the next turn. */
  #turnWait = false;

  constructor(raw: Duplex, init: SecureDuplexInit) {
    const hwm = init.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    super({ readableHighWaterMark: hwm, writableHighWaterMark: hwm, allowHalfOpen: true });
    this.#raw = raw;
    this.remoteStatic = init.remoteStatic;
    this.handshakeHash = init.handshakeHash;
    this.#encoder = new NoiseEncoder(init.send);
    this.#decoder = new NoiseDecoder(init.recv, init.decoder);
    this.#policy = init.policy;
    this.#executor = init.executor;
    this.#turns = init.turns ?? TurnBudget.shared;
    raw.on('drain', this.#onDrain);
    raw.on('data', this.#onData);
    raw.on('end', this.#onEnd);
    raw.on('error', this.#onError);
    raw.on('close', this.#onClose);
    try {
      this.#receiveFrames(init.pending);
    } catch (err) {
      process.nextTick(() => this.#fail(err as Error));
    }
    raw.resume();
  }

  // ---- outbound ----

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#sealWrites([chunk], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    this.#sealWrites(chunks.map((c) => c.chunk), callback);
  }

  /** Seal writes in order: together in this thread when none goes to the pool, else each on its own path. */
  #sealWrites(chunks: Buffer[], callback: (err?: Error | null) => void): void {
    try {
      if (!chunks.some((c) => this.#usePool(c.length))) {
        // In-thread: the queued writes become full messages across their boundaries.
        this.#sealInThread(chunks);
      } else {
        for (const chunk of chunks) {
          if (this.#usePool(chunk.length)) this.#seal(chunk);
          else this.#sealInThread([chunk]);
        }
      }
    } catch (err) {
      callback(err as Error);
      return;
    }
    this.#afterWrite(callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    try {
      this.#flushTail();
    } catch (err) {
      callback(err as Error);
      return;
    }
    if (this.#out.length === 0) {
      this.#raw.end();
      callback();
    } else {
      this.#finalCallback = callback;
    }
  }

  #usePool(length: number): boolean {
    return this.#executor !== undefined && length >= this.#policy.bulkPoolThreshold;
  }

  /**
   * Seal in this thread, as full messages across write boundaries. What is left after the last
   * full message, when short (up to {@link TAIL_MAX} bytes), is copied and held until the end
   * of the tick, so that writes made in the same tick join it: a burst of small writes becomes
   * one message, and a run of 64 KiB writes becomes full messages rather than a full and a
   * 17-byte one each. Writes are sealed in order; held bytes wait at most until the check phase
   * of the current turn of the event loop, or, while the connection is full, until its 'drain'.
   */
  #sealInThread(chunks: Uint8Array[]): void {
    if (this.#out.length > 0) {
      this.#out.push({ data: this.#encoder.encryptv(this.#takeTail(chunks)) });
      return;
    }
    const incoming = piecesLength(chunks);
    if (incoming === 0) {
      if (this.#tailLength === 0) this.#writeRaw(this.#encoder.encryptv(chunks)); // an empty write: one empty message, as before
      return;
    }
    if (this.#tailLength + incoming <= TAIL_MAX) {
      this.#hold(chunks);
      return;
    }
    const full: Uint8Array[] = [];
    const rest = this.#encoder.encryptFull(this.#takeTail(chunks), full);
    if (full.length > 0) this.#writeRaw(full);
    const left = piecesLength(rest);
    if (left === 0) return;
    if (left <= TAIL_MAX) this.#hold(rest); // views of this write only: the held tail went into the first full message
    else this.#writeRaw(this.#encoder.encryptv(rest));
  }

  /**
   * Append `pieces` (a copy: a writer may reuse its buffer once called back) to the held tail.
   * The tail buffer is sized to what it holds (doubling, at most {@link TAIL_MAX}): below 4 KiB
   * Node cuts it from its shared pool, where a fixed 8 KiB buffer per held tail was 8 KiB of
   * external memory per small message, and frequent full GCs with it.
   */
  #hold(pieces: readonly Uint8Array[]): void {
    const need = this.#tailLength + piecesLength(pieces);
    if (this.#tail === undefined || this.#tail.length < need) {
      const grown = Buffer.allocUnsafe(Math.min(TAIL_MAX, Math.max(need, 2 * (this.#tail?.length ?? 0), 256)));
      if (this.#tailLength > 0) grown.set(this.#tail!.subarray(0, this.#tailLength));
      this.#tail = grown;
    }
    for (const p of pieces) {
      this.#tail.set(p, this.#tailLength);
      this.#tailLength += p.length;
    }
    // A writer told to wait for 'drain' writes again once it is emitted (after this tick): then
    // the tail waits for the check phase to join that write; otherwise for this tick only.
    this.#scheduleTail(this.writableNeedDrain);
  }

  #scheduleTail(untilCheckPhase: boolean): void {
    if (this.#tailLength === 0) return;
    if (untilCheckPhase) this.#tailUntilCheck = true;
    if (this.#tailScheduled) return;
    this.#tailScheduled = true;
    if (untilCheckPhase) setImmediate(this.#onTailTick);
    else process.nextTick(this.#onTailTickEnd);
  }

  /**
   * The end of the tick a tail was held in. A writer waiting for our 'drain', or released by
   * the connection's since, writes again within this turn: the tail waits for the check phase.
   */
  readonly #onTailTickEnd = (): void => {
    if ((this.#tailUntilCheck || this.writableNeedDrain) && !this.#rawFull && !this.destroyed) {
      setImmediate(this.#onTailTick);
      return;
    }
    this.#onTailTick();
  };

  /** `chunks` behind the held tail (which is released: its bytes are sealed before it is reused). */
  #takeTail(chunks: Uint8Array[]): Uint8Array[] {
    if (this.#tailLength === 0) return chunks;
    const tail = this.#tail!.subarray(0, this.#tailLength);
    this.#tail = undefined;
    this.#tailLength = 0;
    return [tail, ...chunks];
  }

  readonly #onTailTick = (): void => {
    this.#tailScheduled = false;
    this.#tailUntilCheck = false;
    // While the connection is full the tail could not leave before its 'drain' anyway; writes
    // queued behind the held callback join it then.
    if (this.destroyed || this.#rawFull) return;
    try {
      this.#flushTail();
    } catch (err) {
      this.#fail(err as Error);
    }
  };

  /** Seal and send the held tail now, if any. */
  #flushTail(): void {
    if (this.#tailLength === 0) return;
    const parts = this.#encoder.encryptv(this.#takeTail([]));
    if (this.#out.length === 0) this.#writeRaw(parts);
    else this.#out.push({ data: parts });
  }

  /** Seal on the pool (after anything held back), written in nonce order by {@link #flushOut}. */
  #seal(chunk: Uint8Array): void {
    this.#flushTail();
    const plaintexts = splitPlaintext(chunk);
    const cipher = this.#encoder.cipher;
    const nonce = reserveNonces(cipher, plaintexts.length);
    const slot: Slot = { data: undefined };
    this.#out.push(slot);
    this.#executor!.run('transport.seal', { provider: cipher.provider.name, key: cipher.key!, nonce, plaintexts }).then(
      ({ wire }) => {
        slot.data = [wire];
        this.#flushOut();
      },
      (err: Error) => this.#fail(err),
    );
  }

  #flushOut(): void {
    while (this.#out.length > 0 && this.#out[0]!.data !== undefined) this.#writeRaw(this.#out.shift()!.data!);
    if (this.#out.length === 0 && this.#finalCallback !== undefined) {
      const cb = this.#finalCallback;
      this.#finalCallback = undefined;
      this.#raw.end();
      cb();
    }
    this.#releaseWriter();
  }

  #writeRaw(parts: Uint8Array[]): void {
    if (!this.#raw.writable) {
      this.#fail(dropped('closed-while-writing'));
      return;
    }
    let ok = true;
    if (parts.length === 1) {
      ok = this.#raw.write(parts[0]!);
    } else {
      this.#raw.cork();
      for (const p of parts) ok = this.#raw.write(p);
      this.#raw.uncork();
    }
    if (!ok) this.#rawFull = true;
  }

  #afterWrite(callback: (err?: Error | null) => void): void {
    if (this.#canAccept()) callback();
    else this.#writeCallback = callback;
  }

  #canAccept(): boolean {
    return !this.#rawFull && this.#out.length < this.#policy.maxInFlight;
  }

  #releaseWriter(): void {
    if (this.#writeCallback !== undefined && this.#canAccept()) {
      const cb = this.#writeCallback;
      this.#writeCallback = undefined;
      cb();
    }
  }

  readonly #onDrain = (): void => {
    this.#rawFull = false;
    this.#releaseWriter(); // queued writes are sealed now, behind the tail
    // The released writer may write more in reaction (a microtask or tick away): let it join.
    if (!this.#rawFull) this.#scheduleTail(true);
  };

  // ---- inbound ----

  /**
   * From now on the peer's bytes are dropped as they arrive, not decrypted: only its EOF is
   * awaited. For a connection that broke the protocol (the muxer reads nothing more from it
   * while it waits up to 2 s for the peer's EOF): a peer that keeps sending must not keep this
   * node decrypting. What was waiting to be decrypted or read is dropped too. Past
   * {@link MAX_DISCARD} bytes the socket is not read at all (a peer that heard the GoAway and
   * stopped has sent its EOF by then; one that floods on would keep this node's kernel copying
   * at its rate until the deadline, and its own sender busy): the deadline closes it.
   */
  discardInput(): void {
    if (this.#discarding) return;
    this.#discarding = true;
    this.#in.length = 0;
    this.#pushPaused = false;
    if (this.#rawEnded) this.#finishReadable();
    else this.#raw.resume();
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#discarding) {
      this.#discarded += chunk.length;
      if (this.#discarded > MAX_DISCARD) this.#raw.pause();
      return;
    }
    if (!this.#turns.admit(chunk.length, this.#turnReader)) {
      // The turn's budget is spent: the chunk goes back to the connection, whose reading stops
      // (the socket reads at most one more chunk into its buffer) until the next turn.
      this.#raw.pause();
      this.#raw.unshift(chunk);
      if (!this.#turnWait) {
        this.#turnWait = true;
        this.#turns.waitForNextTurn(this.#nextTurn);
      }
      return;
    }
    try {
      if (this.#usePool(chunk.length) || this.#in.length > 0) {
        this.#receiveFrames(this.#decoder.frames(chunk), chunk.length);
      } else {
        // In-thread: a message spread over reads is opened from its pieces, not reassembled.
        this.#pushAll(this.#decoder.decryptPieces(chunk));
      }
    } catch (err) {
      this.#fail(err as Error);
    }
  };

  #receiveFrames(frames: Uint8Array[], bytes = 0): void {
    if (frames.length === 0) return;
    if (!this.#usePool(bytes)) {
      const out: Uint8Array[] = [];
      for (const f of frames) this.#decoder.decryptFrame(f, out);
      if (this.#in.length === 0) this.#pushAll(out);
      else this.#in.push({ data: out });
      return;
    }
    const cipher = this.#decoder.cipher;
    const nonce = reserveNonces(cipher, frames.length);
    const slot: Slot = { data: undefined };
    this.#in.push(slot);
    if (this.#in.length >= this.#policy.maxInFlight) this.#raw.pause();
    this.#executor!.run('transport.open', { provider: cipher.provider.name, key: cipher.key!, nonce, frames }).then(
      ({ plaintext }) => {
        slot.data = plaintext.length > 0 ? [plaintext] : [];
        this.#flushIn();
      },
      (err: Error) => this.#fail(err),
    );
  }

  #flushIn(): void {
    if (this.#discarding) return; // dropped: discardInput ended the readable side itself
    while (this.#in.length > 0 && this.#in[0]!.data !== undefined) this.#pushAll(this.#in.shift()!.data!);
    if (this.#in.length === 0 && this.#rawEnded) this.#finishReadable();
    else this.#readOn();
  }

  /** Read the connection again, unless something holds it back: the reader is full, pool batches are in flight, or the turn's budget is spent. */
  #readOn(): void {
    if (!this.#pushPaused && !this.#turnWait && this.#in.length < this.#policy.maxInFlight && !this.#rawEnded) this.#raw.resume();
  }

  readonly #nextTurn = (): void => {
    this.#turnWait = false;
    // (Discarding input reads on regardless of turns, and has resumed the connection itself.)
    if (!this.destroyed && !this.#discarding) this.#readOn();
  };

  #pushAll(plaintexts: Uint8Array[]): void {
    for (const p of plaintexts) {
      if (!this.push(p)) {
        this.#pushPaused = true;
        this.#raw.pause();
      }
    }
  }

  override _read(): void {
    if (this.#discarded > MAX_DISCARD) return; // done reading: the deadline closes the connection
    this.#pushPaused = false;
    this.#readOn();
  }

  readonly #onEnd = (): void => {
    this.#rawEnded = true;
    if (this.#in.length === 0) this.#finishReadable();
  };

  /**
   * The peer's stream ended: at a frame boundary that is a normal end. Inside a transport frame
   * it is a lost connection (SecureChannelDropped, kind 'transport'), not a violation: PROTOCOL.md
   * section 2 makes an authentication failure fatal, and a frame cut short never reached its tag,
   * so it proves nothing against the peer. A peer killed while writing a message, a connection
   * cut on the way, or a FIN or reset forged by anyone on the path (the end of a TCP stream is
   * not authenticated) all leave one; counting it would let a network failure, or a third party,
   * have an honest key banned. A hostile peer gains nothing by it: the partial frame was budgeted
   * and never decrypted, and the listener's per-address limits apply as before. (While input is
   * discarded after a violation, a partial frame is no longer anyone's concern.)
   */
  #finishReadable(): void {
    if (this.#readableFinished) return;
    this.#readableFinished = true;
    if (!this.#discarding && !this.#decoder.idle) this.#fail(dropped('truncated-frame'));
    else this.push(null);
  }

  readonly #onError = (err: Error): void => this.#fail(err);

  readonly #onClose = (): void => {
    // The raw stream closed. Without its end first (a transport's close; a TCP reset arrives as
    // an error, above), nothing more will be read: it is the end it stands for, normal at a
    // frame boundary and a lost connection inside a frame (see #finishReadable), never a
    // violation. Nothing more can be written either: the channel closes once its sides are done.
    if (!this.#rawEnded) {
      this.#rawEnded = true;
      if (!this.#discarding && !this.#decoder.idle) return this.#fail(dropped('truncated-frame'));
      if (this.#in.length === 0) this.#finishReadable();
    }
    if (!this.writableFinished) this.destroy();
  };

  #fail(err: Error): void {
    if (!this.destroyed) this.destroy(err);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#raw.off('drain', this.#onDrain);
    this.#raw.off('data', this.#onData);
    this.#raw.off('end', this.#onEnd);
    this.#raw.off('error', this.#onError);
    this.#raw.off('close', this.#onClose);
    // Late errors of the raw stream (a write that was in flight) must not go unhandled.
    this.#raw.on('error', ignore);
    this.#raw.destroy();
    callback(err);
    // A write held back for backpressure (or the final flush) never completes now: fail it, so
    // that whoever waits on it (a message's outcome) learns so instead of waiting forever.
    const held = [this.#writeCallback, this.#finalCallback].filter((cb) => cb !== undefined);
    this.#writeCallback = undefined;
    this.#finalCallback = undefined;
    if (held.length === 0) return;
    const reason = err ?? dropped('destroyed-with-write-pending');
    for (const cb of held) process.nextTick(cb, reason);
  }
}

function ignore(): void {}

/** A lost connection's error (without a stack trace: peers can cause them at a high rate). */
function dropped(reason: SecureChannelDropReason): SecureChannelDropped {
  return stackless(() => new SecureChannelDropped(reason));
}
