/**
 * Where a handshake's crypto steps run: on this thread, or one step per task on the worker
 * pool (the DH operations of each message run in the worker).
 */
import type { CryptoProvider } from '../core/crypto/provider.js';
import { HandshakeState, type HandshakeInit, type HandshakeResult, type HandshakeSnapshot, type HandshakeSteps } from '../protocols/noise/handshake-state.js';
import type { TaskExecutor } from '../workers/executor.js';
import type { X25519Service } from '../workers/x25519-service.js';

const EMPTY = new Uint8Array(0);

/** A handshake whose steps may run elsewhere. */
export interface HandshakeEngine {
  write(): Promise<Uint8Array>;
  read(message: Uint8Array): Promise<Uint8Array>;
  readonly remoteStatic: Uint8Array | undefined;
  finish(): HandshakeResult;
  /** The handshake is over (done or failed): release what it holds. Idempotent. */
  release(): void;
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
  release(): void {}
}

/**
 * Runs the handshake on this thread but every scalar multiplication on the
 * {@link X25519Service}: the ephemeral key pair from its reserve, each DH as a request.
 */
export class ServiceHandshakeEngine implements HandshakeEngine {
  readonly #state: HandshakeState;
  #released = false;
  constructor(provider: CryptoProvider, init: HandshakeInit, readonly service: X25519Service) {
    this.#state = new HandshakeState(provider, init.ephemeralKeys === undefined ? { ...init, ephemeralSource: () => service.take() } : init);
    service.enter();
  }
  write(): Promise<Uint8Array> {
    return this.#run(this.#state.writeSteps(EMPTY));
  }
  read(message: Uint8Array): Promise<Uint8Array> {
    return this.#run(this.#state.readSteps(message));
  }
  async #run(steps: HandshakeSteps): Promise<Uint8Array> {
    let step = steps.next();
    while (step.done !== true) step = steps.next(await this.service.dh(step.value.own, step.value.remote));
    return step.value;
  }
  get remoteStatic(): Uint8Array | undefined {
    return this.#state.remoteStatic;
  }
  finish(): HandshakeResult {
    const result = this.#state.split();
    this.release();
    return result;
  }
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.service.leave(this.#state.localEphemeral);
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
  release(): void {}
}

