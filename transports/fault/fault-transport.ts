/**
 * A fault-injection transport: wraps any {@link Transport} so that its connections' streams
 * drop, delay, duplicate, truncate, corrupt, stall and reset chunks, per direction, and its dials
 * and accepted connections are refused or delayed, each as a seeded generator decides with the
 * plan's probabilities. Faults can be turned on and off (and the plan changed) at run time. With
 * faults off it behaves as the transport it wraps (it runs the transport compliance suite).
 *
 * ```ts
 * const faulty = new FaultTransport(new MemoryTransport(), { seed: 42, plan: { inbound: { corrupt: 0.01 }, dial: { refuse: 0.1 } } });
 * // ... run, then:
 * faulty.disable(); // every delay and stall ends now; no more faults
 * ```
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import { Prng } from '../../core/prng.js';
import { ConnectionRefused, DialAborted, DialTimeout } from '../errors.js';
import type { DialOptions, Transport, TransportConnection, TransportListener } from '../transport.js';
import { DEFAULT_DIAL_TIMEOUT_MS } from '../transport.js';
import { FaultControl } from './control.js';
import { FaultStream } from './fault-stream.js';
import type { FaultPlan, FaultPlanInit } from './plan.js';

/** Options of a {@link FaultTransport}. */
export interface FaultTransportInit {
  /** Seeds every decision (per connection, per direction, per dial and accept). */
  seed: number;
  /** What goes wrong and how often (default: nothing). */
  plan?: FaultPlanInit;
  /** Whether faults are on from the start (default true). */
  enabled?: boolean;
}

/** A transport whose dials, accepts and streams suffer the faults of a plan. */
export class FaultTransport implements Transport {
  /** The wrapped transport's name: the node picks a listening transport by it. */
  readonly name: string;
  readonly #control: FaultControl;
  readonly #rng: Prng;
  readonly #dials: Prng;
  #connections = 0;

  constructor(
    readonly inner: Transport,
    init: FaultTransportInit,
  ) {
    this.name = inner.name;
    this.#control = new FaultControl(init.plan ?? {}, init.enabled ?? true);
    this.#rng = new Prng(init.seed);
    this.#dials = this.#rng.fork('dials');
  }

  /** Whether faults are on. */
  get enabled(): boolean {
    return this.#control.enabled;
  }

  /** The plan in force. */
  get plan(): FaultPlan {
    return this.#control.plan;
  }

  /** Replaces the plan (validated; throws ConfigError). */
  setPlan(plan: FaultPlanInit): void {
    this.#control.plan = plan;
  }

  /** Turns faults on. */
  enable(): void {
    this.#control.enable();
  }

  /** Turns faults off: every delay and stall in progress ends now; streams pass bytes as they are. */
  disable(): void {
    this.#control.disable();
  }

  /** Every fault injected so far, by `direction.kind` (`outbound.corrupt`, `dial.refuse`, ...). */
  counts(): Record<string, number> {
    return this.#control.counts();
  }

  /** Delays and stalls in progress. */
  get holds(): number {
    return this.#control.holds;
  }

  canDial(address: Multiaddr): boolean {
    return this.inner.canDial(address);
  }

  async dial(address: Multiaddr, options: DialOptions = {}): Promise<TransportConnection> {
    // An address the wrapped transport does not take fails there, at once and as it says.
    if (!this.inner.canDial(address)) return this.inner.dial(address, options);
    const plan = this.#control.plan;
    if (this.#control.happens('dial.refuse', plan.dial.refuse, this.#dials)) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      throw new ConnectionRefused(String(address));
    }
    let timeoutMs = options.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    if (this.#control.happens('dial.delay', plan.dial.delay, this.#dials)) {
      const ms = this.#control.duration('delay', this.#dials);
      if (ms >= timeoutMs) {
        await this.#pause(timeoutMs, options.signal, address);
        throw new DialTimeout(String(address), timeoutMs);
      }
      await this.#pause(ms, options.signal, address);
      timeoutMs -= ms;
    }
    const connection = await this.inner.dial(address, { ...options, timeoutMs });
    return this.#wrap(connection);
  }

  async listen(address: Multiaddr): Promise<TransportListener> {
    return new FaultListener(await this.inner.listen(address), this);
  }

  /** @internal the connection with its stream wrapped (each with a generator of its own). */
  wrap(connection: TransportConnection): TransportConnection {
    return this.#wrap(connection);
  }

  /** @internal an accepted connection's fate. */
  acceptFate(): 'refuse' | { delayMs: number } | 'pass' {
    const plan = this.#control.plan;
    if (this.#control.happens('accept.refuse', plan.accept.refuse, this.#dials)) return 'refuse';
    if (this.#control.happens('accept.delay', plan.accept.delay, this.#dials)) return { delayMs: this.#control.duration('delay', this.#dials) };
    return 'pass';
  }

  /** @internal waits `ms` (ended early when faults are turned off). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#control.hold(ms, resolve));
  }

  #wrap(connection: TransportConnection): TransportConnection {
    const stream = new FaultStream(connection.stream, this.#control, this.#rng.fork(`connection ${this.#connections++}`));
    return { ...connection, stream };
  }

  /** Waits `ms` unless `signal` aborts first (DialAborted). */
  #pause(ms: number, signal: AbortSignal | undefined, address: Multiaddr): Promise<void> {
    if (signal?.aborted) return Promise.reject(new DialAborted(String(address)));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        cancel();
        reject(new DialAborted(String(address)));
      };
      const cancel = this.#control.hold(ms, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** A listener whose accepted connections may be refused or delayed, and whose streams suffer faults. */
class FaultListener implements TransportListener {
  #refused = 0;

  constructor(
    readonly inner: TransportListener,
    readonly transport: FaultTransport,
  ) {}

  get address(): Multiaddr {
    return this.inner.address;
  }

  /** The wrapped listener's drops and the connections refused here. */
  get dropped(): number {
    return this.inner.dropped + this.#refused;
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<TransportConnection> {
    // Taken from the wrapped listener only when asked: its backlog bound still holds.
    const it = this.inner[Symbol.asyncIterator]();
    return {
      next: async () => {
        for (;;) {
          const r = await it.next();
          if (r.done === true) return r;
          const fate = this.transport.acceptFate();
          if (fate === 'refuse') {
            this.#refused++;
            r.value.stream.on('error', () => {});
            r.value.stream.destroy();
            continue;
          }
          if (fate !== 'pass') await this.transport.sleep(fate.delayMs);
          return { value: this.transport.wrap(r.value), done: false };
        }
      },
      return: async () => (await it.return?.()) ?? { value: undefined, done: true },
    };
  }
}
