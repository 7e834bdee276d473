/**
 * The transport contract: every connection starts here. A transport turns a multiaddr into a
 * connected byte stream (dial) or a stream of inbound byte streams (listen). Nothing above this
 * layer touches sockets. Every implementation runs `spec/compliance/transport.ts`.
 */
import type { Duplex } from 'node:stream';
import type { Multiaddr } from '@multiformats/multiaddr';

/** Options of a dial. */
export interface DialOptions {
  /** Cancels the dial; the promise rejects with `DialAborted`. */
  signal?: AbortSignal;
  /** Overrides the transport's dial timeout (ms); the promise rejects with `DialTimeout`. */
  timeoutMs?: number;
}

/**
 * How a connection arrived or left: straight over TCP (`tcp`: a socket a TCP listener accepted,
 * or a direct dial), in memory, through an onion service (`onion`: accepted on the local port
 * Tor forwards to, so its remote address is Tor's, 127.0.0.1), or through a SOCKS5 proxy.
 */
export type ConnectionVia = 'tcp' | 'memory' | 'onion' | 'socks';

/** A connected byte stream and where it goes. */
export interface TransportConnection {
  /** The bytes: half-close (`end()`) is passed on where the transport supports it. */
  readonly stream: Duplex;
  /** The dialed address (outbound) or the observed remote address where known (inbound). */
  readonly remoteAddress: Multiaddr | undefined;
  readonly direction: 'inbound' | 'outbound';
  /**
   * How the connection arrived (set by every transport here; undefined from others). Only a
   * `tcp` inbound connection's remote address is the peer's own: decisions by address (the
   * liveness allow-list) must not trust the others.
   */
  readonly via?: ConnectionVia;
}

/** An open listener. Iterating it yields inbound connections until it is closed. */
export interface TransportListener extends AsyncIterable<TransportConnection> {
  /** The bound address (port 0 replaced by the allocated port; `/onion3/...` for onion services). */
  readonly address: Multiaddr;
  /** Inbound connections dropped because the backlog was full and nobody was accepting. */
  readonly dropped: number;
  /** Stops accepting, ends iteration, destroys connections not yet taken. Idempotent. */
  close(): Promise<void>;
}

/** A way to reach peers. */
export interface Transport {
  /** A short name for logs and errors (`tcp`, `memory`, `socks5`, `tcp-with-tor`, `tor`). */
  readonly name: string;
  /** Whether `dial` accepts this address (no I/O). */
  canDial(address: Multiaddr): boolean;
  /** Connects; rejects with `UnsupportedAddress` at once for an address it does not handle. */
  dial(address: Multiaddr, options?: DialOptions): Promise<TransportConnection>;
  /** Listens; rejects with `UnsupportedAddress` for an address it cannot listen on. */
  listen(address: Multiaddr): Promise<TransportListener>;
}

/** Listener options shared by the implementations. */
export interface ListenerLimits {
  /** Inbound connections held while nobody is iterating (default 64); more are dropped. */
  backlog?: number;
}

/** Default dial timeout of direct transports (ms). */
export const DEFAULT_DIAL_TIMEOUT_MS = 10_000;
/** Default listener backlog. */
export const DEFAULT_BACKLOG = 64;
