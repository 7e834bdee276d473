import { expect } from 'chai';
import fc from 'fast-check';
import { TcommsError } from '../../core/errors.js';
import { MessageFrameDecoder, MessageTooLarge, messageHeader } from '../../protocols/messaging/index.js';
import { splitAt } from '../support/streams.js';

/** A naive reference encoder: header and body concatenated. */
const frame = (body: Uint8Array) => Buffer.concat([messageHeader(body.length), body]);

describe('messaging frames (PROTOCOL.md section 6)', () => {
  it('decodes any chunking of any sequence of frames to the same bodies (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 10 }), (bodies, cuts) => {
        const bytes = Buffer.concat(bodies.map(frame));
        const decoder = new MessageFrameDecoder(1024);
        const out = splitAt(bytes, cuts.map((c) => c % (bytes.length + 1))).flatMap((chunk) => decoder.push(chunk));
        expect(out.map((b) => Buffer.from(b).toString('hex'))).to.deep.equal(bodies.map((b) => Buffer.from(b).toString('hex')));
        expect(decoder.end()).to.equal(undefined);
      }),
      { numRuns: 2000 },
    );
  });

  it('an empty body is a message; the maximum is allowed and one more byte is MessageTooLarge', () => {
    const d = new MessageFrameDecoder(10);
    expect(d.push(frame(new Uint8Array(0)))).to.have.length(1);
    expect(d.push(frame(new Uint8Array(10)))[0]).to.have.length(10);
    expect(() => d.push(messageHeader(11))).to.throw(MessageTooLarge);
  });

  it('a stream that ends mid-frame reports the lost bytes, not a violation', () => {
    const d = new MessageFrameDecoder();
    d.push(frame(Uint8Array.of(1, 2, 3)).subarray(0, 6));
    expect(d.end()).to.equal(6);
    const h = new MessageFrameDecoder();
    h.push(Uint8Array.of(0, 0));
    expect(h.end()).to.equal(2);
  });

  it('random bytes only ever give bodies or a typed protocol error, and never hold more than the maximum', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
        const d = new MessageFrameDecoder(256);
        try {
          for (const c of chunks) {
            d.push(c);
            expect(d.buffered).to.be.at.most(256 + 4 + 64);
          }
        } catch (err) {
          expect(err).to.be.instanceOf(TcommsError);
          expect((err as TcommsError).kind).to.equal('protocol');
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('messaging frames: what the decoder keeps alive', () => {
  /** A view of `bytes` at the end of a fresh 64 KiB buffer (the rest of it garbage to the decoder). */
  const inBig = (bytes: Uint8Array) => {
    const b = Buffer.allocUnsafeSlow(65536);
    b.set(bytes, b.length - bytes.length);
    return b.subarray(b.length - bytes.length);
  };

  it('a partial frame trickled as small views of large buffers is copied: it keeps about its own size alive', () => {
    const d = new MessageFrameDecoder();
    const wire = frame(Buffer.alloc(10_000, 5));
    for (let i = 0; i < 5_000; i++) expect(d.push(inBig(wire.subarray(i, i + 1)))).to.deep.equal([]);
    expect(d.buffered).to.equal(5_000 - 4);
    expect(d.retained, 'not 50,000 x 64 KiB').to.be.at.most(2 * d.buffered + 256);
    const [body] = d.push(inBig(wire.subarray(5_000)));
    expect(Buffer.from(body!).equals(Buffer.alloc(10_000, 5))).to.equal(true);
    expect(d.retained).to.equal(0);
  });

  it('a small body cut from a large buffer is copied out; a body that is most of its buffer is not', () => {
    const d = new MessageFrameDecoder();
    const [small] = d.push(inBig(frame(Uint8Array.of(1, 2, 3))));
    expect(small!.buffer.byteLength).to.equal(3);
    const whole = Uint8Array.from(frame(Buffer.alloc(1000, 9))); // a buffer of its own
    const [big] = d.push(whole);
    expect(big!.buffer).to.equal(whole.buffer);
  });

  it('any chunking, from buffers of any size, gives the same bodies and keeps at most about twice what it holds (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.array(fc.nat(4096), { minLength: 1, maxLength: 12 }),
        (bodies, cuts, slack) => {
          const bytes = Buffer.concat(bodies.map(frame));
          const d = new MessageFrameDecoder(4096);
          const out: string[] = [];
          splitAt(bytes, cuts.map((c) => c % (bytes.length + 1))).forEach((piece, i) => {
            // Each piece sits inside a larger buffer, with up to 4 KiB of other bytes around it.
            const extra = slack[i % slack.length]!;
            const host = Buffer.alloc(piece.length + extra);
            host.set(piece, extra >> 1);
            for (const b of d.push(host.subarray(extra >> 1, (extra >> 1) + piece.length))) out.push(Buffer.from(b).toString('hex'));
            expect(d.retained).to.be.at.least(d.buffered);
            expect(d.retained).to.be.at.most(2 * d.buffered + 2 * 4096 + 256);
          });
          expect(out).to.deep.equal(bodies.map((b) => Buffer.from(b).toString('hex')));
          expect(d.end()).to.equal(undefined);
          expect(d.retained).to.equal(0);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
