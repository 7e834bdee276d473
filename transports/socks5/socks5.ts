/**
 * SOCKS5 transport: CONNECT through a proxy with the `socks` package, no-auth or
 * username/password. Names (`/dns4`, `/dns6`, `/onion3`) are sent to the proxy as domain names,
 * so nothing is resolved locally (no DNS leak). The proxy's replies are also read by a strict
 * reader of our own ({@link Socks5ReplyReader}), which turns every failure into a typed error
 * (reply codes, bad credentials, malformed replies) instead of the package's message strings.
 */
import type { Socket } from 'node:net';
import type { Multiaddr } from '@multiformats/multiaddr';
import type { SocksClient, SocksClientOptions } from 'socks';
import { ConfigError } from '../../core/errors.js';
import type { AddressKind } from '../../core/address.js';
import { METHOD_NO_AUTH, METHOD_USER_PASS, Socks5ReplyMalformed, Socks5ReplyReader } from '../../protocols/socks5/index.js';
import { connectTcp, DialDeadline } from '../deadline.js';
import { DialFailed, UnsupportedAddress } from '../errors.js';
import { isSupported, supportedAddress } from '../supported.js';
import type { DialOptions, Transport, TransportConnection, TransportListener } from '../transport.js';

/** Where the proxy is and how to log in. */
export interface Socks5Proxy {
  host: string;
  port: number;
  /** Username and password (RFC 1929), each 1..255 bytes; omit both for no authentication. */
  username?: string;
  password?: string;
}

/** Options of {@link Socks5Transport}. */
export interface Socks5TransportInit {
  proxy: Socks5Proxy;
  /** Dial timeout in ms, proxy connect and SOCKS exchange included (default 30 000: Tor is slow). */
  dialTimeoutMs?: number;
  /** The address kinds sent through the proxy (default: all of ip4, ip6, dns4, dns6, onion3). */
  kinds?: readonly AddressKind[];
}

/** The proxy could not be reached at all. */
export class Socks5ProxyUnreachable extends DialFailed {}

const ALL_KINDS: readonly AddressKind[] = ['ip4', 'ip6', 'dns4', 'dns6', 'onion3'];

/** Parses `socks5://[USER:PASS@]HOST:PORT` (the command line's `--proxy`). */
export function parseProxyUrl(url: string): Socks5Proxy {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new ConfigError(`not a proxy URL: ${url}`, { cause });
  }
  if (parsed.protocol !== 'socks5:' && parsed.protocol !== 'socks5h:') throw new ConfigError(`proxy URL must be socks5://, got ${parsed.protocol}`);
  const port = Number(parsed.port);
  if (!parsed.hostname || !Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`proxy URL needs a host and a port: ${url}`);
  const proxy: Socks5Proxy = { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port };
  if (parsed.username || parsed.password) {
    proxy.username = decodeURIComponent(parsed.username);
    proxy.password = decodeURIComponent(parsed.password);
  }
  return proxy;
}

function checkProxy(proxy: Socks5Proxy): void {
  if (!Number.isInteger(proxy.port) || proxy.port < 1 || proxy.port > 65535) throw new ConfigError(`SOCKS5 proxy port ${proxy.port} is not in 1..65535`);
  if ((proxy.username === undefined) !== (proxy.password === undefined)) throw new ConfigError('SOCKS5 username and password go together');
  for (const v of [proxy.username, proxy.password]) {
    if (v !== undefined && (Buffer.byteLength(v) < 1 || Buffer.byteLength(v) > 255)) throw new ConfigError('SOCKS5 username and password are 1..255 bytes');
  }
}

/** Dials through a SOCKS5 proxy (names resolved by the proxy); cannot listen. */
export class Socks5Transport implements Transport {
  readonly name = 'socks5';
  readonly proxy: Socks5Proxy;
  readonly #dialTimeoutMs: number;
  readonly #kinds: readonly AddressKind[];

  constructor(init: Socks5TransportInit) {
    checkProxy(init.proxy);
    this.proxy = { ...init.proxy };
    this.#dialTimeoutMs = init.dialTimeoutMs ?? 30_000;
    this.#kinds = init.kinds ?? ALL_KINDS;
  }

  canDial(address: Multiaddr): boolean {
    return isSupported(address, 'dial', this.#kinds);
  }

  async dial(address: Multiaddr, options: DialOptions = {}): Promise<TransportConnection> {
    const target = supportedAddress(this.name, address, 'dial', this.#kinds);
    if (target.kind === 'memory') throw new UnsupportedAddress(String(address), this.name);
    const deadline = new DialDeadline(String(address), options, this.#dialTimeoutMs);
    try {
      // Loaded on the first dial (a process that never uses a proxy never loads the package),
      // before the proxy connection, so nothing waits between the connect and the exchange.
      const { SocksClient: Client } = await import('socks');
      const proxyAddress = `${this.proxy.host}:${this.proxy.port}`;
      const socket = await connectTcp({ host: this.proxy.host, port: this.proxy.port }, deadline, proxyAddress).catch((err: unknown) => {
        throw deadline.reason ?? new Socks5ProxyUnreachable(proxyAddress, (err as DialFailed).code ?? 'UNKNOWN', { cause: err });
      });
      await this.#connect(Client, socket, target.host, target.port, deadline);
      return { stream: socket, remoteAddress: address, direction: 'outbound', via: 'socks' };
    } finally {
      deadline.done();
    }
  }

  /** Runs the SOCKS5 exchange on a connected socket; destroys it on any failure. */
  #connect(Client: typeof SocksClient, socket: Socket, host: string, port: number, deadline: DialDeadline): Promise<void> {
    const withAuth = this.proxy.username !== undefined;
    const reader = new Socks5ReplyReader(withAuth ? [METHOD_NO_AUTH, METHOD_USER_PASS] : [METHOD_NO_AUTH]);
    const options: SocksClientOptions = {
      command: 'connect',
      destination: { host, port },
      proxy: {
        host: this.proxy.host,
        port: this.proxy.port,
        type: 5,
        ...(withAuth ? { userId: this.proxy.username!, password: this.proxy.password! } : {}),
      },
      // The deadline bounds the exchange; the package's own timer is only a backstop.
      timeout: 24 * 3600 * 1000,
    };
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let client: SocksClient;
      const observe = (data: Buffer) => {
        try {
          reader.push(data);
        } catch (err) {
          fail(err);
        }
      };
      const finish = () => {
        settled = true;
        socket.off('data', observe);
        socket.off('error', onSocketError);
        socket.off('close', onSocketClose);
        deadline.signal.removeEventListener('abort', onAbort);
        client?.removeAllListeners();
        client?.on('error', () => {});
      };
      const fail = (err: unknown) => {
        if (settled) return;
        finish();
        socket.on('error', () => {});
        socket.destroy();
        reject(deadline.reason ?? reader.error ?? err);
      };
      const onAbort = () => fail(deadline.reason);
      let socketProblem: DialFailed | undefined;
      const onSocketError = (err: NodeJS.ErrnoException) => (socketProblem ??= new DialFailed(deadline.address, err.code ?? 'UNKNOWN', { cause: err }));
      const onSocketClose = () => (socketProblem ??= new DialFailed(deadline.address, 'EPROXYCLOSED'));
      socket.on('error', onSocketError);
      socket.on('close', onSocketClose);
      socket.on('data', observe);
      deadline.signal.addEventListener('abort', onAbort, { once: true });
      try {
        client = new Client({ ...options, existing_socket: socket });
      } catch (err) {
        fail(new ConfigError(`SOCKS5 options rejected: ${(err as Error).message}`, { cause: err }));
        return;
      }
      // The package reports failures as message strings: the reader and the socket say what happened.
      client.once('error', (err: Error) => fail(reader.error ?? socketProblem ?? new Socks5ReplyMalformed(`proxy exchange failed (${err.message})`)));
      client.once('established', () => {
        if (settled) return;
        if (reader.stage !== 'done') {
          fail(reader.error ?? new Socks5ReplyMalformed('the proxy reply ended early'));
          return;
        }
        finish();
        resolve();
      });
      client.connect(socket);
    });
  }

  async listen(address: Multiaddr): Promise<TransportListener> {
    throw new UnsupportedAddress(String(address), this.name, 'a SOCKS5 transport only dials');
  }
}
