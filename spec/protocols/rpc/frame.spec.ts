import { expect } from 'chai';
import fc from 'fast-check';
import { MAX_RPC_FRAME_BYTES, RpcFrameDecoder, RpcFrameTooLarge, RpcProtocolError, encodeRpcFrame } from '../../../protocols/rpc/index.js';
import { splitAt } from '../../support/streams.js';
import { hex, toHexString } from '../../support/vectors.js';

const header = (n: number) => {
  const h = new Uint8Array(4);
  new DataView(h.buffer).setUint32(0, n, false);
  return h;
};

describe('rpc: frames', () => {
  it('a frame is length:u32 BE | protobuf', () => {
    expect(toHexString(encodeRpcFrame(hex('0a0101')))).to.equal('000000030a0101');
    expect(toHexString(encodeRpcFrame(new Uint8Array(0)))).to.equal('00000000');
    expect(toHexString(encodeRpcFrame(new Uint8Array(300)).subarray(0, 4))).to.equal('0000012c');
  });

  it('decodes empty frames and frames split anywhere', () => {
    const d = new RpcFrameDecoder();
    expect([...d.decode(hex('00000000000000'))].map(toHexString)).to.deep.equal(['']);
    expect(d.buffered).to.equal(3);
    expect(d.atBoundary).to.equal(false);
    expect([...d.decode(hex('02ab'))]).to.deep.equal([]);
    expect(d.buffered).to.equal(1); // the header is read; one byte of the body is held
    expect([...d.decode(hex('cd'))].map(toHexString)).to.deep.equal(['abcd']);
    expect(d.buffered).to.equal(0);
    expect(d.atBoundary).to.equal(true);
  });

  it('a header declaring 4 MiB + 1 is refused from the header alone, before any body', () => {
    const d = new RpcFrameDecoder();
    expect(() => [...d.decode(header(MAX_RPC_FRAME_BYTES + 1))]).to.throw(RpcFrameTooLarge);
    try {
      [...new RpcFrameDecoder().decode(header(MAX_RPC_FRAME_BYTES + 1).subarray(0, 3))];
      [...new RpcFrameDecoder().decode(header(0xffffffff))];
      expect.fail('no error');
    } catch (err) {
      expect(err).to.be.instanceOf(RpcFrameTooLarge).and.instanceOf(RpcProtocolError);
      expect((err as RpcFrameTooLarge).report).to.equal(true);
      expect((err as RpcFrameTooLarge).length).to.equal(0xffffffff);
      expect((err as RpcFrameTooLarge).kind).to.equal('protocol');
    }
    // Split header: the error comes with its last byte.
    const split = new RpcFrameDecoder();
    expect([...split.decode(header(MAX_RPC_FRAME_BYTES + 1).subarray(0, 2))]).to.deep.equal([]);
    expect(() => [...split.decode(header(MAX_RPC_FRAME_BYTES + 1).subarray(2))]).to.throw(RpcFrameTooLarge);
  });

  it('exactly 4 MiB is accepted, and only received bytes are buffered', () => {
    const d = new RpcFrameDecoder();
    expect([...d.decode(Buffer.concat([header(MAX_RPC_FRAME_BYTES), new Uint8Array(10)]))]).to.deep.equal([]);
    expect(d.buffered).to.equal(10);
    const body = new Uint8Array(MAX_RPC_FRAME_BYTES - 10).fill(7);
    const [frame] = [...d.decode(body)];
    expect(frame!.length).to.equal(MAX_RPC_FRAME_BYTES);
    expect(frame![9]).to.equal(0);
    expect(frame![10]).to.equal(7);
  });

  it('frames before an oversized header are yielded first', () => {
    const d = new RpcFrameDecoder();
    const got: string[] = [];
    expect(() => {
      for (const f of d.decode(Buffer.concat([hex('00000001aa'), header(MAX_RPC_FRAME_BYTES + 1)]))) got.push(toHexString(f));
    }).to.throw(RpcFrameTooLarge);
    expect(got).to.deep.equal(['aa']);
  });

  it('keeps no input chunk alive: partial bytes and small frames of big chunks are copies', () => {
    const big = Buffer.concat([hex('00000002abcd'), hex('000003e8'), new Uint8Array(100)]);
    const d = new RpcFrameDecoder();
    const [small] = [...d.decode(big)];
    expect(small!.buffer).not.to.equal(big.buffer); // 2 bytes of a 110-byte chunk: copied
    big.fill(0xff);
    expect(d.buffered).to.equal(100); // the partial frame's bytes, copied
    const [rest] = [...d.decode(new Uint8Array(900))];
    expect(rest!.subarray(0, 100)).to.deep.equal(new Uint8Array(100)); // not the 0xff written over the input
    expect(toHexString(small!)).to.equal('abcd');
    // A frame that is most of its chunk is handed out as a view.
    const whole = Buffer.concat([hex('00000064'), new Uint8Array(100)]);
    const [view] = [...new RpcFrameDecoder().decode(whole)];
    expect(view!.buffer).to.equal(whole.buffer);
  });

  it('any chunking of a stream of frames gives the same frames', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (bodies, cuts) => {
        const stream = Buffer.concat(bodies.map(encodeRpcFrame));
        const d = new RpcFrameDecoder();
        const got = splitAt(stream, cuts).flatMap((c) => [...d.decode(c)].map(toHexString));
        expect(got).to.deep.equal(bodies.map(toHexString));
        expect(d.buffered).to.equal(0);
      }),
      { numRuns: 500 },
    );
  });

  it('random bytes only ever raise RpcFrameTooLarge', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const d = new RpcFrameDecoder(64);
        try {
          for (const c of splitAt(bytes, cuts)) [...d.decode(c)];
          expect(d.buffered).to.be.at.most(4 + 64);
        } catch (err) {
          expect(err).to.be.instanceOf(RpcFrameTooLarge);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
