/**
 * Peer addresses (PROTOCOL.md section 5): the multiaddr shapes tcomms dials and listens on, and
 * their validation. Every address that enters the node (configuration, a peer's signed claim, the
 * command line) goes through {@link parseAddress}, so transports only ever see checked values.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { TcommsError } from './errors.js';

/** A checked address, one variant per transport family. */
export type PeerAddress =
  | { readonly kind: 'ip4' | 'ip6'; readonly host: string; readonly port: number }
  | { readonly kind: 'dns4' | 'dns6'; readonly host: string; readonly port: number }
  /** `host` is `<serviceId>.onion`, the form a SOCKS proxy takes. */
  | { readonly kind: 'onion3'; readonly serviceId: string; readonly host: string; readonly port: number }
  | { readonly kind: 'memory'; readonly id: number };

/** The address kinds. */
export type AddressKind = PeerAddress['kind'];

/** What the address is for; listening allows port 0, the unspecified IP and `/memory/0`. */
export type AddressPurpose = 'dial' | 'listen';

/** Options of {@link parseAddress}. */
export interface ParseAddressOptions {
  /** `dial` (the default) applies PROTOCOL.md section 5 exactly; `listen` allows port 0. */
  purpose?: AddressPurpose;
  /** Accept `/memory/<n>`; section 5 allows it only on nodes that allow test addresses. */
  allowMemory?: boolean;
}

/** An address that is malformed or breaks a rule of PROTOCOL.md section 5. */
export class InvalidAddress extends TcommsError {
  readonly kind = 'config' as const;
  constructor(
    readonly address: string,
    readonly reason: string,
    init: { cause?: unknown } = {},
  ) {
    super(`invalid address ${address}: ${reason}`, init);
  }
}

/** The longest DNS name accepted (section 5). */
export const MAX_DNS_NAME = 253;
/** A v3 onion service id: base32 of public key (32) | checksum (2) | version (1). */
export const ONION3_ID_LENGTH = 56;
const ONION_VERSION = 3;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function describe(input: unknown): string {
  if (input instanceof Uint8Array) return `<${input.length} bytes>`;
  return String(input).slice(0, 300);
}

/** Parses a multiaddr from its string or binary form; any failure is an {@link InvalidAddress}. */
export function toMultiaddr(input: string | Uint8Array | Multiaddr): Multiaddr {
  if (input instanceof Uint8Array && input[0] === MEMORY_CODE[0] && input[1] === MEMORY_CODE[1]) return memoryFromBytes(input);
  try {
    const ma = typeof input === 'string' || input instanceof Uint8Array ? multiaddr(input) : input;
    // Some codecs (onion3) only fail when the bytes are built: build them now.
    void ma.bytes;
    return ma;
  } catch (cause) {
    if (cause instanceof InvalidAddress) throw cause;
    throw new InvalidAddress(describe(input), `not a multiaddr (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
  }
}

/**
 * `/memory` on the wire is the code (varint 777) and the id as a u64 big-endian, as the reference
 * implementation (rust-multiaddr) writes it; js-multiaddr would write a length-prefixed string.
 */
const MEMORY_CODE = Uint8Array.of(0x89, 0x06);

function memoryFromBytes(bytes: Uint8Array): Multiaddr {
  if (bytes.length !== 10) throw new InvalidAddress(describe(bytes), 'a binary /memory address is 10 bytes');
  const id = new DataView(bytes.buffer, bytes.byteOffset + 2, 8).getBigUint64(0);
  if (id > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidAddress(describe(bytes), 'memory id out of range');
  return multiaddr(`/memory/${id}`);
}

/** The binary form of a checked address, as it is signed and sent in identity claims. */
export function addressToBytes(address: PeerAddress): Uint8Array {
  if (address.kind !== 'memory') return formatAddress(address).bytes;
  const out = new Uint8Array(10);
  out.set(MEMORY_CODE, 0);
  new DataView(out.buffer).setBigUint64(2, BigInt(address.id));
  return out;
}

/** Parses and checks an address (string, bytes or Multiaddr) against PROTOCOL.md section 5. */
export function parseAddress(input: string | Uint8Array | Multiaddr, options: ParseAddressOptions = {}): PeerAddress {
  const ma = toMultiaddr(input);
  const text = ma.toString();
  const listen = options.purpose === 'listen';
  const fail = (reason: string): never => {
    throw new InvalidAddress(text, reason);
  };
  const parts = ma.getComponents();
  const first = parts[0];
  if (first === undefined) return fail('empty address');
  if (first.name === 'memory') {
    if (!options.allowMemory) fail('memory addresses are test addresses and are not allowed here');
    if (parts.length !== 1) fail('/memory takes no further components');
    const id = Number(first.value);
    if (!/^\d{1,15}$/.test(first.value ?? '') || !Number.isSafeInteger(id)) fail('memory id must be a decimal integer');
    if (id === 0 && !listen) fail('memory id must be at least 1');
    return { kind: 'memory', id };
  }
  const value = first.value ?? '';
  if (first.name === 'onion3') {
    if (parts.length !== 1) fail('/onion3 takes no further components');
    return parseOnion(value, listen, fail);
  }
  if (!['ip4', 'ip6', 'dns4', 'dns6'].includes(first.name)) fail(`unsupported protocol /${first.name}`);
  if (parts.length !== 2) fail('expected exactly two components');
  const second = parts[1]!;
  if (second.name !== 'tcp') fail('the second component must be /tcp');
  const port = parsePort(second.value ?? '', listen, fail);
  switch (first.name) {
    case 'ip4':
    case 'ip6': {
      if (isIP(value) !== (first.name === 'ip4' ? 4 : 6)) fail(`not an ${first.name} address`);
      if (!listen && (value === '0.0.0.0' || /^[0:]+$/.test(value))) fail('the unspecified address cannot be dialed');
      return { kind: first.name, host: value, port };
    }
    case 'dns4':
    case 'dns6':
      checkDnsName(value, fail);
      return { kind: first.name, host: value, port };
    default:
      return fail(`unsupported protocol /${first.name}`);
  }
}

function parsePort(value: string, listen: boolean, fail: (r: string) => never): number {
  if (!/^\d{1,5}$/.test(value)) fail('port must be a decimal number');
  const port = Number(value);
  if (port > 65535 || (port === 0 && !listen)) fail('port must be in 1..65535');
  return port;
}

function checkDnsName(name: string, fail: (r: string) => never): void {
  if (Buffer.byteLength(name) > MAX_DNS_NAME) fail(`a DNS name is at most ${MAX_DNS_NAME} bytes`);
  if (name.endsWith('.')) fail('a DNS name has no trailing dot');
  for (const label of name.split('.')) {
    if (!LABEL.test(label)) fail('DNS labels are 1-63 letters, digits and inner hyphens');
  }
}

function parseOnion(value: string, listen: boolean, fail: (r: string) => never): PeerAddress {
  const colon = value.indexOf(':');
  if (colon < 0) fail('an onion3 address needs a port');
  const serviceId = value.slice(0, colon);
  const port = parsePort(value.slice(colon + 1), listen, fail);
  const problem = onion3Problem(serviceId);
  if (problem !== undefined) fail(problem);
  return { kind: 'onion3', serviceId, host: `${serviceId}.onion`, port };
}

/** Decodes RFC 4648 base32 (lowercase, no padding); undefined on any other character. */
function base32Decode(text: string): Uint8Array | undefined {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (const ch of text) {
    const v = BASE32.indexOf(ch);
    if (v < 0) return undefined;
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  return out;
}

/** Encodes bytes as lowercase RFC 4648 base32 without padding. */
function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(acc >>> bits) & 31];
    }
  }
  if (bits > 0) out += BASE32[(acc << (5 - bits)) & 31];
  return out;
}

function onionChecksum(publicKey: Uint8Array): Uint8Array {
  return createHash('sha3-256')
    .update('.onion checksum')
    .update(publicKey)
    .update(Uint8Array.of(ONION_VERSION))
    .digest()
    .subarray(0, 2);
}

/** Why a v3 onion service id is invalid (tor's rend-spec-v3 rules), or undefined when valid. */
export function onion3Problem(serviceId: string): string | undefined {
  if (serviceId.length !== ONION3_ID_LENGTH) return `an onion3 service id is ${ONION3_ID_LENGTH} characters`;
  const raw = base32Decode(serviceId);
  if (raw === undefined) return 'an onion3 service id is lowercase base32';
  if (raw[34] !== ONION_VERSION) return 'onion3 version byte must be 3';
  const sum = onionChecksum(raw.subarray(0, 32));
  if (raw[32] !== sum[0] || raw[33] !== sum[1]) return 'onion3 checksum mismatch';
  return undefined;
}

/** The v3 onion service id of an Ed25519 service public key. */
export function onion3ServiceId(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new InvalidAddress('<onion key>', 'an onion3 public key is 32 bytes');
  const raw = new Uint8Array(35);
  raw.set(publicKey, 0);
  raw.set(onionChecksum(publicKey), 32);
  raw[34] = ONION_VERSION;
  return base32Encode(raw);
}

/** The multiaddr of a checked address. */
export function formatAddress(address: PeerAddress): Multiaddr {
  switch (address.kind) {
    case 'memory':
      return multiaddr(`/memory/${address.id}`);
    case 'onion3':
      return multiaddr(`/onion3/${address.serviceId}:${address.port}`);
    default:
      return multiaddr(`/${address.kind}/${address.host}/tcp/${address.port}`);
  }
}
