/**
 * The yamux output queue: headers and small payloads copied into one slab shared by every queue
 * of the thread, large payloads by reference. Whatever the interleaving of queues, each takes
 * exactly its own frames in order, and bytes once taken never change afterwards.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { HEADER_LENGTH, writeHeader } from '../../../protocols/yamux/frame.js';
import { OutputQueue } from '../../../protocols/yamux/output.js';

type Op = { queue: number; kind: 'frame'; streamId: number; payload: Uint8Array } | { queue: number; kind: 'take' };

const hex = (parts: Uint8Array[]) => Buffer.concat(parts).toString('hex');

describe('yamux output queue', () => {
  it('interleaved queues each take their own frames in order; taken bytes never change', () => {
    const op = fc.oneof(
      {
        arbitrary: fc.record({
          queue: fc.integer({ min: 0, max: 2 }),
          kind: fc.constant('frame' as const),
          streamId: fc.integer({ min: 1, max: 0xffffffff }),
          // Small (copied), at the copy limit, and large (referenced) payloads; slabs fill up.
          payload: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 2000, maxLength: 2100 }), fc.uint8Array({ minLength: 5000, maxLength: 9000 })),
        }),
        weight: 5,
      },
      { arbitrary: fc.record({ queue: fc.integer({ min: 0, max: 2 }), kind: fc.constant('take' as const) }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops: Op[]) => {
        const queues = [new OutputQueue(), new OutputQueue(), new OutputQueue()];
        const expected: Uint8Array[][] = [[], [], []];
        const taken: Array<{ chunks: Uint8Array[]; hex: string }> = [];
        const take = (q: number) => {
          const chunks = queues[q]!.take();
          expect(hex(chunks)).to.equal(hex(expected[q]!));
          expect(queues[q]!.pendingBytes).to.equal(0);
          taken.push({ chunks, hex: hex(chunks) });
          expected[q] = [];
        };
        for (const o of ops) {
          if (o.kind === 'take') {
            take(o.queue);
            continue;
          }
          const header = new Uint8Array(HEADER_LENGTH);
          writeHeader(header, 0, 0, 0, o.streamId, o.payload.length);
          queues[o.queue]!.header(0, 0, o.streamId, o.payload.length);
          queues[o.queue]!.payload(o.payload);
          expected[o.queue]!.push(header, o.payload);
        }
        for (let q = 0; q < 3; q++) take(q);
        for (const t of taken) expect(hex(t.chunks)).to.equal(t.hex);
      }),
      { numRuns: 400 },
    );
  });

  it('a queue flushed one small frame at a time shares slabs (no slab per flush) and holds none when idle', () => {
    const q = new OutputQueue();
    const buffers = new Set<ArrayBufferLike>();
    for (let i = 0; i < 200; i++) {
      q.header(0, 0, 1, 32);
      q.payload(new Uint8Array(32).fill(i));
      const chunks = q.take();
      // One chunk, or two when the slab filled up between the header and the payload.
      expect(chunks.length).to.be.within(1, 2);
      expect(Buffer.concat(chunks).length).to.equal(44);
      for (const c of chunks) buffers.add(c.buffer);
    }
    // 200 frames of 44 bytes fit in one 16 KiB slab (two if other queues' frames came first).
    expect(buffers.size).to.be.at.most(2);
    expect(q.take()).to.deep.equal([]);
  });
});
