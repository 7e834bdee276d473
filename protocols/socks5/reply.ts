/**
 * A strict reader of a SOCKS5 proxy's side of a CONNECT exchange (RFC 1928, RFC 1929): the method
 * selection, the username/password status when that method was chosen, and the CONNECT reply.
 * Sans-I/O: bytes in, a state out. The dialing shell feeds it every byte the proxy sends until it
 * is `done`, and turns its state into a typed error when the exchange fails.
 */
import { Socks5AuthFailed, Socks5NoAcceptableMethod, Socks5Rejected, Socks5ReplyMalformed } from './errors.js';

/** SOCKS protocol version byte (RFC 1928). */
export const SOCKS_VERSION = 5;
/** Authentication method: none. */
export const METHOD_NO_AUTH = 0x00;
/** Authentication method: username/password (RFC 1929). */
export const METHOD_USER_PASS = 0x02;
/** The proxy accepts none of the offered methods. */
export const METHOD_NONE_ACCEPTABLE = 0xff;
const ATYP_IPV4 = 1;
const ATYP_DOMAIN = 3;
const ATYP_IPV6 = 4;

/** Which of the proxy's messages the reader expects next. */
export type Socks5ReplyStage = 'method' | 'auth' | 'reply' | 'done';

/** The bound address a successful reply carries (informational: microsocks and tor send zeros). */
export interface Socks5Bound {
  atyp: number;
  host: string;
  port: number;
}

/** Strict, bounded reader of the proxy's side of a SOCKS5 CONNECT exchange (sans-I/O). */
export class Socks5ReplyReader {
  #stage: Socks5ReplyStage = 'method';
  #buffer = new Uint8Array(0);
  #method: number | undefined;
  #bound: Socks5Bound | undefined;
  #error: Error | undefined;
  /** Bytes of the exchange read so far (the exchange's total once `done`). */
  consumed = 0;

  /** @param offered the methods the client offered, in its greeting. */
  constructor(private readonly offered: readonly number[]) {}

  get stage(): Socks5ReplyStage {
    return this.#stage;
  }

  /** The authentication method the proxy chose. */
  get method(): number | undefined {
    return this.#method;
  }

  get bound(): Socks5Bound | undefined {
    return this.#bound;
  }

  /** The first error found; every later push throws it again. */
  get error(): Error | undefined {
    return this.#error;
  }

  /**
   * Feeds bytes from the proxy. Returns the number of bytes of `data` that belong to the
   * exchange (bytes after a complete reply are the tunnel's). Throws a typed SOCKS5 error.
   */
  push(data: Uint8Array): number {
    if (this.#error) throw this.#error;
    if (this.#stage === 'done') return 0;
    const before = this.#buffer.length;
    const joined = new Uint8Array(before + data.length);
    joined.set(this.#buffer, 0);
    joined.set(data, before);
    this.#buffer = joined;
    try {
      this.#advance();
    } catch (err) {
      this.#error = err as Error;
      throw err;
    }
    if ((this.#stage as Socks5ReplyStage) !== 'done') return data.length;
    const tunnelBytes = this.#buffer.length;
    this.#buffer = new Uint8Array(0);
    return data.length - tunnelBytes;
  }

  #take(n: number): Uint8Array | undefined {
    if (this.#buffer.length < n) return undefined;
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    this.consumed += n;
    return out;
  }

  #advance(): void {
    for (;;) {
      switch (this.#stage) {
        case 'method': {
          const b = this.#take(2);
          if (!b) return;
          if (b[0] !== SOCKS_VERSION) throw new Socks5ReplyMalformed(`method selection version ${b[0]}`);
          if (b[1] === METHOD_NONE_ACCEPTABLE) throw new Socks5NoAcceptableMethod();
          if (!this.offered.includes(b[1]!)) throw new Socks5ReplyMalformed(`method 0x${b[1]!.toString(16)} was not offered`);
          this.#method = b[1];
          this.#stage = b[1] === METHOD_USER_PASS ? 'auth' : 'reply';
          break;
        }
        case 'auth': {
          const b = this.#take(2);
          if (!b) return;
          if (b[0] !== 0x01) throw new Socks5ReplyMalformed(`authentication reply version ${b[0]}`);
          if (b[1] !== 0x00) throw new Socks5AuthFailed(b[1]!);
          this.#stage = 'reply';
          break;
        }
        case 'reply': {
          const buf = this.#buffer;
          if (buf.length < 5) return;
          if (buf[0] !== SOCKS_VERSION) throw new Socks5ReplyMalformed(`reply version ${buf[0]}`);
          if (buf[1] !== 0x00) throw new Socks5Rejected(buf[1]!);
          if (buf[2] !== 0x00) throw new Socks5ReplyMalformed(`reserved byte ${buf[2]}`);
          const atyp = buf[3]!;
          let addrLen: number;
          if (atyp === ATYP_IPV4) addrLen = 4;
          else if (atyp === ATYP_IPV6) addrLen = 16;
          else if (atyp === ATYP_DOMAIN) {
            addrLen = 1 + buf[4]!;
            if (buf[4] === 0) throw new Socks5ReplyMalformed('empty bound domain name');
          } else throw new Socks5ReplyMalformed(`address type ${atyp}`);
          const b = this.#take(4 + addrLen + 2);
          if (!b) return;
          const addr = b.subarray(4, 4 + addrLen);
          const port = (b[4 + addrLen]! << 8) | b[5 + addrLen]!;
          this.#bound = { atyp, host: formatBound(atyp, addr), port };
          this.#stage = 'done';
          return;
        }
        case 'done':
          return;
      }
    }
  }
}

function formatBound(atyp: number, addr: Uint8Array): string {
  if (atyp === ATYP_IPV4) return Array.from(addr).join('.');
  if (atyp === ATYP_DOMAIN) return Array.from(addr.subarray(1), (c) => String.fromCharCode(c)).join('');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((addr[i]! << 8) | addr[i + 1]!).toString(16));
  return groups.join(':');
}
