import { expect } from 'chai';
import fc from 'fast-check';
import { fromHex, toHex } from '../../core/bytes.js';

describe('core/bytes hex', () => {
  it('toHex is lowercase hex of any bytes (short and long, views included), and fromHex reads it back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(8), (bytes, cut) => {
        const view = bytes.subarray(Math.min(cut, bytes.length));
        const hex = toHex(view);
        expect(hex).to.equal(Buffer.from(view).toString('hex'));
        expect(Buffer.from(fromHex(hex)).equals(Buffer.from(view))).to.equal(true);
        expect(Buffer.from(fromHex(hex.toUpperCase())).equals(Buffer.from(view))).to.equal(true);
      }),
      { numRuns: 500 },
    );
  });

  it('fromHex accepts exactly the even-length strings of hex digits; anything else is a TypeError', () => {
    const chars = fc.constantFrom(...'0123456789abcdefABCDEFgxz G-\u00e9\u0660\uff10'.split(''));
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 20 }), (cs) => {
        const s = cs.join('');
        const valid = /^(?:[0-9a-fA-F]{2})*$/.test(s);
        if (valid) expect(toHex(fromHex(s))).to.equal(s.toLowerCase());
        else expect(() => fromHex(s)).to.throw(TypeError);
      }),
      { numRuns: 2000 },
    );
  });
});
