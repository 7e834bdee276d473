/** Typed SOCKS5 errors: what a proxy said, or that it said something malformed. */
import { TcommsError } from '../../core/errors.js';

/** The proxy's bytes are not a SOCKS5 reply (wrong version, unknown address type, a method never offered). */
export class Socks5ReplyMalformed extends TcommsError {
  readonly kind = 'transport' as const;
  constructor(readonly detail: string) {
    super(`malformed SOCKS5 reply: ${detail}`);
  }
}

/** The proxy accepts none of the offered authentication methods. */
export class Socks5NoAcceptableMethod extends TcommsError {
  readonly kind = 'config' as const;
  constructor() {
    super('the SOCKS5 proxy accepts none of the offered authentication methods');
  }
}

/** The proxy refused the username and password. */
export class Socks5AuthFailed extends TcommsError {
  readonly kind = 'config' as const;
  constructor(readonly status: number) {
    super(`the SOCKS5 proxy refused the credentials (status ${status})`);
  }
}

/** Reply codes (RFC 1928 section 6, and Tor's extended codes from its SocksPort `ExtendedErrors`). */
export const SOCKS5_REPLY_REASONS: Readonly<Record<number, string>> = {
  0x01: 'general failure',
  0x02: 'connection not allowed by ruleset',
  0x03: 'network unreachable',
  0x04: 'host unreachable',
  0x05: 'connection refused',
  0x06: 'TTL expired',
  0x07: 'command not supported',
  0x08: 'address type not supported',
  0xf0: 'onion service descriptor not found',
  0xf1: 'onion service descriptor invalid',
  0xf2: 'onion service introduction failed',
  0xf3: 'onion service rendezvous failed',
  0xf4: 'onion service client authorization missing',
  0xf5: 'onion service client authorization wrong',
  0xf6: 'onion address invalid',
  0xf7: 'onion service introduction timed out',
};

/** The proxy could not connect to the destination; `code` is the reply code. */
export class Socks5Rejected extends TcommsError {
  readonly kind = 'transport' as const;
  readonly reason: string;
  constructor(readonly code: number) {
    const reason = SOCKS5_REPLY_REASONS[code] ?? `unassigned code 0x${code.toString(16)}`;
    super(`the SOCKS5 proxy could not connect: ${reason} (0x${code.toString(16).padStart(2, '0')})`);
    this.reason = reason;
  }

  /** Tor's "descriptor not found" right after a service is published: worth a retry. */
  get retryable(): boolean {
    return this.code === 0xf0 || this.code === 0xf7 || this.code === 0xf2 || this.code === 0xf3;
  }
}
