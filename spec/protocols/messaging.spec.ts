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
