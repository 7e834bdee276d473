/**
 * The X25519 service: every scalar multiplication of a handshake on a pool thread, the rest
 * of the handshake (hashing, AEAD, framing) on the caller's. A handshake side makes one key
 * pair and three DH operations (XX), about 55 and 40 us each with node:crypto on the 2-core
 * machines: most of its CPU. One long-lived `x25519.service` task on the pool makes key pairs
 * ahead of time into a bounded reserve and answers DH requests, over a MessagePort.
 *
 * - Every pair is handed out once. When the reserve is empty (the pool is starting, busy or
 *   gone) a pair is made on the spot, so a handshake never waits for one.
 * - Batches are read synchronously from the port as well, so a thread that never yields to its
 *   event loop (handshakes over in-memory pairs) still gets them.
 * - DH goes to the service only while four or more handshakes run (with fewer, this thread
 *   would just wait for the round trip), and then at most `min(maxPending, (active - 2) / 2)`
 *   requests at a time; otherwise it runs here, which balances the work between the two
 *   threads.
 * - A DH request that gets no answer within `dhTimeoutMs`, or that is pending when the service
 *   stops, is computed on this thread instead: the service can make a handshake slower, never
 *   fail it. Requests in flight are bounded (`maxPending`); beyond them DH runs here.
 */
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { CryptoProvider, X25519KeyPair } from '../core/crypto/provider.js';
import { ConfigError } from '../core/errors.js';
import type { TaskExecutor } from './executor.js';
import { errorFromReply, MAX_GENERATE, type KeyBatch, type ServiceReply, type ServiceRequest } from './tasks.js';

/** Options of an {@link X25519Service}. */
export interface X25519ServiceInit {
  /** Where the service task runs (a {@link PoolExecutor}; it holds one of its threads). */
  executor: TaskExecutor;
  provider: CryptoProvider;
  /** Key pairs kept ready at most (default 256). */
  capacity?: number;
  /** Key pairs asked for at a time (default 64). */
  batch?: number;
  /**
   * DH requests in flight at most; beyond them DH runs on this thread, so that both threads
   * stay busy under load (default 16, the best of 2 to 32 measured with 32 concurrent
   * handshakes).
   */
  maxPending?: number;
  /** A DH request unanswered this long is computed on this thread (default 2,000 ms). */
  dhTimeoutMs?: number;
  /** After the service failed, it is not started again for this many ms (default 1,000). */
  retryAfterMs?: number;
}

/** Forgotten secrets sent in one message when no request for pairs carried them sooner. */
export const FORGET_BATCH = 64;

/** Defaults of an {@link X25519Service}. */
export const DEFAULT_X25519_SERVICE = Object.freeze({ capacity: 256, batch: 64, maxPending: 16, dhTimeoutMs: 2_000, retryAfterMs: 1_000 });

/** What a service has done so far. */
export interface X25519ServiceStats {
  /** Pairs handed out from the reserve. */
  reserved: number;
  /** Pairs made on this thread because the reserve was empty. */
  inline: number;
  /** DH operations answered by the service. */
  offloaded: number;
  /** DH operations computed on this thread (no service, too many pending, timed out, service stopped). */
  inlineDh: number;
  /** Times the service failed (the pool closed, a worker crashed, a batch was refused). */
  failures: number;
}

interface Pending {
  own: X25519KeyPair;
  remote: Uint8Array;
  since: number;
  resolve: (shared: Uint8Array) => void;
  reject: (err: Error) => void;
}

/** Services shared per executor and provider, so that one pool thread serves every channel. */
const shared = new WeakMap<TaskExecutor, Map<string, X25519Service>>();

/** Key pairs ahead of time and DH operations on a pool thread (see the module comment). */
export class X25519Service {
  /**
   * The service every channel on `executor` with `provider` shares (made with the defaults on
   * first use): one task, and one pool thread held, however many channels there are.
   */
  static shared(executor: TaskExecutor, provider: CryptoProvider): X25519Service {
    let byProvider = shared.get(executor);
    if (byProvider === undefined) shared.set(executor, (byProvider = new Map()));
    let service = byProvider.get(provider.name);
    if (service === undefined || service.closed) byProvider.set(provider.name, (service = new X25519Service({ executor, provider })));
    return service;
  }

  /** Close every shared service on `executor` (before the executor itself closes). */
  static closeAll(executor: TaskExecutor): void {
    for (const service of shared.get(executor)?.values() ?? []) service.close();
    shared.delete(executor);
  }

  readonly capacity: number;
  readonly batch: number;
  readonly maxPending: number;
  readonly dhTimeoutMs: number;
  readonly retryAfterMs: number;
  readonly #executor: TaskExecutor;
  readonly #provider: CryptoProvider;
  readonly #keys: X25519KeyPair[] = [];
  /** Our end of the service's port while it runs. */
  #port: MessagePort | undefined;
  /** Pairs asked for and not received yet. */
  #requested = 0;
  readonly #pending = new Map<number, Pending>();
  /** Handshakes between {@link enter} and {@link leave}. */
  #active = 0;
  /** Secrets of finished handshakes the service has not been told about yet (at most {@link FORGET_BATCH}). */
  #forgotten: Uint8Array[] = [];
  #nextId = 1;
  #sweep: NodeJS.Timeout | undefined;
  #retryAt = 0;
  #closed = false;
  readonly #stats: X25519ServiceStats = { reserved: 0, inline: 0, offloaded: 0, inlineDh: 0, failures: 0 };

  constructor(init: X25519ServiceInit) {
    this.capacity = init.capacity ?? DEFAULT_X25519_SERVICE.capacity;
    this.batch = init.batch ?? DEFAULT_X25519_SERVICE.batch;
    this.maxPending = init.maxPending ?? DEFAULT_X25519_SERVICE.maxPending;
    this.dhTimeoutMs = init.dhTimeoutMs ?? DEFAULT_X25519_SERVICE.dhTimeoutMs;
    this.retryAfterMs = init.retryAfterMs ?? DEFAULT_X25519_SERVICE.retryAfterMs;
    if (!Number.isInteger(this.batch) || this.batch < 1 || this.batch > MAX_GENERATE) throw new ConfigError(`batch must be an integer in 1..${MAX_GENERATE}`);
    if (!Number.isInteger(this.capacity) || this.capacity < this.batch) throw new ConfigError('capacity must be an integer >= batch');
    if (!Number.isInteger(this.maxPending) || this.maxPending < 0) throw new ConfigError('maxPending must be an integer >= 0');
    if (!(this.dhTimeoutMs > 0)) throw new ConfigError('dhTimeoutMs must be > 0');
    if (!(this.retryAfterMs >= 0)) throw new ConfigError('retryAfterMs must be >= 0');
    this.#executor = init.executor;
    this.#provider = init.provider;
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Pairs ready now. */
  get size(): number {
    return this.#keys.length;
  }

  /** DH requests waiting for an answer. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Counters since construction. */
  get stats(): Readonly<X25519ServiceStats> {
    return { ...this.#stats };
  }

  /** A fresh key pair, never handed out before: from the reserve, or made now when it is empty. */
  take(): X25519KeyPair {
    this.#poll();
    const pair = this.#keys.pop();
    this.#ask();
    if (pair !== undefined) {
      this.#stats.reserved++;
      return pair;
    }
    this.#stats.inline++;
    return this.#provider.x25519Generate();
  }

  /**
   * X25519(own, remote), by the service when it runs (else here). Rejects only as the
   * provider's own DH would ({@link LowOrderPoint} and the like).
   */
  dh(own: X25519KeyPair, remote: Uint8Array): Promise<Uint8Array> {
    // A DH goes to the service only while enough other handshakes can keep this thread busy
    // during the round trip: alone, a handshake would just wait for the other thread.
    const limit = Math.min(this.maxPending, (this.#active - 2) >> 1);
    if (this.#pending.size >= limit) this.#poll();
    const port = this.#pending.size < limit ? (this.#port ?? this.#start(false)) : undefined;
    if (port === undefined) return this.#dhHere(own, remote);
    const id = this.#nextId++;
    const request: ServiceRequest = { t: 'dh', id, secret: own.secretKey, pub: own.publicKey, remote };
    port.postMessage(request);
    this.#sweep ??= setInterval(this.#expire, Math.max(10, this.dhTimeoutMs / 4)).unref();
    return new Promise((resolve, reject) => this.#pending.set(id, { own, remote, since: Date.now(), resolve, reject }));
  }

  /** A handshake using the service started (DH is offloaded only while four or more run). */
  enter(): void {
    this.#active++;
  }

  /** A handshake using the service ended, `ephemeral` its key pair when it made one. */
  leave(ephemeral?: X25519KeyPair): void {
    this.#active = Math.max(0, this.#active - 1);
    if (ephemeral !== undefined) this.forget(ephemeral);
  }

  /**
   * Tell the service a pair it made will not be used again (its handshake is over). Batched: the
   * secrets ride on the next request for pairs, or go in one message once
   * {@link FORGET_BATCH} wait (a message to the service per handshake cost about 30 us of this
   * thread's time per connection, and a wake-up of the service's).
   */
  forget(pair: X25519KeyPair): void {
    if (this.#port === undefined) return;
    this.#forgotten.push(pair.secretKey);
    if (this.#forgotten.length >= FORGET_BATCH) this.#port.postMessage({ t: 'forget', secrets: this.#takeForgotten() } satisfies ServiceRequest);
  }

  #takeForgotten(): Uint8Array[] {
    const secrets = this.#forgotten;
    this.#forgotten = [];
    return secrets;
  }

  /**
   * Fill the reserve (at start, say). Resolves when it is full, when the service failed, or
   * after `timeoutMs` (default 5,000), whichever comes first; returns the pairs ready.
   */
  async fill(timeoutMs = 5_000): Promise<number> {
    const until = Date.now() + timeoutMs;
    const failures = this.#stats.failures;
    this.#ask(true);
    const going = () => !this.#closed && this.#keys.length < this.capacity && this.#stats.failures === failures && Date.now() < until;
    while (going()) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      this.#poll();
      if (going()) this.#ask(true);
    }
    return this.#keys.length;
  }

  /** Stop the service (its pool thread is released), drop every pair kept, answer pending DH here. */
  close(): void {
    this.#closed = true;
    this.#keys.length = 0;
    this.#stop(this.#port, false);
  }

  #dhHere(own: X25519KeyPair, remote: Uint8Array): Promise<Uint8Array> {
    this.#stats.inlineDh++;
    try {
      return Promise.resolve(this.#provider.x25519DH(own, remote));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** Ask for another batch when the reserve has room for it. */
  #ask(force = false): void {
    if (this.#closed || this.#keys.length + this.#requested + this.batch > this.capacity) return;
    const port = this.#port ?? this.#start(force);
    if (port === undefined) return;
    const request: ServiceRequest = { t: 'gen', n: this.batch };
    if (this.#forgotten.length > 0) request.forget = this.#takeForgotten();
    port.postMessage(request);
    this.#requested += this.batch;
  }

  #start(force: boolean): MessagePort | undefined {
    if (this.#closed || (!force && Date.now() < this.#retryAt)) return undefined;
    const { port1, port2 } = new MessageChannel();
    // Replies also land while the event loop turns; the port never keeps a process alive.
    port1.on('message', (reply: ServiceReply) => this.#receive(port1, reply));
    port1.unref();
    this.#port = port1;
    this.#requested = 0;
    this.#executor.run('x25519.service', { provider: this.#provider.name, port: port2 }).then(
      () => this.#stop(port1, !this.#closed),
      () => this.#stop(port1, !this.#closed),
    );
    return port1;
  }

  /** Take every reply waiting on the port, synchronously. */
  #poll(): void {
    const port = this.#port;
    if (port === undefined || (this.#requested === 0 && this.#pending.size === 0)) return;
    for (let m = receiveMessageOnPort(port); m !== undefined && this.#port === port; m = receiveMessageOnPort(port)) this.#receive(port, m.message as ServiceReply);
  }

  #receive(port: MessagePort, reply: ServiceReply): void {
    if (this.#port !== port) return;
    if (reply.t === 'dh') {
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return; // answered here already (timed out)
      this.#pending.delete(reply.id);
      if ('shared' in reply) {
        this.#stats.offloaded++;
        pending.resolve(new Uint8Array(reply.shared.buffer, reply.shared.byteOffset, reply.shared.byteLength));
      } else {
        pending.reject(errorFromReply(reply.error));
      }
      return;
    }
    const count = Math.floor(reply.pairs.length / 64);
    this.#requested = Math.max(0, this.#requested - count);
    if (!this.#accept(reply, count)) this.#stop(port, true);
  }

  #accept(batch: KeyBatch, count: number): boolean {
    if (this.#closed) return true;
    const adopt = this.#provider.x25519Adopt;
    if (adopt !== undefined && batch.handles.length !== count) return false; // each pair would cost its scalar multiplication here after all
    const fresh: X25519KeyPair[] = [];
    try {
      for (let i = 0; i < count && this.#keys.length + fresh.length < this.capacity; i++) {
        const pair: X25519KeyPair = { secretKey: batch.pairs.slice(i * 64, i * 64 + 32), publicKey: batch.pairs.slice(i * 64 + 32, i * 64 + 64) };
        adopt?.call(this.#provider, pair, batch.handles[i]);
        fresh.push(pair);
      }
    } catch {
      return false;
    }
    for (const pair of fresh) this.#keys.push(pair);
    return true;
  }

  /** Answer here every request older than the timeout. */
  readonly #expire = (): void => {
    const cutoff = Date.now() - this.dhTimeoutMs;
    for (const [id, p] of this.#pending) if (p.since <= cutoff) this.#answerHere(id, p);
    if (this.#pending.size === 0) this.#stopSweep();
  };

  #stopSweep(): void {
    if (this.#sweep === undefined) return;
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  #answerHere(id: number, p: Pending): void {
    this.#pending.delete(id);
    this.#dhHere(p.own, p.remote).then(p.resolve, p.reject);
  }

  /** The service ended: `failed` when it was not asked to (counted, and retried later). */
  #stop(port: MessagePort | undefined, failed: boolean): void {
    if (port === undefined || this.#port !== port) return;
    this.#port = undefined;
    this.#requested = 0;
    this.#forgotten = []; // the service's pairs went with it
    port.close();
    for (const [id, p] of this.#pending) this.#answerHere(id, p);
    this.#stopSweep();
    if (failed) {
      this.#stats.failures++;
      this.#retryAt = Date.now() + this.retryAfterMs;
    }
  }
}
