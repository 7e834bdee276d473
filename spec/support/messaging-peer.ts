/**
 * The far end of messaging substreams (PROTOCOL.md section 6) on a real upgraded connection,
 * for actor tests: every substream the near side opens is negotiated by the far peer and kept,
 * with the frames it decodes (`MessageFrameDecoder`), whether it saw our FIN, and whether it
 * closed. A test decides when a substream is read (a far end that does not read holds the
 * writer through the yamux window) and can reset one, or write on it (a protocol error).
 */
import { negotiateInbound } from '../../channels/negotiate.js';
import type { PeerConnection } from '../../channels/upgrade.js';
import type { YamuxStream } from '../../channels/yamux/stream.js';
import { MESSAGING_PROTOCOL, MessageFrameDecoder } from '../../protocols/messaging/index.js';

/** One messaging substream as the far peer sees it. */
export class FarSubstream {
  /** Bodies decoded, in order. */
  readonly bodies: Uint8Array[] = [];
  /** The near side ended its side (FIN) and everything before it was read. */
  ended = false;
  /** The substream is gone (reset by either side, or closed both ways). */
  closed = false;
  error: Error | undefined;
  #decoder = new MessageFrameDecoder(64 * 1024 * 1024);
  #reading = false;

  constructor(readonly stream: YamuxStream) {
    stream.on('error', (err) => (this.error = err));
    stream.on('close', () => (this.closed = true));
    stream.on('end', () => {
      this.ended = true;
      stream.end(); // the acceptor never writes: close our side too, as the real handler does
    });
  }

  /** The yamux stream id (the same at both ends). */
  get id(): number {
    return this.stream.id;
  }

  /** Bytes received and not read yet. */
  get unread(): number {
    return this.stream.readableLength + this.stream.queuedBytes;
  }

  /** Starts reading (and decoding) everything, from now on. */
  read(): void {
    if (this.#reading) return;
    this.#reading = true;
    this.stream.on('data', (chunk: Buffer) => {
      for (const body of this.#decoder.push(chunk)) this.bodies.push(body);
    });
    this.stream.resume(); // (it was paused explicitly: a data listener alone does not resume it)
  }
}

/** The far peer of a connection: it accepts messaging substreams and keeps them, in the order they were opened. */
export class MessagingPeer {
  readonly substreams: FarSubstream[] = [];

  /** `far` is the far peer's connection (its inbound substreams are ours); `read`: read each substream from the start. */
  constructor(
    readonly far: PeerConnection,
    readonly options: { read: boolean },
  ) {
    far.on('stream', (stream) => {
      stream.on('error', () => {});
      negotiateInbound(stream, new Set([MESSAGING_PROTOCOL])).then(
        () => {
          stream.pause();
          const sub = new FarSubstream(stream);
          this.substreams.push(sub);
          if (options.read) sub.read();
        },
        () => undefined,
      );
    });
    far.release();
  }

  /** The substream with yamux id `id`, once negotiated. */
  byId(id: number): FarSubstream | undefined {
    return this.substreams.find((s) => s.id === id);
  }

  /** Every body decoded, substream after substream, as text labels (their first bytes up to a NUL). */
  labels(): string[] {
    return this.substreams.flatMap((s) => s.bodies.map(labelOf));
  }
}

/** A body of `size` bytes that starts with `label` (then NULs), so that a decoded body names itself. */
export function labelled(label: string, size: number): Uint8Array {
  const body = Buffer.alloc(Math.max(size, label.length + 1));
  body.write(label, 'latin1');
  return body;
}

/** The label of a body made by {@link labelled}. */
export function labelOf(body: Uint8Array): string {
  const end = body.indexOf(0);
  return Buffer.from(body.subarray(0, end < 0 ? body.length : end)).toString('latin1');
}
