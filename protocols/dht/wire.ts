/**
 * Strict protobuf decoding for the DHT messages. protobuf-es's `fromBinary` reads a known field
 * by its declared type whatever wire type it arrived with (a `uint32` sent length-delimited is
 * read as a varint from the length byte on), which is not a valid encoding: section 9's
 * receivers treat it as undecodable (`tcomms-dht.json`, `wrong-wire-type`). {@link decodeStrict}
 * first walks the bytes against the schema, checking the wire type of every known field at
 * every depth, then decodes. Unknown fields are skipped (proto3: receivers ignore them).
 */
import { fromBinary, ScalarType, type DescField, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { DhtDecodeError } from './errors.js';

/** Known fields by number, per message descriptor. */
const fieldMaps = new WeakMap<DescMessage, Map<number, DescField>>();

function fieldsOf(desc: DescMessage): Map<number, DescField> {
  let map = fieldMaps.get(desc);
  if (map === undefined) {
    map = new Map(desc.fields.map((f) => [f.number, f]));
    fieldMaps.set(desc, map);
  }
  return map;
}

function scalarWireType(scalar: ScalarType): WireType {
  switch (scalar) {
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.Bit32;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    default:
      return WireType.Varint;
  }
}

/** The nested message a field holds (singular or repeated), if any. */
function messageOf(field: DescField): DescMessage | undefined {
  if (field.fieldKind === 'message') return field.message;
  if (field.fieldKind === 'list' && field.listKind === 'message') return field.message;
  return undefined;
}

/** Whether `wireType` is a valid encoding of a non-message field. */
function wireTypeFits(field: DescField, wireType: WireType): boolean {
  switch (field.fieldKind) {
    case 'scalar':
      return wireType === scalarWireType(field.scalar);
    case 'enum':
      return wireType === WireType.Varint;
    case 'list': {
      const own = field.listKind === 'scalar' ? scalarWireType(field.scalar) : WireType.Varint;
      // Repeated numbers may also come packed (one length-delimited run).
      return wireType === own || wireType === WireType.LengthDelimited;
    }
    default:
      return wireType === WireType.LengthDelimited;
  }
}

function walk(desc: DescMessage, reader: BinaryReader, end: number, depth: number): void {
  if (depth > 32) throw new Error('messages nested too deeply');
  const fields = fieldsOf(desc);
  while (reader.pos < end) {
    const [no, wireType] = reader.tag();
    const field = fields.get(no);
    const nested = field === undefined ? undefined : messageOf(field);
    if (nested !== undefined) {
      if (wireType !== WireType.LengthDelimited) throw new Error(`${desc.name} field ${no}: wire type ${wireType}, want 2`);
      const length = reader.uint32();
      const nestedEnd = reader.pos + length;
      if (nestedEnd > end) throw new Error(`${desc.name} field ${no}: premature end`);
      walk(nested, reader, nestedEnd, depth + 1);
    } else {
      if (field !== undefined && !wireTypeFits(field, wireType)) throw new Error(`${desc.name} field ${no}: wire type ${wireType}`);
      reader.skip(wireType, no);
    }
    if (reader.pos > end) throw new Error(`${desc.name}: premature end`);
  }
}

/**
 * Decodes `bytes` as `schema` after checking every known field's wire type; throws
 * {@link DhtDecodeError} on any malformed input. Bytes fields of the result are views into
 * `bytes` (no copy): copy what outlives it. Unknown fields are not kept.
 */
export function decodeStrict<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> {
  try {
    walk(schema, new BinaryReader(bytes), bytes.length, 0);
    return fromBinary(schema, bytes, { readUnknownFields: false });
  } catch (cause) {
    throw decodeError(schema, cause);
  }
}

/**
 * Checks that `bytes` is a well-formed encoding of `schema` as far as framing and wire types go
 * (not field values: invalid UTF-8 is found by decoding). Throws {@link DhtDecodeError}.
 */
export function checkWireTypes(schema: DescMessage, bytes: Uint8Array): void {
  try {
    walk(schema, new BinaryReader(bytes), bytes.length, 0);
  } catch (cause) {
    throw decodeError(schema, cause);
  }
}

function decodeError(schema: DescMessage, cause: unknown): DhtDecodeError {
  return new DhtDecodeError(schema.name, cause instanceof Error ? cause.message : String(cause), { cause });
}
