/**
 * In-memory transport: `/memory/<n>` sockets within one process, for tests and for simulations
 * with hundreds of nodes. Connections are {@link duplexPair}s (backpressure, half-close, reset).
 * Listeners live in a {@link MemoryNetwork}; nodes that share one can reach each other.
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { ConnectionRefused, DialAborted, ListenFailed } from '../errors.js';
import { InboundQueue } from '../inbound-queue.js';
import { isSupported, supportedAddress } from '../supported.js';
import { DEFAULT_BACKLOG, type DialOptions, type ListenerLimits, type Transport, type TransportConnection, type TransportListener } from '../transport.js';
import { duplexPair } from './duplex-pair.js';

/** The registry of memory listeners that dials are resolved against. */
export class MemoryNetwork {
  readonly #listeners = new Map<number, InboundQueue>();
  #next = 1;

  /** Registers a listener at `id` (0 allocates a free id); returns the id. */
  bind(id: number, queue: InboundQueue): number {
    if (id === 0) {
      while (this.#listeners.has(this.#next)) this.#next++;
      id = this.#next++;
    } else if (this.#listeners.has(id)) {
      throw new ListenFailed(`/memory/${id}`, 'EADDRINUSE');
    }
    this.#listeners.set(id, queue);
    return id;
  }

  unbind(id: number, queue: InboundQueue): void {
    if (this.#listeners.get(id) === queue) this.#listeners.delete(id);
  }

  lookup(id: number): InboundQueue | undefined {
    return this.#listeners.get(id);
  }

  /** Number of open listeners. */
  get size(): number {
    return this.#listeners.size;
  }
}

/** The network used when none is given: every memory transport in the process shares it. */
export const defaultMemoryNetwork = new MemoryNetwork();

/** Options of {@link MemoryTransport}. */
export interface MemoryTransportInit extends ListenerLimits {
  network?: MemoryNetwork;
  /** Readable buffering of each end of a connection (bytes, default 64 KiB). */
  highWaterMark?: number;
}

const KINDS = ['memory'] as const;

/** In-process transport for tests and simulations: `/memory/<id>` addresses on a MemoryNetwork. */
export class MemoryTransport implements Transport {
  readonly name = 'memory';
  readonly network: MemoryNetwork;
  readonly #backlog: number;
  readonly #highWaterMark: number | undefined;

  constructor(init: MemoryTransportInit = {}) {
    this.network = init.network ?? defaultMemoryNetwork;
    this.#backlog = init.backlog ?? DEFAULT_BACKLOG;
    this.#highWaterMark = init.highWaterMark;
  }

  canDial(address: Multiaddr): boolean {
    return isSupported(address, 'dial', KINDS);
  }

  async dial(address: Multiaddr, options: DialOptions = {}): Promise<TransportConnection> {
    const { id } = supportedAddress(this.name, address, 'dial', KINDS);
    // Connect on a later turn, as a socket would, so a dial can be cancelled after it starts.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (options.signal?.aborted) throw new DialAborted(String(address));
    const queue = this.network.lookup(id);
    if (queue === undefined || queue.closed) throw new ConnectionRefused(String(address));
    const [local, remote] = duplexPair(this.#highWaterMark === undefined ? {} : { highWaterMark: this.#highWaterMark });
    if (!queue.push({ stream: remote, remoteAddress: undefined, direction: 'inbound', via: 'memory' })) {
      local.destroy();
      throw new ConnectionRefused(String(address));
    }
    return { stream: local, remoteAddress: address, direction: 'outbound', via: 'memory' };
  }

  async listen(address: Multiaddr): Promise<TransportListener> {
    const { id } = supportedAddress(this.name, address, 'listen', KINDS);
    const queue = new InboundQueue(this.#backlog);
    const bound = this.network.bind(id, queue);
    return new MemoryListener(this.network, bound, queue);
  }
}

class MemoryListener implements TransportListener {
  readonly address: Multiaddr;

  constructor(
    readonly network: MemoryNetwork,
    readonly id: number,
    readonly queue: InboundQueue,
  ) {
    this.address = multiaddr(`/memory/${id}`);
  }

  get dropped(): number {
    return this.queue.dropped;
  }

  async close(): Promise<void> {
    this.network.unbind(this.id, this.queue);
    this.queue.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<TransportConnection> {
    return this.queue[Symbol.asyncIterator]();
  }
}
