import { expect } from 'chai';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { TcommsError } from '../../../core/errors.js';
import { nativeProvider } from '../../../core/crypto/index.js';
import { MAX_FRAME_PIECES, U16FrameDecoder, encodeU16Frame } from '../../../protocols/framing/u16-frame-decoder.js';
import { CipherState } from '../../../protocols/noise/cipher-state.js';
import {
  DecryptionFailed,
  FrameTooLarge,
  NoiseMessageLength,
  NoisePayloadNotEmpty,
  NonceExhausted,
  UnexpectedEof,
} from '../../../protocols/noise/errors.js';
import { HandshakeState } from '../../../protocols/noise/handshake-state.js';
import { checkEmptyPayload, checkHandshakeLength, tcommsPrologue } from '../../../protocols/noise/tcomms.js';
import { MAX_PLAINTEXT, NoiseDecoder, NoiseEncoder } from '../../../protocols/noise/transport.js';
import { ALL_PROVIDERS, PROVIDERS } from '../../support/providers.js';
import { splitAt } from '../../support/streams.js';

function cipherPair(provider = nativeProvider): [CipherState, CipherState] {
  const key = randomBytes(32);
  return [new CipherState(provider, key), new CipherState(provider, key)];
}

/** A protocol (or other typed) error, never a TypeError/RangeError from the decoder itself. */
function expectTyped(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(TcommsError);
  }
}

describe('u16 framing', () => {
  it('any chunking of a frame stream decodes to the same frames', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, cuts) => {
        const wire = Buffer.concat(frames.map(encodeU16Frame));
        const dec = new U16FrameDecoder();
        const got: Uint8Array[] = [];
        for (const c of splitAt(wire, cuts)) got.push(...dec.push(c).map((f) => Uint8Array.from(f)));
        dec.end();
        expect(got.map((f) => Buffer.from(f).toString('hex'))).to.deep.equal(frames.map((f) => Buffer.from(f).toString('hex')));
      }),
      { numRuns: 2000 },
    );
  });

  it('pushPieces: any chunking gives the same frames, as views of the chunks, never more than MAX_FRAME_PIECES pieces', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 60 }), (frames, cuts) => {
        const wire = Buffer.concat(frames.map((f) => encodeU16Frame(f)));
        const dec = new U16FrameDecoder();
        const got = splitAt(wire, cuts).flatMap((c) => dec.pushPieces(c));
        dec.end();
        expect(got.length).to.equal(frames.length);
        got.forEach((pieces, i) => {
          expect(pieces.length).to.be.at.most(MAX_FRAME_PIECES);
          expect(Buffer.concat(pieces).equals(Buffer.from(frames[i]!))).to.equal(true);
        });
      }),
      { numRuns: 400 },
    );
  });

  it('pushPieces: a frame trickled one byte at a time is copied into one buffer after MAX_FRAME_PIECES pieces', () => {
    const frame = randomBytes(1000);
    const wire = encodeU16Frame(frame);
    const dec = new U16FrameDecoder();
    const got: Uint8Array[][] = [];
    for (let i = 0; i < wire.length; i++) got.push(...dec.pushPieces(wire.subarray(i, i + 1)));
    expect(got).to.have.length(1);
    expect(got[0]).to.have.length(1);
    expect(Buffer.from(got[0]![0]!).equals(frame)).to.equal(true);
  });

  it('expectFrames: the next frames get their own limits, refused at the prefix (no body needed), then the default applies', () => {
    const dec = new U16FrameDecoder();
    dec.expectFrames([32, 64]);
    expect(dec.push(encodeU16Frame(new Uint8Array(32)))).to.have.length(1);
    let caught: unknown;
    try {
      dec.push(Uint8Array.of(0, 65)); // the prefix alone: 65 > 64
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(FrameTooLarge);
    expect((caught as FrameTooLarge).kind).to.equal('protocol');
    expect((caught as FrameTooLarge).max).to.equal(64);
    const after = new U16FrameDecoder();
    after.expectFrames([2]);
    expect(after.push(Buffer.concat([encodeU16Frame(new Uint8Array(2)), encodeU16Frame(new Uint8Array(5000))]))).to.have.length(2);
  });

  it('pushPieces: a partial frame made of small views of large buffers is copied, so it keeps nothing else alive', () => {
    const dec = new U16FrameDecoder();
    const frame = randomBytes(100);
    const wire = encodeU16Frame(frame);
    // Each piece sits at the end of a 64 KiB buffer (a chunk whose other bytes are garbage to us).
    const big = (bytes: Uint8Array) => {
      const b = Buffer.alloc(65536);
      b.set(bytes, b.length - bytes.length);
      return b.subarray(b.length - bytes.length);
    };
    expect(dec.pushPieces(big(wire.subarray(0, 10)))).to.have.length(0);
    const [pieces] = dec.pushPieces(big(wire.subarray(10)));
    expect(pieces).to.have.length(1);
    expect(pieces![0]!.buffer.byteLength, 'a copy the size of the frame').to.equal(100);
    expect(Buffer.from(pieces![0]!).equals(frame)).to.equal(true);
  });

  it('rejects a frame over the limit, and a stream that ends mid-frame', () => {
    expect(() => new U16FrameDecoder(100).push(Uint8Array.of(0, 101))).to.throw(FrameTooLarge);
    const dec = new U16FrameDecoder();
    dec.push(Uint8Array.of(0, 5, 1));
    expect(dec.buffered).to.equal(1);
    expect(() => dec.end()).to.throw(UnexpectedEof);
    const lone = new U16FrameDecoder();
    lone.push(Uint8Array.of(0));
    expect(() => lone.end()).to.throw(UnexpectedEof);
  });

  it('random bytes only ever give frames or typed errors, and hold at most one frame', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4000 }), fc.integer({ min: 0, max: 0xffff }), (junk, max) => {
        const dec = new U16FrameDecoder(max);
        expectTyped(() => dec.push(junk));
        expect(dec.buffered).to.be.at.most(max + 1);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('Noise transport stream', () => {
  for (const provider of PROVIDERS) {
    it(`${provider.name}: any chunking of the ciphertext gives the same plaintext byte stream`, () => {
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ maxLength: 2000 }), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), (writes, cuts) => {
          const [s, r] = cipherPair(provider);
          const enc = new NoiseEncoder(s);
          const dec = new NoiseDecoder(r);
          const wire = Buffer.concat(writes.flatMap((w) => enc.encrypt(w)));
          const out = Buffer.concat(splitAt(wire, cuts).flatMap((c) => dec.decrypt(c)));
          dec.end();
          expect(out.equals(Buffer.concat(writes))).to.equal(true);
        }),
        { numRuns: 300 },
      );
    });
  }

  for (const provider of ALL_PROVIDERS) {
    it(`${provider.name}: queued writes sealed together (encryptv) and read in any chunking without reassembly (decryptPieces) give the same byte stream, in full messages`, () => {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 0, max: 140_000 }), { maxLength: 5 }), fc.array(fc.nat(), { maxLength: 40 }), (sizes, cuts) => {
          const [s, r] = cipherPair(provider);
          const writes = sizes.map((n) => randomBytes(n));
          const wire = Buffer.concat(new NoiseEncoder(s).encryptv(writes));
          const total = sizes.reduce((a, b) => a + b, 0);
          const lengths = new U16FrameDecoder().push(wire).map((f) => f.length);
          expect(lengths.slice(0, -1).every((l) => l === 65535), 'every message but the last is full').to.equal(true);
          expect(lengths.length).to.equal(Math.max(1, Math.ceil(total / MAX_PLAINTEXT)));
          const dec = new NoiseDecoder(r);
          const out = Buffer.concat(splitAt(wire, cuts).flatMap((c) => dec.decryptPieces(c)));
          dec.end();
          expect(out.equals(Buffer.concat(writes))).to.equal(true);
        }),
        { numRuns: 60 },
      );
    });
  }

  it('encryptFull seals only full messages and returns the rest as views; sealing the rest later gives the same byte stream', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 140_000 }), { maxLength: 5 }), fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 3 }), (sizes, later) => {
        const [s, r] = cipherPair();
        const writes = sizes.map((n) => randomBytes(n));
        const enc = new NoiseEncoder(s);
        const wire: Uint8Array[] = [];
        const rest = enc.encryptFull(writes, wire);
        const total = sizes.reduce((a, b) => a + b, 0);
        const restLength = rest.reduce((a, b) => a + b.length, 0);
        expect(restLength).to.equal(total % MAX_PLAINTEXT);
        expect(new U16FrameDecoder().push(Buffer.concat(wire)).every((f) => f.length === 65535), 'only full messages').to.equal(true);
        const more = later.map((n) => randomBytes(n));
        enc.encryptv([...rest, ...more], wire);
        const dec = new NoiseDecoder(r);
        const out = Buffer.concat(dec.decryptPieces(Buffer.concat(wire)));
        dec.end();
        expect(out.equals(Buffer.concat([...writes, ...more]))).to.equal(true);
      }),
      { numRuns: 40 },
    );
  });

  it('a message opened from its pieces releases nothing when its tag fails: DecryptionFailed', () => {
    const [s, r] = cipherPair();
    const wire = Buffer.concat(new NoiseEncoder(s).encrypt(randomBytes(5000)));
    wire[3000]! ^= 1;
    const dec = new NoiseDecoder(r);
    const released: Uint8Array[] = [];
    expect(() => {
      for (const c of splitAt(wire, [700, 2500, 4000])) dec.decryptPieces(c, released);
    }).to.throw(DecryptionFailed);
    expect(released).to.deep.equal([]);
    expect(r.nonce, 'the nonce did not advance').to.equal(0n);
  });

  it('random bytes fed to decryptPieces in random chunks only raise typed protocol errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(), { maxLength: 10 }), (junk, cuts) => {
        const dec = new NoiseDecoder(cipherPair()[1]);
        expectTyped(() => {
          for (const c of splitAt(junk, cuts)) dec.decryptPieces(c);
          dec.end();
        });
      }),
      { numRuns: 500 },
    );
  });

  it('splits writes at 65519 bytes of plaintext (frames of at most 65535)', () => {
    const [s, r] = cipherPair();
    const big = randomBytes(MAX_PLAINTEXT * 2 + 10);
    const wire = Buffer.concat(new NoiseEncoder(s).encrypt(big));
    const frames = new U16FrameDecoder().push(wire);
    expect(frames.map((f) => f.length)).to.deep.equal([65535, 65535, 26]);
    expect(Buffer.concat(new NoiseDecoder(r).decrypt(wire)).equals(big)).to.equal(true);
    expect(s.nonce).to.equal(3n);
  });

  it('an empty plaintext is one 16-byte frame that adds nothing and consumes a nonce', () => {
    const [s, r] = cipherPair();
    const wire = Buffer.concat(new NoiseEncoder(s).encrypt(new Uint8Array(0)));
    expect(wire.length).to.equal(18);
    expect(new NoiseDecoder(r).decrypt(wire)).to.deep.equal([]);
    expect(r.nonce).to.equal(1n);
  });

  it('a frame shorter than the tag, a flipped bit, a replayed or reordered frame: DecryptionFailed', () => {
    const [s, r] = cipherPair();
    expect(() => new NoiseDecoder(r).decrypt(Uint8Array.of(0, 15, ...new Uint8Array(15)))).to.throw(DecryptionFailed);
    const enc = new NoiseEncoder(s);
    const one = Buffer.concat(enc.encrypt(Buffer.from('one')));
    const two = Buffer.concat(enc.encrypt(Buffer.from('two')));
    const dec = new NoiseDecoder(r);
    expect(() => dec.decrypt(two)).to.throw(DecryptionFailed);
    dec.decrypt(one);
    expect(() => dec.decrypt(one)).to.throw(DecryptionFailed);
    const flipped = Buffer.from(two);
    flipped[5]! ^= 0x40;
    expect(() => dec.decrypt(flipped)).to.throw(DecryptionFailed);
  });

  it('random bytes fed to the transport decoder only raise typed protocol errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (junk) => {
        const [, r] = cipherPair();
        expectTyped(() => new NoiseDecoder(r).decrypt(junk));
      }),
      { numRuns: 3000 },
    );
  });

  it('the nonce 2^64-1 is never used: NonceExhausted', () => {
    const [s] = cipherPair();
    s.nonce = 0xffff_ffff_ffff_fffen;
    new NoiseEncoder(s).encrypt(Uint8Array.of(1));
    expect(s.nonce).to.equal(0xffff_ffff_ffff_ffffn);
    expect(() => new NoiseEncoder(s).encrypt(Uint8Array.of(1))).to.throw(NonceExhausted);
    const [, r] = cipherPair();
    r.nonce = 0xffff_ffff_ffff_ffffn;
    expect(() => r.open(new Uint8Array(16))).to.throw(NonceExhausted);
  });

  it('the nonce counter carries from the low to the high 32 bits', () => {
    const [s, r] = cipherPair();
    s.nonce = 0xffff_ffffn;
    r.nonce = 0xffff_ffffn;
    const enc = new NoiseEncoder(s);
    const dec = new NoiseDecoder(r);
    for (let i = 0; i < 3; i++) expect(Buffer.concat(dec.decrypt(Buffer.concat(enc.encrypt(Uint8Array.of(i))))).toString('hex')).to.equal(`0${i}`);
    expect(s.nonce).to.equal(0x1_0000_0002n);
  });
});

describe('Noise handshake rules', () => {
  const handshake = (initiator: boolean, pattern: 'XX' | 'IX' = 'XX') =>
    new HandshakeState(nativeProvider, { pattern, initiator, prologue: tcommsPrologue(0), staticKeys: nativeProvider.x25519Generate() });

  it('a handshake message of the wrong length is a NoiseMessageLength error', () => {
    for (const pattern of ['XX', 'IX'] as const) {
      const i = handshake(true, pattern);
      const m = i.writeMessage();
      checkHandshakeLength(pattern, 0, m);
      expect(() => checkHandshakeLength(pattern, 0, m.subarray(1))).to.throw(NoiseMessageLength);
      expect(() => checkHandshakeLength(pattern, 0, Buffer.concat([m, Uint8Array.of(0)]))).to.throw(NoiseMessageLength);
      expect(() => handshake(false, pattern).readMessage(m.subarray(0, 10))).to.throw(NoiseMessageLength);
    }
  });

  it('a non-empty handshake payload is a NoisePayloadNotEmpty error', () => {
    const i = handshake(true);
    const r = handshake(false);
    const payload = r.readMessage(i.writeMessage(Uint8Array.of(1, 2, 3)));
    expect(() => checkEmptyPayload(payload)).to.throw(NoisePayloadNotEmpty);
  });

  it('a tampered message 2 fails authentication; a different prologue fails message 2', () => {
    const i = handshake(true);
    const r = handshake(false);
    r.readMessage(i.writeMessage());
    const m2 = r.writeMessage();
    m2[40]! ^= 1;
    expect(() => i.readMessage(m2)).to.throw(DecryptionFailed);
    const i2 = handshake(true);
    const other = new HandshakeState(nativeProvider, { pattern: 'XX', initiator: false, prologue: tcommsPrologue(7), staticKeys: nativeProvider.x25519Generate() });
    other.readMessage(i2.writeMessage());
    expect(() => i2.readMessage(other.writeMessage())).to.throw(DecryptionFailed);
  });

  it('random bytes at every handshake step only raise typed errors', () => {
    fc.assert(
      fc.property(fc.constantFrom('XX', 'IX') as fc.Arbitrary<'XX' | 'IX'>, fc.integer({ min: 0, max: 2 }), fc.uint8Array({ maxLength: 200 }), (pattern, step, junk) => {
        const i = handshake(true, pattern);
        const r = handshake(false, pattern);
        const steps = pattern === 'XX' ? 3 : 2;
        const at = step % steps;
        const states = [i, r];
        for (let k = 0; k < at; k++) states[(k + 1) % 2]!.readMessage(states[k % 2]!.writeMessage());
        const reader = states[(at + 1) % 2]!;
        expectTyped(() => {
          checkHandshakeLength(pattern, at, junk);
          checkEmptyPayload(reader.readMessage(junk));
        });
      }),
      { numRuns: 2000 },
    );
  });
});
