/**
 * The RPC client pool's bookkeeping (data, not behaviour: the decisions are the pool's chart).
 * Per peer and service protocol: its sessions (host keys), the idle ones, and the calls waiting
 * for one. One call is in flight per session (PROTOCOL.md section 8), so the least busy session
 * is an idle one; without one, a call waits in the pool's queue, and the first session to finish
 * its call takes it.
 */
import { toHex } from '../../core/bytes.js';
import type { TcommsError } from '../../core/errors.js';
import type { PublicKey } from '../../core/keys.js';
import type { RpcClientCall } from './call.js';

/**
 * The calls waiting for a session of one peer and protocol, in order. Shared by the pool, which
 * queues calls, and its sessions, which take the next one as they finish a call (the data path
 * stays out of the mailboxes).
 */
export class CallQueue {
  #waiting: RpcClientCall[] = [];
  #head = 0;

  /** Calls queued (settled ones included until they are skipped). */
  get length(): number {
    return this.#waiting.length - this.#head;
  }

  push(call: RpcClientCall, front = false): void {
    if (!front) return void this.#waiting.push(call);
    this.#waiting = [call, ...this.#waiting.slice(this.#head)];
    this.#head = 0;
  }

  /** The next waiting call that has not settled (cancelled ones are dropped here). */
  next(): RpcClientCall | undefined {
    while (this.#head < this.#waiting.length) {
      const call = this.#waiting[this.#head]!;
      this.#waiting[this.#head++] = undefined as never;
      if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
        this.#waiting = this.#waiting.slice(this.#head);
        this.#head = 0;
      }
      if (!call.done) return call;
    }
    if (this.#head > 0) {
      this.#waiting = [];
      this.#head = 0;
    }
    return undefined;
  }

  /** True when a waiting call has not settled (settled ones at the front are dropped). */
  hasWaiting(): boolean {
    while (this.#head < this.#waiting.length && this.#waiting[this.#head]!.done) this.#waiting[this.#head++] = undefined as never;
    return this.#head < this.#waiting.length;
  }

  /** Fails every waiting call. */
  failAll(error: () => TcommsError): void {
    for (let call = this.next(); call; call = this.next()) call.fail(error());
  }
}

/** The sessions and waiting calls of one peer and protocol. */
export class PeerPool {
  readonly sessions = new Set<string>();
  /** Idle sessions, the most recently idle last (taken first: the others may idle out). */
  readonly idle: string[] = [];
  readonly queue = new CallQueue();

  constructor(
    readonly key: string,
    readonly publicKey: PublicKey,
    readonly protocol: string,
  ) {}
}

/** Every pool of the node's RPC client, and which session is whose. */
export class ClientPools {
  readonly #pools = new Map<string, PeerPool>();
  readonly #bySession = new Map<string, PeerPool>();
  /** Session key -> the call it was given and has not finished. */
  readonly #busy = new Map<string, RpcClientCall>();
  /** Public keys seen lately (one per typed client), as hex: a call's pool is found without hexing its key. */
  readonly #hex = new WeakMap<PublicKey, string>();
  #started = 0;

  /** The pool of a peer and protocol (made when first asked for). */
  pool(publicKey: PublicKey, protocol: string): PeerPool {
    let hex = this.#hex.get(publicKey);
    if (hex === undefined) this.#hex.set(publicKey, (hex = toHex(publicKey)));
    const key = `${hex}|${protocol}`;
    let p = this.#pools.get(key);
    if (!p) this.#pools.set(key, (p = new PeerPool(key, publicKey, protocol)));
    return p;
  }

  /** The pool of a peer and protocol, if there is one (none is made). */
  existing(publicKey: PublicKey, protocol: string): PeerPool | undefined {
    const hex = this.#hex.get(publicKey);
    return hex === undefined ? undefined : this.#pools.get(`${hex}|${protocol}`);
  }

  /** The pool a session belongs to. */
  poolOf(session: string): PeerPool | undefined {
    return this.#bySession.get(session);
  }

  /** Sessions of every pool. */
  get sessions(): number {
    return this.#bySession.size;
  }

  sessionKeys(): string[] {
    return [...this.#bySession.keys()];
  }

  pools(): PeerPool[] {
    return [...this.#pools.values()];
  }

  /** A new session in `pool`; returns its key and its number (for its actor id). */
  addSession(pool: PeerPool): { key: string; n: number } {
    const n = ++this.#started;
    const key = String(n);
    pool.sessions.add(key);
    this.#bySession.set(key, pool);
    return { key, n };
  }

  /** Takes an idle session of `pool` for `call`. */
  lease(pool: PeerPool, call: RpcClientCall): string | undefined {
    const key = pool.idle.pop();
    if (key !== undefined) this.#busy.set(key, call);
    return key;
  }

  /** `session` took `call`. */
  busy(session: string, call: RpcClientCall): void {
    this.#busy.set(session, call);
  }

  /** `session` gave `call` back without starting it (it was no longer idle): the call is no longer its. */
  returned(session: string, call: RpcClientCall): void {
    if (this.#busy.get(session) === call) this.#busy.delete(session);
  }

  /** `session` is idle again. */
  idle(session: string): void {
    this.#busy.delete(session);
    const pool = this.#bySession.get(session);
    if (pool && !pool.idle.includes(session)) pool.idle.push(session);
  }

  /**
   * `session` is over: it leaves its pool. A call it was given and never started goes back to
   * the front of the pool's queue (one it started, it settled).
   */
  forget(session: string): PeerPool | undefined {
    const pool = this.#bySession.get(session);
    this.#bySession.delete(session);
    const call = this.#busy.get(session);
    this.#busy.delete(session);
    if (!pool) return undefined;
    pool.sessions.delete(session);
    const i = pool.idle.indexOf(session);
    if (i !== -1) pool.idle.splice(i, 1);
    if (call && !call.done && !call.carried) pool.queue.push(call, true);
    return pool;
  }

  /** A call given to `session` and not started yet (it would go back to the queue when the session ends). */
  unstarted(session: string): RpcClientCall | undefined {
    const call = this.#busy.get(session);
    return call && !call.done && !call.carried ? call : undefined;
  }

  /** Forgets a pool with no session and no waiting call. */
  tidy(pool: PeerPool | undefined): void {
    if (pool && pool.sessions.size === 0 && !pool.queue.hasWaiting()) this.#pools.delete(pool.key);
  }
}
