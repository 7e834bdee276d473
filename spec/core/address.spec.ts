import { expect } from 'chai';
import fc from 'fast-check';
import {
  addressToBytes,
  formatAddress,
  InvalidAddress,
  onion3Problem,
  onion3ServiceId,
  parseAddress,
  toMultiaddr,
} from '../../core/address.js';
import { fromHex, toHex } from '../../core/bytes.js';
import { loadVectors } from '../support/vectors.js';

interface IdentityExample {
  reason?: string;
  what: string;
  reference_peer?: string;
  peer_identity_msg_protobuf: string;
}

/** Field 1 (addresses) of a PeerIdentityMsg, read with a minimal protobuf walk. */
function addressesOf(message: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = message[i++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  while (i < message.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 0) varint();
    else if (wire === 2) {
      const len = varint();
      if (tag >>> 3 === 1) out.push(message.subarray(i, i + len));
      i += len;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
  }
  return out;
}

const ONION = 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd';

describe('addresses (PROTOCOL.md section 5)', () => {
  it('parses every accepted form', () => {
    expect(parseAddress('/ip4/127.0.0.1/tcp/18141')).to.deep.equal({ kind: 'ip4', host: '127.0.0.1', port: 18141 });
    expect(parseAddress('/ip6/::1/tcp/65535')).to.deep.equal({ kind: 'ip6', host: '::1', port: 65535 });
    expect(parseAddress('/dns4/example.com/tcp/1')).to.deep.equal({ kind: 'dns4', host: 'example.com', port: 1 });
    expect(parseAddress('/dns6/a-b.c0/tcp/80')).to.deep.equal({ kind: 'dns6', host: 'a-b.c0', port: 80 });
    expect(parseAddress(`/onion3/${ONION}:9999`)).to.deep.equal({ kind: 'onion3', serviceId: ONION, host: `${ONION}.onion`, port: 9999 });
    expect(parseAddress('/memory/7', { allowMemory: true })).to.deep.equal({ kind: 'memory', id: 7 });
  });

  it('allows port 0, the unspecified address and /memory/0 only for listening', () => {
    for (const text of ['/ip4/0.0.0.0/tcp/0', '/ip6/::/tcp/0', '/memory/0']) {
      expect(() => parseAddress(text, { allowMemory: true }), text).to.throw(InvalidAddress);
      expect(parseAddress(text, { allowMemory: true, purpose: 'listen' })).to.include({});
    }
  });

  it('rejects what section 5 rejects, each with a reason', () => {
    const bad: Array<[string, RegExp]> = [
      ['/ip4/127.0.0.1/tcp/0', /port/],
      ['/ip4/0.0.0.0/tcp/1', /unspecified/],
      ['/ip6/::/tcp/1', /unspecified/],
      ['/dns4/-bad.example.com/tcp/1', /DNS labels/],
      ['/dns4/bad_name.example/tcp/1', /DNS labels/],
      ['/dns4/trailing.dot./tcp/1', /trailing dot/],
      [`/dns4/${'a.'.repeat(126)}ab/tcp/1`, /253 bytes/],
      [`/dns4/${'a'.repeat(64)}/tcp/1`, /DNS labels/],
      [`/onion3/${ONION}:0`, /port/i],
      ['/ip4/127.0.0.1/tcp/1/tcp/2', /two components/],
      ['/ip4/127.0.0.1/udp/1', /\/tcp/],
      ['/ip4/127.0.0.1', /two components/],
      ['/memory/5', /test addresses/],
      ['/tcp/1/ip4/127.0.0.1', /unsupported/],
      ['not an address', /not a multiaddr/],
      [`/onion3/${ONION.slice(0, 55)}a:1`, /checksum|version/],
    ];
    for (const [text, reason] of bad) {
      let caught: unknown;
      try {
        parseAddress(text);
      } catch (err) {
        caught = err;
      }
      expect(caught, text).to.be.instanceOf(InvalidAddress);
      expect((caught as InvalidAddress).kind).to.equal('config');
      expect((caught as InvalidAddress).message, text).to.match(reason);
    }
    expect(parseAddress(`/dns4/${'a.'.repeat(125)}abc/tcp/1`).kind).to.equal('dns4'); // 253 bytes
  });

  it('checks the onion3 version byte and checksum (rend-spec-v3)', () => {
    expect(onion3Problem(ONION)).to.equal(undefined);
    const key = new Uint8Array(32).fill(7);
    const id = onion3ServiceId(key);
    expect(id).to.have.length(56);
    expect(onion3Problem(id)).to.equal(undefined);
    // Flip one character of the checksum part, then the version part.
    const flip = (s: string, at: number) => s.slice(0, at) + (s[at] === 'a' ? 'b' : 'a') + s.slice(at + 1);
    expect(onion3Problem(flip(ONION, 52))).to.match(/checksum|version/);
    expect(onion3Problem(flip(ONION, 55))).to.match(/version/);
    expect(onion3Problem(ONION.toUpperCase())).to.match(/base32/);
  });

  it('agrees with the identity vectors on every address rule', () => {
    const v = loadVectors<{ addresses: Array<{ hex: string; text: string }>; invalid_examples: IdentityExample[]; valid_examples: IdentityExample[] }>(
      'tcomms-identity.json',
    );
    for (const a of v.addresses) {
      expect(formatAddress(parseAddress(fromHex(a.hex))).toString()).to.equal(a.text);
      expect(toHex(addressToBytes(parseAddress(a.text)))).to.equal(a.hex);
    }
    let rejected = 0;
    for (const example of v.invalid_examples.filter((e) => e.reason === 'address')) {
      const hex = /\(([0-9a-f]+)\)/.exec(example.reference_peer ?? '')![1]!;
      expect(() => parseAddress(fromHex(hex)), example.what).to.throw(InvalidAddress);
      rejected++;
    }
    expect(rejected).to.be.greaterThanOrEqual(10);
    let accepted = 0;
    for (const example of v.valid_examples) {
      for (const bytes of addressesOf(fromHex(example.peer_identity_msg_protobuf))) {
        const parsed = parseAddress(bytes);
        expect(toHex(addressToBytes(parsed)), example.what).to.equal(toHex(bytes));
        accepted++;
      }
    }
    expect(accepted).to.be.greaterThanOrEqual(5);
  });

  it('round-trips /memory in the reference binary form (u64 big-endian)', () => {
    const bytes = addressToBytes({ kind: 'memory', id: 5 });
    expect(toHex(bytes)).to.equal('89060000000000000005');
    expect(parseAddress(bytes, { allowMemory: true })).to.deep.equal({ kind: 'memory', id: 5 });
    expect(() => toMultiaddr(Uint8Array.of(0x89, 0x06, 1))).to.throw(InvalidAddress);
  });

  it('random bytes and strings only ever raise InvalidAddress', () => {
    const check = (input: string | Uint8Array) => {
      try {
        parseAddress(input, { allowMemory: true });
      } catch (err) {
        if (!(err instanceof InvalidAddress)) throw err;
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (b) => check(b)), { numRuns: 5000 });
    const piece = fc.constantFrom('/ip4/', '/ip6/', '/dns4/', '/onion3/', '/tcp/', '/memory/', '1', '0', ':', '::1', '127.0.0.1', 'a.b', ONION, '/', '-', '99999');
    fc.assert(fc.property(fc.array(piece, { maxLength: 8 }), (parts) => check(parts.join(''))), { numRuns: 5000 });
    fc.assert(fc.property(fc.string({ maxLength: 80 }), (s) => check(s)), { numRuns: 2000 });
  });
});
