/**
 * The receiver's verdict on one envelope (PROTOCOL.md 9.1, then 9.3 and 9.5): what to do with
 * it, the first rule it breaks, and whether to record its dedup key. Sans-I/O: the clock, the
 * dedup cache lookup and the receiver's keys come in; nothing is stored or sent here.
 *
 * Cheap checks first, as far as the order of 9.1 allows: the drops (version, type, expiry and
 * the duplicate lookup, two BLAKE2s hashes) come before any key validation or signature
 * verification, so the common case of a flood, a copy already seen, costs no Ed25519 work.
 */
import type { CryptoProvider } from '../../core/crypto/provider.js';
import { equals } from '../../core/bytes.js';
import { isValidEd25519PublicKey, knownEd25519KeyVerdict } from '../../core/ed25519-point.js';
import type { PublicKey } from '../../core/keys.js';
import { DhtEnvelopeSchema, DhtMessageType, type DhtHeader } from '../../proto/gen/tcomms/dht/dht_pb.js';
import { bindingHash, dedupKey } from './binding.js';
import { DHT_VERSION, EPHEMERAL_KEY_LENGTH, FLAG_ENCRYPTED, MAX_RECEIVED_EXPIRY_SECONDS, SEAL_PADDING_BLOCK, SEAL_TAG_LENGTH, SIGNER_KEY_LENGTH } from './constants.js';
import { isDefinedMessageType } from './envelope.js';
import { checkBody, checkCleartextHeader, type BodyRuleReason } from './rules.js';
import { openSealed, type DhtReceiver } from './seal.js';
import { verifyStrict } from './signing.js';
import type { DhtAccepted, DhtAcceptVerdict, DhtJudgement, DhtReason, DhtRejected, DhtViolationReason } from './verdict.js';
import { decodeStrict } from './wire.js';

/** One received envelope and what the receiver knows when judging it. */
export interface JudgeInput {
  /** The encoded `DhtEnvelope` (a messaging body). Byte fields of the verdict are views into it. */
  readonly envelope: Uint8Array;
  /** The receiver's keys (see `dhtReceiver`). */
  readonly receiver: DhtReceiver;
  /** The connected peer the envelope came from: its public key, validated by the identity exchange. */
  readonly sendingPeer: Uint8Array;
  /** The receiver's clock, unix seconds. */
  readonly nowSeconds: bigint | number;
  /** Whether the dedup cache holds this 32-byte key (9.4); the caller records keys, not this function. */
  readonly seen: (dedupKey: Uint8Array) => boolean;
  /** Accept `/memory` addresses in claims (test networks). Default false. */
  readonly allowMemory?: boolean;
  /**
   * The envelope came in a SAF response from `sendingPeer` (9.7): once it passes 9.1 it must be
   * an ENCRYPTED DOMAIN for the receiver, else it is that peer's violation; it is never forwarded.
   */
  readonly fromStore?: boolean;
  /**
   * Asked before each full Ed25519 key check (of the destination, the signer's or a sealed
   * origin's key: a key not checked lately, about 1 ms of CPU): false and the envelope is dropped (`key_check_budget`)
   * without the check, nobody's violation and nothing recorded. Local policy (a budget per
   * sending peer), no rule of the protocol; by default every check is made.
   */
  readonly keyCheckAllowed?: () => boolean;
}

/** Judges one envelope. Never throws: any input gives a verdict. */
export function judgeEnvelope(provider: CryptoProvider, input: JudgeInput): DhtJudgement {
  try {
    return judge(provider, input);
  } catch (err) {
    // A bug here, or a throwing `seen`: nobody's violation.
    return reject('drop', 'internal', err instanceof Error ? `${err.name}: ${err.message}` : String(err));
  }
}

function reject(verdict: 'drop' | 'violation', reason: DhtReason, detail = '', header?: DhtHeader, key?: Uint8Array, recordDedupKey = false): DhtRejected {
  return { verdict, reason, detail, recordDedupKey, dedupKey: key, header };
}

/** The reason a cleartext body failure is reported under. */
function cleartextBodyReason(reason: BodyRuleReason): DhtViolationReason {
  if (reason === 'undecodable') return 'body_undecodable';
  // Only a DISCOVERY lacks an origin to check, and a cleartext DISCOVERY failed its header rule already.
  if (reason === 'discovery_origin_unknown') return 'discovery_not_encrypted';
  return reason;
}

function judge(provider: CryptoProvider, input: JudgeInput): DhtJudgement {
  const { receiver, sendingPeer } = input;
  let decoded;
  try {
    decoded = decodeStrict(DhtEnvelopeSchema, input.envelope);
  } catch (err) {
    return reject('violation', 'undecodable', (err as Error).message);
  }
  const header = decoded.header;
  if (header === undefined) return reject('violation', 'no_header');
  const body = decoded.body;
  const now = typeof input.nowSeconds === 'bigint' ? input.nowSeconds : BigInt(Math.floor(input.nowSeconds));

  // Drops: nobody's fault, nothing recorded.
  if (header.version !== DHT_VERSION) return reject('drop', 'version', `version ${header.version}`, header);
  const type = header.messageType;
  if (!isDefinedMessageType(type)) return reject('drop', 'type_undefined', `message_type ${type}`, header);
  if (header.expires < now) return reject('drop', 'expired', `expires ${header.expires} < now ${now}`, header);
  if (header.expires > now + MAX_RECEIVED_EXPIRY_SECONDS) return reject('drop', 'expires_too_far', `expires ${header.expires} > now + ${MAX_RECEIVED_EXPIRY_SECONDS}`, header);
  const binding = bindingHash(provider, header, body);
  const signature = header.signature;
  const key = dedupKey(provider, binding, signature);
  if (input.seen(key)) return reject('drop', 'duplicate', '', header, key);

  // Violations of the sending peer, in the order of 9.1.
  const violation = (reason: DhtViolationReason, detail = '') => reject('violation', reason, detail, header, key);
  const destination = header.destination;
  const forSelf = equals(destination, receiver.publicKey);
  // A key checked lately costs a lookup; a full check only when the budget allows (undefined: over it).
  const validKey = (k: Uint8Array): boolean | undefined => knownEd25519KeyVerdict(k) ?? (input.keyCheckAllowed === undefined || input.keyCheckAllowed() ? isValidEd25519PublicKey(k) : undefined);
  const overBudget = () => reject('drop', 'key_check_budget', 'a full key check over the sending peer\'s budget', header, key);
  if (destination.length !== 0 && !forSelf) {
    const valid = validKey(destination);
    if (valid === undefined) return overBudget();
    if (!valid) return violation('destination_invalid', `destination of ${destination.length} bytes`);
  }
  if ((header.flags & ~FLAG_ENCRYPTED) !== 0) return violation('flags_undefined', `flags 0x${(header.flags >>> 0).toString(16)}`);
  const encrypted = (header.flags & FLAG_ENCRYPTED) !== 0;
  const ephemeralLength = header.ephemeralPublicKey.length;
  if (ephemeralLength !== (encrypted ? EPHEMERAL_KEY_LENGTH : 0)) return violation('ephemeral_key_length', `${ephemeralLength} bytes, encrypted=${encrypted}`);
  let origin: PublicKey | undefined;
  if (signature !== undefined) {
    const signer = signature.signerPublicKey;
    const valid = signer.length === SIGNER_KEY_LENGTH ? validKey(signer) : false;
    if (valid === undefined) return overBudget();
    if (!valid) return violation('signer_key_invalid', `signer_public_key of ${signer.length} bytes`);
    if (!verifyStrict(signer, binding, signature.signature)) return violation('signature_invalid');
    origin = signer as PublicKey;
  }
  if (encrypted) {
    if (signature !== undefined) return violation('encrypted_signed');
    if (destination.length === 0) return violation('encrypted_no_destination');
    if (type !== DhtMessageType.DOMAIN && type !== DhtMessageType.DISCOVERY) return violation('encrypted_type', DhtMessageType[type]);
    const k = (body.length - SEAL_TAG_LENGTH) / SEAL_PADDING_BLOCK;
    if (!Number.isInteger(k) || k < 1) return violation('encrypted_body_length', `${body.length} bytes`);
  }
  if (destination.length !== 0 && type !== DhtMessageType.JOIN && equals(destination, sendingPeer)) return violation('destination_is_sender');

  if (input.fromStore === true && !(encrypted && forSelf && type === DhtMessageType.DOMAIN)) return violation('stored_not_sealed_domain_for_receiver');
  const allowMemory = input.allowMemory ?? false;
  if (!encrypted) {
    const headerRule = checkCleartextHeader(header, origin, sendingPeer, receiver.publicKey);
    if (headerRule !== undefined) return violation(headerRule.reason, headerRule.detail);
    const checked = checkBody({ messageType: type, origin, nowSeconds: now, allowMemory }, body);
    if (!checked.ok) return violation(cleartextBodyReason(checked.reason), checked.detail);
    // Processed if for self, for nobody or a JOIN; forwarded if not for self (9.1).
    const process = forSelf || destination.length === 0 || type === DhtMessageType.JOIN;
    const verdict: DhtAcceptVerdict = !process ? 'forward' : forSelf ? 'process' : 'process+forward';
    return accept(verdict, { header, body, key, forSelf, origin, decrypted: false, storeCandidate: false, payload: checked.payload, claimIgnored: checked.claimIgnored });
  }
  if (!forSelf) {
    // Not for this node: never opened (9.3), forwarded (9.6) and, if DOMAIN, a store candidate (9.7).
    const storeCandidate = type === DhtMessageType.DOMAIN;
    return accept('forward', { header, body, key, forSelf, origin: undefined, decrypted: false, storeCandidate, payload: undefined, claimIgnored: false });
  }
  const opened = openSealed(provider, receiver, header, body, { nowSeconds: now, allowMemory, keyCheckAllowed: input.keyCheckAllowed });
  if (!opened.ok && opened.reason === 'key_check_budget') return overBudget();
  // The message passed 9.1: its key is recorded even though it cannot be used.
  if (!opened.ok) return reject('drop', opened.reason, opened.detail, header, key, true);
  return accept('process', { header, body, key, forSelf, origin: opened.origin, decrypted: true, storeCandidate: false, payload: opened.payload, claimIgnored: opened.claimIgnored });
}

type AcceptFields = Omit<DhtAccepted, 'verdict' | 'reason' | 'recordDedupKey' | 'dedupKey'> & { key: Uint8Array };

function accept(verdict: DhtAcceptVerdict, f: AcceptFields): DhtAccepted {
  const { key, ...rest } = f;
  return { verdict, reason: undefined, recordDedupKey: true, dedupKey: key, ...rest };
}
