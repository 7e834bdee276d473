import { expect } from 'chai';
import fc from 'fast-check';
import { negotiateInbound, negotiateOutbound } from '../../../channels/negotiate.js';
import { TcommsError } from '../../../core/errors.js';
import {
  decodeNegotiationFrame,
  encodeNegotiationFrame,
  NegotiationAcceptor,
  NegotiationOpener,
  NegotiationTimeout,
  protocolIdBytes,
  type NegotiationStep,
} from '../../../protocols/negotiation/index.js';
import { duplexPair } from '../../../transports/memory/duplex-pair.js';

const SUPPORTED = new Set(['/tari/messaging/0.1.0', '/tari/identity/1.0.0']);

/** Feed random bytes as frames to a core until it stops; only typed errors may come out. */
function drive(bytes: Uint8Array, receive: (f: { flags: number; id: Uint8Array }) => NegotiationStep): void {
  let rest = bytes;
  for (let i = 0; i < 10 && rest.length > 0; i++) {
    let decoded;
    try {
      decoded = decodeNegotiationFrame(rest);
    } catch (err) {
      expect(err).to.be.instanceOf(TcommsError);
      return;
    }
    if (decoded === undefined) return;
    rest = rest.subarray(decoded.used);
    const step = receive(decoded.frame);
    if (step.kind === 'failed') expect(step.error).to.be.instanceOf(TcommsError);
    if (step.kind !== 'continue') return;
  }
}

describe('substream negotiation properties', () => {
  it('random bytes to the acceptor and the opener only give steps or typed errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, asOpener) => {
        if (asOpener) {
          const opener = new NegotiationOpener(['/a/1', '/b/1', '/c/1']);
          opener.start();
          drive(bytes, (f) => opener.receive(f));
        } else {
          const acceptor = new NegotiationAcceptor(SUPPORTED);
          drive(bytes, (f) => acceptor.receive(f));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('the acceptor never writes more than 5 replies, and none after it selected or failed', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ id: fc.constantFrom('', '/x/1', '/tari/messaging/0.1.0'), flags: fc.integer({ min: 0, max: 7 }) }), { maxLength: 12 }), (frames) => {
        const acceptor = new NegotiationAcceptor(SUPPORTED);
        let replies = 0;
        let over = false;
        for (const f of frames) {
          const step = acceptor.receive({ flags: f.flags, id: new TextEncoder().encode(f.id) });
          if (over) {
            expect(step.kind).to.equal('failed');
            expect(step.send).to.equal(undefined);
            continue;
          }
          if (step.send !== undefined) replies++;
          if (step.kind !== 'continue') over = true;
        }
        expect(replies).to.be.at.most(5);
      }),
      { numRuns: 2000 },
    );
  });

  it('the opener writes at most 5 frames whatever the replies', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), (n) => {
        const opener = new NegotiationOpener(Array.from({ length: n }, (_, i) => `/p/${i}`));
        let written = opener.start().send ? 1 : 0;
        for (let i = 0; i < 10; i++) {
          const step = opener.receive({ flags: 0x04, id: new Uint8Array(0) });
          if (step.send) written++;
          if (step.kind !== 'continue') break;
        }
        expect(written).to.be.at.most(5);
      }),
    );
  });

  it('the shell decodes the same under any chunking of the opener bytes, and hands over early protocol bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }), async (sizes) => {
        const [a, b] = duplexPair();
        const wire = Buffer.concat([
          encodeNegotiationFrame(protocolIdBytes('/x/1'), 0),
          encodeNegotiationFrame(protocolIdBytes('/tari/messaging/0.1.0'), 0),
          Buffer.from('protocol bytes'),
        ]);
        const accepted = negotiateInbound(b, SUPPORTED, { timeoutMs: 2000 });
        let off = 0;
        for (let i = 0; off < wire.length; i++) {
          const n = sizes[i % sizes.length]!;
          a.write(wire.subarray(off, off + n));
          off += n;
          await new Promise((r) => setImmediate(r));
        }
        expect(await accepted).to.equal('/tari/messaging/0.1.0');
        const first = await new Promise<Buffer>((resolve) => {
          const got: Buffer[] = [];
          b.on('data', (c: Buffer) => {
            got.push(c);
            if (Buffer.concat(got).length >= 14) resolve(Buffer.concat(got));
          });
        });
        expect(first.toString()).to.equal('protocol bytes');
        a.destroy();
      }),
      { numRuns: 60 },
    );
  });

  it('random bytes from the peer end the substream (reset or close) with a typed error, never a hang', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (junk) => {
        const [a, b] = duplexPair();
        a.on('error', () => {});
        const result = negotiateInbound(b, SUPPORTED, { timeoutMs: 300 }).then(
          () => undefined,
          (err: unknown) => err,
        );
        a.write(junk);
        a.end();
        const err = await result;
        if (err !== undefined) expect(err).to.be.instanceOf(TcommsError);
        a.destroy();
      }),
      { numRuns: 200 },
    );
  });

  it('a silent peer: NegotiationTimeout, and the stream is reset', async () => {
    const [a, b] = duplexPair();
    a.on('error', () => {});
    const err = await negotiateOutbound(b, ['/tari/messaging/0.1.0'], { timeoutMs: 100 }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(NegotiationTimeout);
    expect(b.destroyed).to.equal(true);
  });

  it('protocol ids must be 1-255 bytes', () => {
    expect(() => protocolIdBytes('')).to.throw(RangeError);
    expect(() => protocolIdBytes('x'.repeat(256))).to.throw(RangeError);
    expect(protocolIdBytes('x'.repeat(255))).to.have.length(255);
  });
});
