/**
 * Fault injection below the secure channel: a Duplex around a raw stream whose incoming bytes
 * are held while the gate is closed and delivered in order when it opens. Writes pass through.
 * Holding bytes (rather than dropping them) keeps the Noise stream intact: the peer behind a
 * closed gate is silent, not broken.
 */
import { Duplex } from 'node:stream';

export class Gate extends Duplex {
  #open = true;
  #held: Buffer[] = [];

  constructor(readonly inner: Duplex) {
    super();
    inner.on('data', (chunk: Buffer) => {
      if (this.#open) this.push(chunk);
      else this.#held.push(chunk);
    });
    inner.on('end', () => this.push(null));
    inner.on('close', () => this.destroy());
    inner.on('error', (err) => this.destroy(err));
  }

  get isOpen(): boolean {
    return this.#open;
  }

  close(): void {
    this.#open = false;
  }

  open(): void {
    this.#open = true;
    for (const chunk of this.#held.splice(0)) this.push(chunk);
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.inner.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.inner.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.inner.destroy();
    cb(err);
  }
}
