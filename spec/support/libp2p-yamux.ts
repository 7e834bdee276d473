/**
 * Test and bench support only: runs @chainsafe/libp2p-yamux (an independent yamux) over a Node
 * Duplex, through a small MultiaddrConnection adapter. libp2p 3 calls Promise.withResolvers,
 * which Node 20 lacks; the shim below defines it only when missing (never in library code).
 */
import type { Duplex } from 'node:stream';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}
const P = Promise as unknown as { withResolvers?: <T>() => Deferred<T> };
if (typeof P.withResolvers !== 'function') {
  P.withResolvers = function withResolvers<T>(): Deferred<T> {
    let resolve!: Deferred<T>['resolve'];
    let reject!: Deferred<T>['reject'];
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

const { AbstractMultiaddrConnection } = await import('@libp2p/utils');
const { yamux } = await import('@chainsafe/libp2p-yamux');
const { defaultLogger } = await import('@libp2p/logger');
const { multiaddr } = await import('@multiformats/multiaddr');
type Uint8ArrayList = { subarray(): Uint8Array } | Uint8Array;

let nextId = 0;

/** A libp2p MultiaddrConnection over a Node Duplex. */
class DuplexConnection extends AbstractMultiaddrConnection {
  readonly #duplex: Duplex;
  constructor(duplex: Duplex, direction: 'inbound' | 'outbound') {
    const id = `duplex-${nextId++}`;
    super({ remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/1'), direction, log: defaultLogger().forComponent(`tcomms:interop:${id}`) });
    this.#duplex = duplex;
    duplex.on('data', (chunk: Buffer) => {
      if (this.status === 'open') this.onData(chunk);
    });
    duplex.on('drain', () => this.safeDispatchEvent('drain'));
    duplex.on('end', () => this.onRemoteCloseWrite());
    duplex.on('close', () => this.onTransportClosed());
    duplex.on('error', () => {});
  }
  sendData(data: Uint8ArrayList): { sentBytes: number; canSendMore: boolean } {
    const bytes = data instanceof Uint8Array ? data : data.subarray();
    return { sentBytes: bytes.byteLength, canSendMore: this.#duplex.write(bytes) };
  }
  sendReset(): void {
    this.#duplex.destroy();
  }
  async sendClose(): Promise<void> {
    await new Promise<void>((resolve) => this.#duplex.end(resolve));
  }
  sendPause(): void {
    this.#duplex.pause();
  }
  sendResume(): void {
    this.#duplex.resume();
  }
}

/** Their muxer and its stream type, as far as tests and the bench use them. */
export type Libp2pYamuxMuxer = ReturnType<ReturnType<ReturnType<typeof yamux>>['createStreamMuxer']>;

/** @chainsafe/libp2p-yamux on one end of a Duplex. `client` is the dialing side. */
export function libp2pYamux(duplex: Duplex, client: boolean, init: Record<string, unknown> = {}): Libp2pYamuxMuxer {
  const conn = new DuplexConnection(duplex, client ? 'outbound' : 'inbound');
  return yamux({ enableKeepAlive: false, ...init })().createStreamMuxer(conn);
}
