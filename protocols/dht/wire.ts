/**
 * Strict protobuf decoding for the DHT messages (`protocols/protobuf/strict.ts`): a field sent
 * with the wrong wire type is not a valid encoding, and section 9's receivers treat it as
 * undecodable (`tcomms-dht.json`, `wrong-wire-type`). Every failure is a {@link DhtDecodeError}.
 */
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import { checkWireTypes as check, decodeStrict as decode } from '../protobuf/index.js';
import { DhtDecodeError } from './errors.js';

/**
 * Decodes `bytes` as `schema` after checking every known field's wire type; throws
 * {@link DhtDecodeError} on any malformed input. Bytes fields of the result are views into
 * `bytes` (no copy): copy what outlives it. Unknown fields are not kept.
 */
export function decodeStrict<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> {
  try {
    return decode(schema, bytes);
  } catch (cause) {
    throw decodeError(schema, cause);
  }
}

/** Checks that `bytes` is a well-formed encoding of `schema` as far as framing and wire types go. Throws {@link DhtDecodeError}. */
export function checkWireTypes(schema: DescMessage, bytes: Uint8Array): void {
  try {
    check(schema, bytes);
  } catch (cause) {
    throw decodeError(schema, cause);
  }
}

function decodeError(schema: DescMessage, cause: unknown): DhtDecodeError {
  return new DhtDecodeError(schema.name, cause instanceof Error ? cause.message : String(cause), { cause });
}
