/**
 * The message-type rules of PROTOCOL.md 9.5, checked in the order of the table's columns:
 * ENCRYPTED, cleartext signature, destination, then the body (decoded, any claim's key the
 * origin's, then the claim valid). A cleartext message that breaks them is the sending peer's
 * violation; a sealed one is dropped (9.3).
 */
import { create } from '@bufbuild/protobuf';
import { equals } from '../../core/bytes.js';
import type { PublicKey } from '../../core/keys.js';
import { DhtMessageType, PeerClaimSchema, type DhtHeader, type PeerClaim } from '../../proto/gen/tcomms/dht/dht_pb.js';
import { DhtDecodeError } from './errors.js';
import { checkPeerClaim, decodeDiscoveryMessage, decodeDomainMessage, decodePeerClaim, decodeSafRequest, decodeSafStoredMessages, type ValidatedClaim } from './messages.js';
import type { DhtPayload, DhtViolationReason } from './verdict.js';

/** A broken rule and what broke it. */
export interface RuleFailure<R extends string> {
  readonly ok: false;
  readonly reason: R;
  readonly detail: string;
}

/** The header rules of 9.5 for a cleartext message (columns "cleartext signature" and "destination"). */
export type HeaderRuleReason = Extract<
  DhtViolationReason,
  'join_unsigned' | 'join_destination_not_origin' | 'discovery_not_encrypted' | 'response_not_signed_by_sending_peer' | 'destination_not_receiver'
>;

/** The body rules of 9.5; `undecodable` becomes `body_undecodable` or `inner_body_undecodable`. */
export type BodyRuleReason = 'undecodable' | 'discovery_origin_unknown' | 'claim_not_origin' | 'claim_invalid';

/** A body that meets 9.5. */
export interface BodyOk {
  readonly ok: true;
  readonly payload: DhtPayload;
  /** A valid claim that names an address kind the receiver does not accept (9.5). */
  readonly claimIgnored: boolean;
}

/** What the body rules need to know. */
export interface BodyContext {
  readonly messageType: DhtMessageType;
  /** The signer (cleartext) or sealed origin; undefined when anonymous. */
  readonly origin: PublicKey | undefined;
  readonly nowSeconds: bigint;
  readonly allowMemory: boolean;
}

const fail = <R extends string>(reason: R, detail = ''): RuleFailure<R> => ({ ok: false, reason, detail });

/**
 * The header rules of a cleartext message (9.5): JOIN signed, for its origin; no cleartext
 * DISCOVERY; DISCOVERY_RESPONSE signed by the sending peer; DISCOVERY_RESPONSE and SAF messages
 * for the receiver. `origin` is the signer (undefined when unsigned). Undefined when they hold.
 */
export function checkCleartextHeader(
  header: DhtHeader,
  origin: PublicKey | undefined,
  sendingPeer: Uint8Array,
  receiver: Uint8Array,
): RuleFailure<HeaderRuleReason> | undefined {
  switch (header.messageType) {
    case DhtMessageType.JOIN:
      if (origin === undefined) return fail('join_unsigned');
      if (!equals(header.destination, origin)) return fail('join_destination_not_origin');
      return undefined;
    case DhtMessageType.DISCOVERY:
      return fail('discovery_not_encrypted');
    case DhtMessageType.DISCOVERY_RESPONSE:
      if (origin === undefined || !equals(origin, sendingPeer)) return fail('response_not_signed_by_sending_peer');
      return equals(header.destination, receiver) ? undefined : fail('destination_not_receiver');
    case DhtMessageType.SAF_REQUEST_MESSAGES:
    case DhtMessageType.SAF_STORED_MESSAGES:
      return equals(header.destination, receiver) ? undefined : fail('destination_not_receiver');
    default:
      return undefined;
  }
}

/** The body rules of 9.5 for `body` (a cleartext body or a sealed `inner_body`). Never throws on bad input. */
export function checkBody(ctx: BodyContext, body: Uint8Array): BodyOk | RuleFailure<BodyRuleReason> {
  try {
    switch (ctx.messageType) {
      case DhtMessageType.DOMAIN:
        return { ok: true, payload: { kind: 'domain', message: decodeDomainMessage(body) }, claimIgnored: false };
      case DhtMessageType.JOIN:
        return checkClaim(ctx, decodePeerClaim(body), (claim) => ({ kind: 'join', claim }));
      case DhtMessageType.DISCOVERY:
      case DhtMessageType.DISCOVERY_RESPONSE: {
        if (ctx.origin === undefined) return fail('discovery_origin_unknown');
        const m = decodeDiscoveryMessage(body);
        const kind = ctx.messageType === DhtMessageType.DISCOVERY ? 'discovery' : 'discovery_response';
        // An absent claim reads as an empty one, whose (empty) key is not the origin's.
        return checkClaim(ctx, m.claim ?? create(PeerClaimSchema), (claim) => ({ kind, claim, nonce: m.nonce }));
      }
      case DhtMessageType.SAF_REQUEST_MESSAGES:
        return { ok: true, payload: { kind: 'saf_request', request: decodeSafRequest(body) }, claimIgnored: false };
      case DhtMessageType.SAF_STORED_MESSAGES:
        return { ok: true, payload: { kind: 'saf_stored', messages: decodeSafStoredMessages(body) }, claimIgnored: false };
      default:
        return fail('undecodable', `no body is defined for message type ${ctx.messageType}`);
    }
  } catch (err) {
    if (err instanceof DhtDecodeError) return fail('undecodable', err.detail);
    throw err;
  }
}

function checkClaim(ctx: BodyContext, claim: PeerClaim, payload: (claim: ValidatedClaim) => DhtPayload): BodyOk | RuleFailure<BodyRuleReason> {
  if (ctx.origin === undefined || !equals(claim.publicKey, ctx.origin)) return fail('claim_not_origin', 'the claim is not the origin\'s');
  const check = checkPeerClaim(claim, { nowSeconds: ctx.nowSeconds, allowMemory: ctx.allowMemory });
  if (!check.ok) return fail('claim_invalid', check.detail);
  return { ok: true, payload: payload(check.claim), claimIgnored: check.ignored };
}
