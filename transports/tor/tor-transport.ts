/**
 * The Tor transport: dials through Tor's SOCKS port (onion addresses always; other addresses
 * too unless `proxyAll` is false) and listens as an onion service. Listening binds a local TCP
 * port, asks Tor (ADD_ONION over the control port) to map the onion port to it, and publishes
 * `/onion3/<service id>:<onion port>`. The service key is kept in an {@link OnionKeyStore}, so
 * the address stays the same across restarts; closing the listener removes the service.
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import { multiaddr } from '@multiformats/multiaddr';
import { parseAddress } from '../../core/address.js';
import { ConfigError } from '../../core/errors.js';
import { TorControlProtocolError } from '../../protocols/tor-control/index.js';
import type { Socks5Proxy } from '../socks5/socks5.js';
import { TcpWithTorTransport } from '../tcp-with-tor.js';
import { TcpTransport } from '../tcp/tcp.js';
import { isSupported, supportedAddress } from '../supported.js';
import type { DialOptions, Transport, TransportConnection, TransportListener } from '../transport.js';
import { TorControlClient, type TorControlInit, type TorEvent } from './control-client.js';
import type { OnionKeyStore } from './key-store.js';

/** Construction options of the Tor transport. */
export interface TorTransportInit {
  /** Tor's control port: a connected client (shared, not closed by the transport) or how to connect. */
  control: TorControlClient | TorControlInit;
  /** Tor's SOCKS port; when omitted it is asked from Tor (`GETINFO net/listeners/socks`). */
  socks?: Socks5Proxy;
  /** The onion service's virtual port (the port in the published address). */
  onionPort: number;
  /** Where the service key is kept; without one every listen makes a new address. */
  keyStore?: OnionKeyStore;
  /** Send non-onion addresses through Tor as well (default true: a Tor node reveals no IP). */
  proxyAll?: boolean;
  /** Dial timeout through Tor (ms, default 60 000: a first onion dial builds several circuits). */
  dialTimeoutMs?: number;
  /** Ask Tor to cap the streams per rendezvous circuit (ADD_ONION MaxStreams). */
  maxStreams?: number;
}

/** Parses the first `host:port` of `GETINFO net/listeners/socks` (a list of quoted strings). */
export function firstSocksListener(value: string): Socks5Proxy {
  const m = /"?(\[[0-9a-fA-F:]+\]|[\d.]+):(\d+)"?/.exec(value);
  if (!m) throw new ConfigError(`Tor has no SOCKS listener (net/listeners/socks = ${JSON.stringify(value)}); configure its SocksPort`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
}

const DIAL_KINDS = ['ip4', 'ip6', 'dns4', 'dns6', 'onion3'] as const;

/** Dials through Tor's SOCKS port; listens as an onion service made through the control port. */
export class TorTransport implements Transport {
  readonly name = 'tor';
  readonly #init: TorTransportInit;
  #control: TorControlClient | undefined;
  #ownsControl = false;
  #dialer: TcpWithTorTransport | undefined;
  readonly #tcp = new TcpTransport();

  constructor(init: TorTransportInit) {
    if (!Number.isInteger(init.onionPort) || init.onionPort < 1 || init.onionPort > 65535) throw new ConfigError(`onion port ${init.onionPort} is not in 1..65535`);
    this.#init = init;
    if (init.control instanceof TorControlClient) this.#control = init.control;
  }

  /** The control client (connecting on first use). */
  async control(): Promise<TorControlClient> {
    if (!this.#control) {
      this.#control = await TorControlClient.connect(this.#init.control as TorControlInit);
      this.#ownsControl = true;
    }
    return this.#control;
  }

  async #dialerReady(): Promise<TcpWithTorTransport> {
    if (!this.#dialer) {
      const proxy = this.#init.socks ?? firstSocksListener((await (await this.control()).getInfo('net/listeners/socks')).get('net/listeners/socks') ?? '');
      this.#dialer = new TcpWithTorTransport({ proxy, proxyAll: this.#init.proxyAll ?? true, proxyDialTimeoutMs: this.#init.dialTimeoutMs ?? 60_000 });
    }
    return this.#dialer;
  }

  canDial(address: Multiaddr): boolean {
    return isSupported(address, 'dial', DIAL_KINDS);
  }

  async dial(address: Multiaddr, options: DialOptions = {}): Promise<TransportConnection> {
    supportedAddress(this.name, address, 'dial', DIAL_KINDS);
    return (await this.#dialerReady()).dial(address, options);
  }

  /** Listens on `address` (a local TCP address, usually `/ip4/127.0.0.1/tcp/0`) as an onion service. */
  async listen(address: Multiaddr): Promise<TransportListener> {
    const control = await this.control();
    const local = await this.#tcp.listen(address);
    try {
      const saved = await this.#init.keyStore?.load();
      const bound = parseAddress(local.address, { purpose: 'listen' }) as { kind: 'ip4' | 'ip6'; host: string; port: number };
      const target = bound.kind === 'ip6' ? `[${bound.host}]:${bound.port}` : `${bound.host}:${bound.port}`;
      await control.subscribe(['HS_DESC']);
      const service = await control.addOnion({
        key: saved ? { kind: 'saved', key: saved } : { kind: 'new' },
        ports: [{ virtualPort: this.#init.onionPort, target }],
        ...(this.#init.maxStreams === undefined ? {} : { maxStreams: this.#init.maxStreams }),
      });
      if (!saved && service.privateKey && this.#init.keyStore) await this.#init.keyStore.save(service.privateKey);
      const onion = multiaddr(`/onion3/${service.serviceId}:${this.#init.onionPort}`);
      supportedAddress(this.name, onion, 'dial', ['onion3']); // Tor's service id passes our own checksum rules
      return new OnionListener(onion, service.serviceId, local, control);
    } catch (err) {
      await local.close();
      throw err;
    }
  }

  /** Closes the control connection if this transport opened it. */
  async close(): Promise<void> {
    if (this.#ownsControl) await this.#control?.close();
    this.#control = undefined;
  }
}

/** An onion service in front of a local TCP listener. */
export class OnionListener implements TransportListener {
  #closed = false;
  #uploaded = false;
  readonly #waiters: Array<() => void> = [];
  readonly #onEvent = (e: TorEvent) => {
    // HS_DESC UPLOADED <service id> <auth> <hsdir> ...
    const [action, id] = e.text.split(' ');
    if (action === 'UPLOADED' && id === this.serviceId && !this.#uploaded) {
      this.#uploaded = true;
      for (const w of this.#waiters.splice(0)) w();
    }
  };

  constructor(
    readonly address: Multiaddr,
    readonly serviceId: string,
    readonly local: TransportListener,
    readonly control: TorControlClient,
  ) {
    control.on('event', this.#onEvent);
  }

  get dropped(): number {
    return this.local.dropped;
  }

  /** The local TCP address Tor forwards to. */
  get localAddress(): Multiaddr {
    return this.local.address;
  }

  /** Resolves when Tor has uploaded the service descriptor to a directory (it can be found). */
  published(timeoutMs = 120_000): Promise<void> {
    if (this.#uploaded) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new TorControlProtocolError(`no HS_DESC UPLOADED for ${this.serviceId} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.control.off('event', this.#onEvent);
    try {
      if (this.control.connected) await this.control.delOnion(this.serviceId);
    } finally {
      await this.local.close();
    }
  }

  /** Inbound connections, marked `via: 'onion'`: their remote address is Tor's (127.0.0.1), not the peer's. */
  [Symbol.asyncIterator](): AsyncIterator<TransportConnection> {
    const inner = this.local[Symbol.asyncIterator]();
    return {
      next: async () => {
        const r = await inner.next();
        return r.done === true ? r : { done: false, value: { ...r.value, via: 'onion' } };
      },
      return: async () => (await inner.return?.()) ?? { done: true, value: undefined },
    };
  }
}
