/**
 * The DHT envelope (PROTOCOL.md 9.1, 9.2): decoding as received, canonical encoding, and the
 * builders of cleartext envelopes, signed by their origin over `binding(body)` or unsigned.
 * Sealed (ENCRYPTED) envelopes are built by `seal.ts`.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import type { CryptoProvider } from '../../core/crypto/provider.js';
import { isValidEd25519PublicKey } from '../../core/ed25519-point.js';
import { equals } from '../../core/bytes.js';
import { ConfigError } from '../../core/errors.js';
import {
  DhtEnvelopeSchema,
  DhtHeaderSchema,
  DhtMessageType,
  MessageSignatureSchema,
  type DhtHeader,
  type MessageSignature,
} from '../../proto/gen/tcomms/dht/dht_pb.js';
import { bindingHash, dedupKey, type BindingFields } from './binding.js';
import { DEFAULT_CLEARTEXT_EXPIRY_SECONDS, DEFAULT_ENCRYPTED_EXPIRY_SECONDS, DHT_VERSION } from './constants.js';
import { DhtDecodeError } from './errors.js';
import { signerIdentity, type DhtSigner } from './signing.js';
import { varintLength, writeVarint } from './varint.js';
import { decodeStrict } from './wire.js';

/** An envelope as received: the decoded header and the body, both views into the received bytes. */
export interface DecodedEnvelope {
  readonly header: DhtHeader;
  readonly body: Uint8Array;
}

/** An envelope built for sending, with what the sender records (9.4: its dedup key). */
export interface BuiltEnvelope {
  /** The encoded `DhtEnvelope`: a messaging body (section 6). */
  readonly envelope: Uint8Array;
  readonly header: DhtHeader;
  readonly body: Uint8Array;
  /** `binding(body)` (9.2). */
  readonly binding: Uint8Array;
  /** The dedup key (9.4), recorded by the sender so that echoes of its own message are dropped. */
  readonly dedupKey: Uint8Array;
}

const DEFINED_TYPES: ReadonlySet<number> = new Set([
  DhtMessageType.DOMAIN,
  DhtMessageType.JOIN,
  DhtMessageType.DISCOVERY,
  DhtMessageType.DISCOVERY_RESPONSE,
  DhtMessageType.SAF_REQUEST_MESSAGES,
  DhtMessageType.SAF_STORED_MESSAGES,
]);

/** Whether `value` is a `DhtMessageType` of 9.1 (an undefined type is dropped). */
export function isDefinedMessageType(value: number): value is DhtMessageType {
  return DEFINED_TYPES.has(value);
}

/**
 * Decodes an envelope, accepting any valid encoding (unknown fields ignored). Throws
 * {@link DhtDecodeError} when the bytes are not a `DhtEnvelope` or it has no header; checks
 * nothing else (see `judgeEnvelope`).
 */
export function decodeEnvelope(bytes: Uint8Array): DecodedEnvelope {
  const envelope = decodeStrict(DhtEnvelopeSchema, bytes);
  if (envelope.header === undefined) throw new DhtDecodeError('DhtEnvelope', 'no header');
  return { header: envelope.header, body: envelope.body };
}

/**
 * The canonical encoding of an envelope (ascending fields, defaults omitted; the header always
 * present): field 1 the header, field 2 the body when not empty. The body is copied once.
 */
export function encodeEnvelope(header: DhtHeader, body: Uint8Array): Uint8Array {
  const head = toBinary(DhtHeaderSchema, header);
  const bodyBytes = body.length === 0 ? 0 : 1 + varintLength(body.length) + body.length;
  const out = new Uint8Array(1 + varintLength(head.length) + head.length + bodyBytes);
  out[0] = 0x0a;
  let offset = writeVarint(out, 1, head.length);
  out.set(head, offset);
  offset += head.length;
  if (body.length > 0) {
    out[offset] = 0x12;
    offset = writeVarint(out, offset + 1, body.length);
    out.set(body, offset);
  }
  return out;
}

/** The fields of a header to build (version is always {@link DHT_VERSION}). */
export interface HeaderInit {
  messageType: DhtMessageType;
  /** Empty (the default) or an Ed25519 public key. */
  destination?: Uint8Array;
  /** `FLAG_ENCRYPTED` or 0 (the default). */
  flags?: number;
  /** Unix seconds; senders use at most now + 259,200 (see `defaultExpiry`). */
  expires: bigint;
  ephemeralPublicKey?: Uint8Array;
  signature?: MessageSignature;
  /** Random, for tracing only (0, the default, is omitted). */
  messageTag?: bigint;
}

/** A header as given, without checks (tests and `seal.ts` build unusual ones with it). */
export function createHeader(init: HeaderInit): DhtHeader {
  return create(DhtHeaderSchema, {
    version: DHT_VERSION,
    destination: init.destination ?? new Uint8Array(0),
    messageType: init.messageType,
    flags: init.flags ?? 0,
    expires: init.expires,
    ephemeralPublicKey: init.ephemeralPublicKey ?? new Uint8Array(0),
    ...(init.signature === undefined ? {} : { signature: init.signature }),
    messageTag: init.messageTag ?? 0n,
  });
}

/** The origin's signature of a cleartext message (9.2): Ed25519 by `signer` over the 32-byte `binding(body)`. */
export function signEnvelope(provider: CryptoProvider, header: BindingFields, body: Uint8Array, signer: DhtSigner): MessageSignature {
  const identity = signerIdentity(signer);
  return create(MessageSignatureSchema, { signerPublicKey: identity.publicKey, signature: identity.sign(bindingHash(provider, header, body)) });
}

/** What a cleartext envelope is built from. */
export interface CleartextEnvelopeInit {
  /** Any type but DISCOVERY, which is always sealed (9.5). */
  messageType: DhtMessageType;
  /** Empty (the default) or a valid key: JOIN names the signer, the other non-DOMAIN types the receiver (9.5). */
  destination?: Uint8Array;
  expires: bigint;
  body: Uint8Array;
  /** The origin, who signs; anonymous when absent. JOIN and DISCOVERY_RESPONSE require one (9.5). */
  signer?: DhtSigner;
  messageTag?: bigint;
}

/**
 * Builds a cleartext envelope, signed when `init.signer` is given. Throws a ConfigError when it
 * would break a sender's rule of 9.1 or 9.5 (checked so that no node sends a violation).
 */
export function createCleartextEnvelope(provider: CryptoProvider, init: CleartextEnvelopeInit): BuiltEnvelope {
  const identity = init.signer === undefined ? undefined : signerIdentity(init.signer);
  const destination = init.destination ?? new Uint8Array(0);
  checkCleartextInit(init, destination, identity?.publicKey);
  const header = createHeader({ messageType: init.messageType, destination, expires: init.expires, ...(init.messageTag === undefined ? {} : { messageTag: init.messageTag }) });
  const binding = bindingHash(provider, header, init.body);
  if (identity !== undefined) header.signature = create(MessageSignatureSchema, { signerPublicKey: identity.publicKey, signature: identity.sign(binding) });
  return { envelope: encodeEnvelope(header, init.body), header, body: init.body, binding, dedupKey: dedupKey(provider, binding, header.signature) };
}

function checkCleartextInit(init: CleartextEnvelopeInit, destination: Uint8Array, signer: Uint8Array | undefined): void {
  const type = init.messageType;
  const fail = (why: string): never => {
    throw new ConfigError(`cannot build this ${DhtMessageType[type] ?? type} envelope: ${why}`);
  };
  if (!isDefinedMessageType(type)) fail('undefined message type');
  if (type === DhtMessageType.DISCOVERY) fail('DISCOVERY is always sealed (seal.ts)');
  if (init.expires < 0n || init.expires >= 1n << 64n) fail('expires is not a u64');
  if (destination.length !== 0 && !isValidEd25519PublicKey(destination)) fail('the destination is not a valid public key');
  if (type === DhtMessageType.JOIN && (signer === undefined || !equals(destination, signer))) fail('a JOIN is signed and its destination is its signer');
  if (type === DhtMessageType.DISCOVERY_RESPONSE && signer === undefined) fail('a DISCOVERY_RESPONSE is signed by the responder');
  if (type !== DhtMessageType.DOMAIN && type !== DhtMessageType.JOIN && destination.length === 0) fail('it needs the receiver as destination');
}

/** The recommended `expires` for a message sent at `nowSeconds` (9.9): + 3 h cleartext, + 3 days ENCRYPTED. */
export function defaultExpiry(nowSeconds: bigint | number, encrypted: boolean): bigint {
  return BigInt(nowSeconds) + (encrypted ? DEFAULT_ENCRYPTED_EXPIRY_SECONDS : DEFAULT_CLEARTEXT_EXPIRY_SECONDS);
}
