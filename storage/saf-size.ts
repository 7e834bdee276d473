/**
 * Exact sizes of a SAF response (PROTOCOL.md 9.7), so that the store can fill one messaging
 * frame (section 6: a body of at most 8,388,608 bytes) without encoding anything twice. They
 * follow the canonical encodings of `protocols/dht`: `encodeSafStoredMessages` (a `stored_at`
 * of 0 omitted, the envelope always present) and `encodeEnvelope` (the body omitted when empty).
 */
import { varintLength } from '../protocols/dht/varint.js';

/** Bytes of a length-delimited field of `length` bytes: its one-byte tag, its length varint, its bytes. */
function delimited(length: number): number {
  return 1 + varintLength(length) + length;
}

/**
 * Bytes one `StoredMessage` adds to an encoded `SafStoredMessages` (field 1, repeated):
 * `stored_at` (field 1, a varint, omitted when 0) and the envelope (field 2).
 */
export function storedMessageBytes(storedAt: number, envelopeLength: number): number {
  const inner = (storedAt === 0 ? 0 : 1 + varintLength(storedAt)) + delimited(envelopeLength);
  return delimited(inner);
}

/**
 * The largest `SafStoredMessages` body that, in a `DhtEnvelope` whose encoded header is
 * `headerLength` bytes, keeps the envelope within `frameMax` bytes (one messaging frame; the
 * default is `SAF_RESPONSE_MAX_BYTES`). Give it the length of the response's header as it will
 * be sent (with a placeholder signature of the final size when the response is signed: a
 * signature's length does not depend on the body). Negative when even an empty body is too big.
 */
export function safResponseBodyBudget(frameMax: number, headerLength: number): number {
  const rest = frameMax - delimited(headerLength);
  let best = rest >= 0 ? 0 : -1; // an empty body is omitted from the envelope
  for (let lengthBytes = 1; lengthBytes <= 8; lengthBytes++) {
    const body = rest - 1 - lengthBytes;
    if (body > best && varintLength(body) <= lengthBytes) best = body;
  }
  return best;
}
