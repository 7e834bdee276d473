/**
 * TCP transport: `/ip4`, `/ip6`, `/dns4`, `/dns6` + `/tcp`. Sockets are no-delay and half-open
 * capable (a FIN is passed on as the end of the stream). DNS names resolve in the requested
 * family only (`dns4` never yields an IPv6 address).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { ListenFailed } from '../errors.js';
import { connectTcp, DialDeadline } from '../deadline.js';
import { InboundQueue } from '../inbound-queue.js';
import { isSupported, supportedAddress } from '../supported.js';
import {
  DEFAULT_BACKLOG,
  DEFAULT_DIAL_TIMEOUT_MS,
  type DialOptions,
  type ListenerLimits,
  type Transport,
  type TransportConnection,
  type TransportListener,
} from '../transport.js';

/** Options of {@link TcpTransport}. */
export interface TcpTransportInit extends ListenerLimits {
  /** Dial timeout in ms (default 10 000). */
  dialTimeoutMs?: number;
}

const DIAL_KINDS = ['ip4', 'ip6', 'dns4', 'dns6'] as const;
const LISTEN_KINDS = ['ip4', 'ip6'] as const;

/** The observed address of a socket's remote end. */
function remoteOf(socket: Socket): Multiaddr | undefined {
  const { remoteAddress, remoteFamily, remotePort } = socket;
  if (remoteAddress === undefined || remotePort === undefined) return undefined;
  return multiaddr(`/${remoteFamily === 'IPv6' ? 'ip6' : 'ip4'}/${remoteAddress}/tcp/${remotePort}`);
}

/** TCP over ip4, ip6, dns4 and dns6, with nodelay and half-open sockets. */
export class TcpTransport implements Transport {
  readonly name = 'tcp';
  readonly #dialTimeoutMs: number;
  readonly #backlog: number;

  constructor(init: TcpTransportInit = {}) {
    this.#dialTimeoutMs = init.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    this.#backlog = init.backlog ?? DEFAULT_BACKLOG;
  }

  canDial(address: Multiaddr): boolean {
    return isSupported(address, 'dial', DIAL_KINDS);
  }

  async dial(address: Multiaddr, options: DialOptions = {}): Promise<TransportConnection> {
    const target = supportedAddress(this.name, address, 'dial', DIAL_KINDS);
    const deadline = new DialDeadline(String(address), options, this.#dialTimeoutMs);
    try {
      const family = target.kind === 'ip4' || target.kind === 'dns4' ? 4 : 6;
      const socket = await connectTcp({ host: target.host, port: target.port, family }, deadline);
      return { stream: socket, remoteAddress: address, direction: 'outbound', via: 'tcp' };
    } finally {
      deadline.done();
    }
  }

  async listen(address: Multiaddr): Promise<TransportListener> {
    const target = supportedAddress(this.name, address, 'listen', LISTEN_KINDS);
    const queue = new InboundQueue(this.#backlog);
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      socket.on('error', () => {}); // until the node attaches its own handling
      queue.push({ stream: socket, remoteAddress: remoteOf(socket), direction: 'inbound', via: 'tcp' });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new ListenFailed(String(address), err.code ?? 'UNKNOWN', { cause: err })));
      server.listen({ host: target.host, port: target.port, ipv6Only: target.kind === 'ip6', backlog: 511 }, resolve);
    });
    server.on('error', () => queue.close());
    const bound = server.address() as { address: string; port: number };
    return new TcpListener(server, queue, multiaddr(`/${target.kind}/${bound.address}/tcp/${bound.port}`));
  }
}

class TcpListener implements TransportListener {
  constructor(
    readonly server: Server,
    readonly queue: InboundQueue,
    readonly address: Multiaddr,
  ) {}

  get dropped(): number {
    return this.queue.dropped;
  }

  async close(): Promise<void> {
    this.queue.close();
    // Connections already handed out belong to the node; only the listening socket closes here
    // (server.close's callback would wait for every one of them to end).
    if (this.server.listening) this.server.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<TransportConnection> {
    return this.queue[Symbol.asyncIterator]();
  }
}
