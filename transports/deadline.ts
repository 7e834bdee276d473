/**
 * One deadline per dial: the caller's AbortSignal and the dial timeout folded into one signal,
 * and the typed error that explains why it fired. Every step of a dial (TCP connect, SOCKS
 * handshake) listens to the same signal, so no step can outlive the dial.
 */
import { connect, type Socket, type TcpNetConnectOpts } from 'node:net';
import { DialAborted, DialFailed, DialTimeout, ConnectionRefused } from './errors.js';
import type { DialOptions } from './transport.js';

/** One AbortSignal for a dial: the caller's signal and the timeout folded together. */
export class DialDeadline {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  readonly #onAbort = () => this.#fire(new DialAborted(this.address));
  #reason: DialAborted | DialTimeout | undefined;

  constructor(
    readonly address: string,
    options: DialOptions,
    defaultTimeoutMs: number,
    private readonly outer = options.signal,
  ) {
    const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
    this.#timer = setTimeout(() => this.#fire(new DialTimeout(address, timeoutMs)), timeoutMs);
    if (outer?.aborted) this.#onAbort();
    else outer?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Aborted when the dial must stop. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Why the deadline fired, or undefined. */
  get reason(): DialAborted | DialTimeout | undefined {
    return this.#reason;
  }

  /** Throws the deadline's error if it has fired. */
  check(): void {
    if (this.#reason) throw this.#reason;
  }

  /** Releases the timer and the listener on the caller's signal. Call once the dial settles. */
  done(): void {
    clearTimeout(this.#timer);
    this.outer?.removeEventListener('abort', this.#onAbort);
  }

  #fire(reason: DialAborted | DialTimeout): void {
    if (this.#reason) return;
    this.#reason = reason;
    this.#controller.abort(reason);
  }
}

/** Maps a socket error to the typed dial error. */
export function dialError(address: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'UNKNOWN';
  if (code === 'ECONNREFUSED') return new ConnectionRefused(address, { cause: err });
  return new DialFailed(address, code, { cause: err });
}

/**
 * Opens a TCP connection under a deadline: resolves on connect, rejects with a typed error, and
 * destroys the socket when the deadline fires first. The socket is half-open capable, no-delay.
 */
export function connectTcp(options: TcpNetConnectOpts, deadline: DialDeadline, address = deadline.address): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    deadline.check();
    const socket = connect({ ...options, noDelay: true, allowHalfOpen: true });
    const cleanup = () => {
      socket.off('connect', onConnect);
      socket.off('error', onError);
      deadline.signal.removeEventListener('abort', onAbort);
    };
    const onConnect = () => {
      cleanup();
      resolve(socket);
    };
    const onError = (err: Error) => {
      cleanup();
      socket.destroy();
      reject(deadline.reason ?? dialError(address, err));
    };
    const onAbort = () => {
      cleanup();
      socket.on('error', () => {});
      socket.destroy();
      reject(deadline.reason);
    };
    socket.once('connect', onConnect);
    socket.once('error', onError);
    deadline.signal.addEventListener('abort', onAbort, { once: true });
  });
}
