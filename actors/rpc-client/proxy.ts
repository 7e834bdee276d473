/**
 * The typed client of a service (`RpcClient<S>`): one function per method, keyed by its local
 * name. A unary method returns a promise of the response; a server-streaming one an async
 * iterable of the items, whose call starts when iteration does (breaking out of the loop
 * cancels it: a FIN request). Each call is an {@link RpcClientCall} handed to `dispatch` (the
 * node's RPC client pool). Failures are `RpcError` for a non-Ok status; transport failures keep
 * their own typed errors.
 */
import type { TcommsError } from '../../core/errors.js';
import { RpcCallCancelled, type AnyRpcService, type RpcCallOptions, type RpcClient, type RpcMethodDefinition, type RpcServiceDefinition } from '../../protocols/rpc/index.js';
import { RpcClientCall } from './call.js';

/** Defaults of a typed client. */
export interface RpcClientOptions {
  /** `deadline_ms` of each call that gives none (default 120,000). */
  deadlineMs?: number;
}

/** Hands a call to whoever carries it (the RPC client pool). */
export type DispatchCall = (call: RpcClientCall) => void;

/** Items a stream call holds for a slow consumer before its session stops reading (bytes). */
const STREAM_HIGH_WATER_BYTES = 256 * 1024;
/** ... or items (many small ones). */
const STREAM_HIGH_WATER_ITEMS = 1024;

/** The typed client of `definition`'s service (see the module comment). */
export function rpcClientProxy<S extends AnyRpcService>(definition: RpcServiceDefinition<S>, dispatch: DispatchCall, defaults: RpcClientOptions = {}): RpcClient<S> {
  const client: Record<string, unknown> = {};
  for (const method of definition.methods.values()) {
    client[method.localName] =
      method.kind === 'unary'
        ? (request: unknown, options?: RpcCallOptions) => unaryCall(method, request, options ?? {}, defaults, dispatch)
        : (request: unknown, options?: RpcCallOptions) => streamCall(method, request, options ?? {}, defaults, dispatch);
  }
  return Object.freeze(client) as RpcClient<S>;
}

function unaryCall(method: RpcMethodDefinition, request: unknown, options: RpcCallOptions, defaults: RpcClientOptions, dispatch: DispatchCall): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) return reject(new RpcCallCancelled(0));
    let payload: Uint8Array;
    try {
      payload = method.encodeRequest(request as never);
    } catch (err) {
      return reject(err);
    }
    const onAbort = () => call.cancel();
    const done = () => signal?.removeEventListener('abort', onAbort);
    const call = new RpcClientCall(
      { method, payload, deadlineMs: options.deadlineMs ?? defaults.deadlineMs },
      {
        item: () => undefined, // a unary call has none (the session refuses them)
        response: (value) => {
          done();
          resolve(value);
        },
        end: () => undefined,
        fail: (error) => {
          done();
          reject(error);
        },
      },
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    dispatch(call);
  });
}

function streamCall(method: RpcMethodDefinition, request: unknown, options: RpcCallOptions, defaults: RpcClientOptions, dispatch: DispatchCall): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator]: () => new StreamIterator(method, request, options, defaults, dispatch),
  };
}

/** The items of one stream call, with backpressure on the session (see the module comment). */
class StreamIterator implements AsyncIterator<unknown> {
  readonly #call: RpcClientCall | undefined;
  readonly #signal: AbortSignal | undefined;
  #items: Array<{ value: unknown; size: number }> = [];
  #head = 0;
  #bytes = 0;
  #paused = false;
  #ended = false;
  #returned = false;
  #error: unknown;
  #waiter: { resolve: (r: IteratorResult<unknown>) => void; reject: (err: unknown) => void } | undefined;

  constructor(method: RpcMethodDefinition, request: unknown, options: RpcCallOptions, defaults: RpcClientOptions, dispatch: DispatchCall) {
    this.#signal = options.signal;
    if (options.signal?.aborted) {
      this.#error = new RpcCallCancelled(0);
      return;
    }
    let payload: Uint8Array;
    try {
      payload = method.encodeRequest(request as never);
    } catch (err) {
      this.#error = err;
      return;
    }
    this.#call = new RpcClientCall(
      { method, payload, deadlineMs: options.deadlineMs ?? defaults.deadlineMs },
      { item: (value, size) => this.#item(value, size), response: () => this.#finish(), end: () => this.#finish(), fail: (error) => this.#fail(error) },
    );
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
    dispatch(this.#call);
  }

  readonly #onAbort = () => this.#call?.cancel();

  next(): Promise<IteratorResult<unknown>> {
    if (this.#head < this.#items.length) {
      const { value, size } = this.#items[this.#head]!;
      this.#items[this.#head++] = undefined as never;
      this.#bytes -= size;
      if (this.#head === this.#items.length) {
        this.#items = [];
        this.#head = 0;
      }
      if (this.#paused && this.#bytes <= STREAM_HIGH_WATER_BYTES / 2 && this.#items.length - this.#head <= STREAM_HIGH_WATER_ITEMS / 2) {
        this.#paused = false;
        this.#call?.resume();
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#returned || this.#ended) return Promise.resolve({ value: undefined, done: true });
    if (this.#error !== undefined) {
      const error = this.#error;
      this.#returned = true; // thrown once
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  /** Breaking out of the loop: the call is cancelled unless it is over. */
  return(): Promise<IteratorResult<unknown>> {
    this.#returned = true;
    this.#items = [];
    this.#head = 0;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#call?.cancel();
    return Promise.resolve({ value: undefined, done: true });
  }

  #item(value: unknown, size: number): void {
    if (this.#returned) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      return waiter.resolve({ value, done: false });
    }
    this.#items.push({ value, size });
    this.#bytes += size;
    if (!this.#paused && (this.#bytes > STREAM_HIGH_WATER_BYTES || this.#items.length - this.#head > STREAM_HIGH_WATER_ITEMS)) {
      this.#paused = true;
      this.#call?.pause();
    }
  }

  #finish(): void {
    this.#ended = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve({ value: undefined, done: true });
  }

  #fail(error: TcommsError): void {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (this.#returned) return;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter) {
      this.#returned = true;
      return waiter.reject(error);
    }
    this.#error = error;
  }
}
