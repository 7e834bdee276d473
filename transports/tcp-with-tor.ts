/**
 * TCP-with-Tor (tari_comms' `TcpWithTorTransport`): `/onion3` addresses go through the SOCKS5
 * proxy (Tor's SocksPort), everything else over plain TCP, or everything through the proxy with
 * `proxyAll`. Listening is plain TCP (an onion service maps its port to such a listener).
 */
import type { Multiaddr } from '@multiformats/multiaddr';
import { parseAddress } from '../core/address.js';
import { UnsupportedAddress } from './errors.js';
import { Socks5Transport, type Socks5Proxy } from './socks5/socks5.js';
import { TcpTransport, type TcpTransportInit } from './tcp/tcp.js';
import type { DialOptions, Transport, TransportConnection, TransportListener } from './transport.js';

/** An onion address was dialed by a node with no SOCKS proxy configured. */
export class OnionProxyMissing extends UnsupportedAddress {
  constructor(address: string) {
    super(address, 'tcp-with-tor', 'an onion address needs a SOCKS5 proxy (Tor\'s SocksPort): configure one');
  }
}

/** Options of {@link TcpWithTorTransport}. */
export interface TcpWithTorInit {
  /** Tor's SOCKS port; without it, onion addresses fail with {@link OnionProxyMissing}. */
  proxy?: Socks5Proxy;
  /** Send every address through the proxy, not only onion ones. */
  proxyAll?: boolean;
  tcp?: TcpTransportInit;
  /** Dial timeout through the proxy (ms, default 30 000). */
  proxyDialTimeoutMs?: number;
}

function isOnion(address: Multiaddr): boolean {
  return address.getComponents()[0]?.name === 'onion3';
}

/** TCP for ordinary addresses and SOCKS5 (Tor) for onion addresses, or everything through the proxy. */
export class TcpWithTorTransport implements Transport {
  readonly name = 'tcp-with-tor';
  readonly tcp: TcpTransport;
  readonly socks: Socks5Transport | undefined;
  readonly #proxyAll: boolean;

  constructor(init: TcpWithTorInit = {}) {
    this.tcp = new TcpTransport(init.tcp);
    this.socks = init.proxy
      ? new Socks5Transport({ proxy: init.proxy, ...(init.proxyDialTimeoutMs === undefined ? {} : { dialTimeoutMs: init.proxyDialTimeoutMs }) })
      : undefined;
    this.#proxyAll = init.proxyAll ?? false;
  }

  #route(address: Multiaddr): Transport {
    if (isOnion(address)) {
      if (!this.socks) {
        parseAddress(address); // an invalid onion address is reported as such first
        throw new OnionProxyMissing(String(address));
      }
      return this.socks;
    }
    return this.#proxyAll && this.socks ? this.socks : this.tcp;
  }

  canDial(address: Multiaddr): boolean {
    try {
      return this.#route(address).canDial(address);
    } catch {
      return false;
    }
  }

  async dial(address: Multiaddr, options: DialOptions = {}): Promise<TransportConnection> {
    let route: Transport;
    try {
      route = this.#route(address);
    } catch (err) {
      if (err instanceof UnsupportedAddress) throw err;
      throw new UnsupportedAddress(String(address), this.name, (err as { reason?: string }).reason ?? 'invalid address');
    }
    return route.dial(address, options);
  }

  listen(address: Multiaddr): Promise<TransportListener> {
    return this.tcp.listen(address);
  }
}
