/**
 * What `tcomms node` and `tcomms send` share: the peer argument `PUBKEYHEX@MULTIADDR`, the
 * network byte and pattern, and the transports made from `--proxy`, `--proxy-all` and
 * `--tor-control`.
 */
import { multiaddr } from '@multiformats/multiaddr';
import { parseAddress } from '../core/address.js';
import { publicKeyFromHex, type PublicKey } from '../core/keys.js';
import { TcpTransport } from '../transports/tcp/tcp.js';
import { TcpWithTorTransport } from '../transports/tcp-with-tor.js';
import { TorTransport } from '../transports/tor/tor-transport.js';
import { fileKeyStore } from '../transports/tor/key-store.js';
import type { Socks5Proxy } from '../transports/socks5/socks5.js';
import type { Transport } from '../transports/transport.js';
import type { TorAuth } from '../transports/tor/control-client.js';
import { intOption, UsageError, type ParsedArgs } from './args.js';

/** A peer given on the command line. */
export interface PeerArg {
  publicKey: PublicKey;
  address: string;
}

/** Parses `PUBKEYHEX@MULTIADDR` (a `UsageError` with the reason otherwise). */
export function parsePeerArg(text: string, option: string): PeerArg {
  const at = text.indexOf('@');
  if (at <= 0) throw new UsageError(`--${option} must be PUBKEYHEX@MULTIADDR, got ${JSON.stringify(text)}`);
  let publicKey: PublicKey;
  try {
    publicKey = publicKeyFromHex(text.slice(0, at));
  } catch (err) {
    throw new UsageError(`--${option}: bad public key: ${(err as Error).message}`);
  }
  const address = text.slice(at + 1);
  try {
    parseAddress(address);
  } catch (err) {
    throw new UsageError(`--${option}: bad multiaddr: ${(err as Error).message}`);
  }
  return { publicKey, address };
}

/** `socks5://[USER:PASS@]HOST:PORT`. */
export function parseProxy(text: string): Socks5Proxy {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--proxy must be socks5://[USER:PASS@]HOST:PORT, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'socks5:' || !url.hostname || !url.port) throw new UsageError(`--proxy must be socks5://[USER:PASS@]HOST:PORT, got ${JSON.stringify(text)}`);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port),
    ...(url.username ? { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) } : {}),
  };
}

/** The option spec both commands accept for networking. */
export const NETWORK_OPTIONS = {
  network: 'string',
  pattern: 'string',
  proxy: 'string',
  'proxy-all': 'flag',
} as const;

/** Network byte and Noise pattern from the options. */
export function protocolOptions(args: ParsedArgs): { networkByte: number; pattern: 'XX' | 'IX' } {
  const networkByte = intOption(args.options.network as string | undefined, 'network', 0, 255, 0);
  if (networkByte === 0xa7) throw new UsageError('--network 0xa7 is the liveness wire byte');
  const pattern = ((args.options.pattern as string | undefined) ?? 'XX').toUpperCase();
  if (pattern !== 'XX' && pattern !== 'IX') throw new UsageError(`--pattern must be XX or IX, got ${JSON.stringify(args.options.pattern)}`);
  return { networkByte, pattern };
}

/** The transports the options ask for: TCP, or TCP-with-Tor with a proxy; plus Tor listening. */
export function transportsFrom(args: ParsedArgs, dataDir?: string): Transport[] {
  const proxyText = args.options.proxy as string | undefined;
  const proxyAll = args.options['proxy-all'] === true;
  if (proxyAll && !proxyText) throw new UsageError('--proxy-all needs --proxy');
  const transports: Transport[] = [];
  const control = args.options['tor-control'] as string | undefined;
  if (control) {
    const m = /^(.+):(\d+)$/.exec(control);
    if (!m) throw new UsageError(`--tor-control must be HOST:PORT, got ${JSON.stringify(control)}`);
    const onionPort = intOption(args.options['onion-port'] as string | undefined, 'onion-port', 1, 65535, -1);
    if (onionPort === -1) throw new UsageError('--tor-control needs --onion-port');
    const cookie = args.options['tor-cookie'] as string | undefined;
    const password = args.options['tor-password'] as string | undefined;
    const auth: TorAuth = password ? { method: 'password', password } : cookie ? { method: 'auto', cookieFile: cookie } : { method: 'auto' };
    transports.push(
      new TorTransport({
        control: { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]), auth },
        onionPort,
        ...(dataDir ? { keyStore: fileKeyStore(`${dataDir}/onion.key`) } : {}),
        ...(proxyText ? { socks: parseProxy(proxyText) } : {}),
      }),
    );
  }
  transports.push(proxyText ? new TcpWithTorTransport({ proxy: parseProxy(proxyText), proxyAll }) : new TcpTransport());
  return transports;
}

/** Checks a listen multiaddr (a `UsageError` with the reason otherwise). */
export function checkListenAddress(text: string): string {
  try {
    parseAddress(multiaddr(text), { purpose: 'listen', allowMemory: false });
  } catch (err) {
    throw new UsageError(`--listen: bad multiaddr: ${(err as Error).message}`);
  }
  return text;
}
