/**
 * The receiver's verdict on one envelope (PROTOCOL.md 9.1, 9.3, 9.5) and the names of every
 * reason, exactly as `tcomms-dht.json` spells them.
 */
import type { PublicKey } from '../../core/keys.js';
import type { DhtHeader, DomainMessage, SafRequestMessages } from '../../proto/gen/tcomms/dht/dht_pb.js';
import type { StoredEnvelope, ValidatedClaim } from './messages.js';

/**
 * Violations by the sending peer: 9.1 in checking order, then the 9.5 rules of a cleartext
 * message (their order depends on the type: signature, destination, body, claim).
 */
export const VIOLATION_REASONS = [
  'undecodable',
  'no_header',
  'destination_invalid',
  'flags_undefined',
  'ephemeral_key_length',
  'signer_key_invalid',
  'signature_invalid',
  'encrypted_signed',
  'encrypted_no_destination',
  'encrypted_type',
  'encrypted_body_length',
  'destination_is_sender',
  'body_undecodable',
  'join_unsigned',
  'join_destination_not_origin',
  'discovery_not_encrypted',
  'response_not_signed_by_sending_peer',
  'destination_not_receiver',
  'claim_not_origin',
  'claim_invalid',
  // 9.7, for an envelope of a SAF response (`JudgeInput.fromStore`); not in tcomms-dht.json.
  'stored_not_sealed_domain_for_receiver',
] as const;

/** Drops before the violation checks of 9.1 (the message is not recorded), in checking order. */
export const DROP_REASONS = ['version', 'type_undefined', 'expired', 'expires_too_far', 'duplicate'] as const;

/**
 * Why a sealed message for the receiver was dropped after it passed 9.1 (9.3, then 9.5 on
 * `inner_body`), in checking order. Never a violation: the sending peer may be a forwarder.
 */
export const OPEN_FAILURE_REASONS = [
  'shared_secret_zero',
  'tag',
  'inner_length',
  'padding',
  'sealed_undecodable',
  'origin_fields',
  'origin_signature',
  'discovery_origin_unknown',
  'inner_body_undecodable',
  'claim_not_origin',
  'claim_invalid',
] as const;

/** A violation of the sending peer. */
export type DhtViolationReason = (typeof VIOLATION_REASONS)[number];
/** A drop of 9.1. */
export type DhtDropReason = (typeof DROP_REASONS)[number];
/** A drop of a sealed message for the receiver (9.3, 9.5). */
export type DhtOpenFailure = (typeof OPEN_FAILURE_REASONS)[number];
/**
 * Every reason. `internal` is no rule of the protocol: an unexpected failure inside this node
 * (a bug), reported as a drop so that no peer is blamed for it. `key_check_budget` is no rule
 * either: a local limit on full key checks (`JudgeInput.keyCheckAllowed`) dropped it unjudged.
 */
export type DhtReason = DhtViolationReason | DhtDropReason | DhtOpenFailure | 'internal' | 'key_check_budget';

/** What the receiver does with a message that passed 9.1 (and 9.3 when sealed for it). */
export type DhtAcceptVerdict = 'process' | 'forward' | 'process+forward';
/** Every verdict: `violation` is the sending peer's (bans: 9.9); `drop` blames nobody. */
export type DhtVerdict = DhtAcceptVerdict | 'drop' | 'violation';

/** The typed body of an accepted message: what the receiver may use (already checked per 9.5). */
export type DhtPayload =
  | { readonly kind: 'domain'; readonly message: DomainMessage }
  | { readonly kind: 'join'; readonly claim: ValidatedClaim }
  | { readonly kind: 'discovery'; readonly claim: ValidatedClaim; readonly nonce: bigint }
  | { readonly kind: 'discovery_response'; readonly claim: ValidatedClaim; readonly nonce: bigint }
  | { readonly kind: 'saf_request'; readonly request: SafRequestMessages }
  | { readonly kind: 'saf_stored'; readonly messages: readonly StoredEnvelope[] };

/** A message that passed 9.1 (and, when sealed for the receiver, 9.3 and 9.5). Byte fields are views into the envelope. */
export interface DhtAccepted {
  readonly verdict: DhtAcceptVerdict;
  readonly reason: undefined;
  /** Always true: record {@link dedupKey} (9.4). */
  readonly recordDedupKey: true;
  readonly dedupKey: Uint8Array;
  readonly header: DhtHeader;
  /** The body as received (ciphertext when ENCRYPTED): what forwarding and storing send on unchanged. */
  readonly body: Uint8Array;
  /** The destination is the receiver's own key. */
  readonly forSelf: boolean;
  /** The signer of a cleartext message, or the sealed origin; undefined when anonymous or not decrypted. */
  readonly origin: PublicKey | undefined;
  /** The body was a sealed message for the receiver, and it opened and passed every check. */
  readonly decrypted: boolean;
  /** An ENCRYPTED DOMAIN for another node: a candidate for store-and-forward (9.7 decides). */
  readonly storeCandidate: boolean;
  /** The checked body; undefined only for a sealed message for another node. */
  readonly payload: DhtPayload | undefined;
  /** The claim is valid but names an address kind the receiver does not accept: do not store it (9.5). */
  readonly claimIgnored: boolean;
}

/** A dropped message, or the sending peer's violation. */
export interface DhtRejected {
  readonly verdict: 'drop' | 'violation';
  readonly reason: DhtReason;
  /** Human-readable detail (never branch on it). */
  readonly detail: string;
  /** The message passed 9.1 (a sealed message that failed to open): record {@link dedupKey} anyway. */
  readonly recordDedupKey: boolean;
  /** Computed once the header passed the drops before the duplicate check. */
  readonly dedupKey: Uint8Array | undefined;
  /** The decoded header, when there is one. */
  readonly header: DhtHeader | undefined;
}

/** The receiver's verdict on one envelope. */
export type DhtJudgement = DhtAccepted | DhtRejected;

/** Whether the receiver processes (delivers) the message. */
export function shouldProcess(j: DhtJudgement): j is DhtAccepted {
  return j.verdict === 'process' || j.verdict === 'process+forward';
}

/** Whether the message goes on to forwarding (9.6: a node with feature bit 0 forwards DOMAIN, JOIN and DISCOVERY). */
export function shouldForward(j: DhtJudgement): j is DhtAccepted {
  return j.verdict === 'forward' || j.verdict === 'process+forward';
}
