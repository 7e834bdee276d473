/**
 * Where a handshake's crypto steps run: on this thread, or one step per task on the worker
 * pool (the DH operations of each message run in the worker).
 */
import type { CryptoProvider } from '../core/crypto/provider.js';
import { HandshakeState, type HandshakeInit, type HandshakeResult, type HandshakeSnapshot } from '../protocols/noise/handshake-state.js';
import type { TaskExecutor } from '../workers/executor.js';

const EMPTY = new Uint8Array(0);

/** A handshake whose steps may run elsewhere. */
export interface HandshakeEngine {
  write(): Promise<Uint8Array>;
  read(message: Uint8Array): Promise<Uint8Array>;
  readonly remoteStatic: Uint8Array | undefined;
  finish(): HandshakeResult;
}

/** Runs every step on this thread. */
export class InlineHandshakeEngine implements HandshakeEngine {
  readonly #state: HandshakeState;
  constructor(provider: CryptoProvider, init: HandshakeInit) {
    this.#state = new HandshakeState(provider, init);
  }
  async write(): Promise<Uint8Array> {
    return this.#state.writeMessage(EMPTY);
  }
  async read(message: Uint8Array): Promise<Uint8Array> {
    return this.#state.readMessage(message);
  }
  get remoteStatic(): Uint8Array | undefined {
    return this.#state.remoteStatic;
  }
  finish(): HandshakeResult {
    return this.#state.split();
  }
}

/** Runs each step as a `noise.write` / `noise.read` task on an executor (usually the pool). */
export class PooledHandshakeEngine implements HandshakeEngine {
  #snapshot: HandshakeSnapshot;
  constructor(readonly provider: CryptoProvider, init: HandshakeInit, readonly executor: TaskExecutor) {
    this.#snapshot = new HandshakeState(provider, init).snapshot();
  }
  async write(): Promise<Uint8Array> {
    const out = await this.executor.run('noise.write', { snapshot: this.#snapshot, payload: EMPTY });
    this.#snapshot = out.snapshot;
    return out.message;
  }
  async read(message: Uint8Array): Promise<Uint8Array> {
    const out = await this.executor.run('noise.read', { snapshot: this.#snapshot, message });
    this.#snapshot = out.snapshot;
    return out.payload;
  }
  get remoteStatic(): Uint8Array | undefined {
    return this.#snapshot.rs;
  }
  finish(): HandshakeResult {
    // Split on this thread: two HMACs, cheaper than a round trip.
    return new HandshakeState(this.provider, this.#snapshot).split();
  }
}

