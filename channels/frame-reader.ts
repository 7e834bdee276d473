/**
 * Pulls u16-framed messages from a raw Duplex one at a time, with a timeout and an AbortSignal.
 * Pull mode (`read()`) gives backpressure: nothing is read that is not needed. When the
 * handshake ends, {@link FrameReader.detach} hands over the frames read ahead and the decoder.
 */
import type { Duplex } from 'node:stream';
import { U16FrameDecoder } from '../protocols/framing/u16-frame-decoder.js';
import { UnexpectedEof } from '../protocols/noise/errors.js';
import { HandshakeAborted, HandshakeTimeout } from './errors.js';
import { stackless } from '../core/errors.js';

/** Reads u16-framed messages from a Duplex within a deadline (the handshake's receive path). */
export class FrameReader {
  readonly #pending: Uint8Array[] = [];
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  readonly #onReadable = () => this.#wake?.();
  readonly #onEnd = () => {
    this.#ended = true;
    this.#wake?.();
  };
  readonly #onError = (err: Error) => {
    this.#error = err;
    this.#wake?.();
  };
  readonly #onClose = () => this.#onEnd();

  constructor(readonly raw: Duplex, readonly decoder: U16FrameDecoder) {
    raw.on('readable', this.#onReadable);
    raw.on('end', this.#onEnd);
    raw.on('error', this.#onError);
    raw.on('close', this.#onClose);
  }

  /** The next frame, within `timeoutMs`. Rejects with HandshakeTimeout, HandshakeAborted, UnexpectedEof or a decoder error. */
  async next(timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.#pending.shift();
      if (frame !== undefined) return frame;
      if (this.#error !== undefined) throw this.#error;
      if (signal?.aborted) throw stackless(() => new HandshakeAborted(signal.reason));
      const chunk = this.raw.read() as Buffer | null;
      if (chunk !== null) {
        this.#pending.push(...this.decoder.push(chunk));
        continue;
      }
      if (this.#ended || this.raw.destroyed) throw stackless(() => new UnexpectedEof('the Noise handshake'));
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw stackless(() => new HandshakeTimeout(timeoutMs));
      await this.#waitForActivity(remaining, signal);
    }
  }

  #waitForActivity(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
  }

  /** Stop reading; returns the frames read ahead (they belong to the next phase). */
  detach(): Uint8Array[] {
    this.raw.off('readable', this.#onReadable);
    this.raw.off('end', this.#onEnd);
    this.raw.off('error', this.#onError);
    this.raw.off('close', this.#onClose);
    return this.#pending.splice(0);
  }

  /** True when the raw stream ended during the handshake (no more frames will come). */
  get ended(): boolean {
    return this.#ended;
  }
}
