/**
 * The fault-injection transport: the transport compliance suite with faults off (a plan that
 * would break everything, turned off), then each fault kind in each direction, each dial and
 * accept fault, run-time control, and the same decisions for the same seed.
 */
import { expect } from 'chai';
import { multiaddr } from '@multiformats/multiaddr';
import type { Duplex } from 'node:stream';
import { ConnectionRefused, DialAborted } from '../../transports/errors.js';
import { FaultTransport, type FaultPlanInit } from '../../transports/fault/index.js';
import { MemoryNetwork, MemoryTransport } from '../../transports/memory/memory.js';
import type { TransportConnection } from '../../transports/transport.js';
import { transportCompliance } from '../compliance/transport.js';
import { until } from '../support/wait.js';

const HOSTILE: FaultPlanInit = {
  outbound: { drop: 0.2, corrupt: 0.2, reset: 0.1 },
  inbound: { duplicate: 0.2, truncate: 0.2, stall: 0.1 },
  dial: { refuse: 0.5, delay: 0.5 },
  accept: { refuse: 0.5, delay: 0.5 },
};

const complianceNetwork = new MemoryNetwork();
transportCompliance('fault (memory, faults off)', {
  setup: async () => {
    const faulty = new FaultTransport(new MemoryTransport({ network: complianceNetwork }), { seed: 7, plan: HOSTILE, enabled: false });
    return {
      dialer: faulty,
      listener: faulty,
      listenAddress: multiaddr('/memory/0'),
      unreachable: async () => multiaddr('/memory/999999'),
      unsupported: [multiaddr('/ip4/127.0.0.1/tcp/1'), multiaddr('/memory/0'), multiaddr('/dns4/a.b/tcp/1')],
    };
  },
});

/** The chunks `n` of them, each 64 bytes of one value. */
const CHUNKS = Array.from({ length: 40 }, (_, i) => new Uint8Array(64).fill(i + 1));

interface Pair {
  /** The side whose writes (outbound plans) or reads (inbound plans) suffer the faults. */
  faulty: TransportConnection;
  plain: TransportConnection;
  transport: FaultTransport;
  close(): Promise<void>;
}

/** A connection between a fault transport (dialing) and a plain memory listener. */
async function pair(plan: FaultPlanInit, seed = 1): Promise<Pair> {
  const network = new MemoryNetwork();
  const plain = new MemoryTransport({ network });
  const transport = new FaultTransport(new MemoryTransport({ network }), { seed, plan });
  const listener = await plain.listen(multiaddr('/memory/0'));
  const it = listener[Symbol.asyncIterator]();
  const inbound = it.next();
  const faulty = await transport.dial(listener.address);
  const accepted = (await inbound).value as TransportConnection;
  return {
    faulty,
    plain: accepted,
    transport,
    close: async () => {
      transport.disable();
      faulty.stream.destroy();
      accepted.stream.destroy();
      await listener.close();
    },
  };
}

/** Writes every chunk on `from` (one write each) and ends it; what `to` reads, chunk by chunk, until its end or close. */
async function transfer(from: Duplex, to: Duplex, chunks = CHUNKS): Promise<{ chunks: Uint8Array[]; error: Error | undefined }> {
  const got: Uint8Array[] = [];
  let error: Error | undefined;
  const done = new Promise<void>((resolve) => {
    to.on('data', (c: Uint8Array) => got.push(Uint8Array.from(c)));
    to.once('end', () => resolve());
    to.once('close', () => resolve());
    to.once('error', (err) => ((error = err), resolve()));
  });
  from.on('error', (err) => (error ??= err));
  for (const c of chunks) from.write(c);
  from.end();
  await done;
  return { chunks: got, error };
}

const joined = (chunks: readonly Uint8Array[]) => Buffer.concat(chunks);

for (const direction of ['outbound', 'inbound'] as const) {
  describe(`fault transport: ${direction} faults`, () => {
    /** The faulty side writes (outbound) or reads (inbound). */
    const run = async (faults: FaultPlanInit['outbound'], seed = 1) => {
      const p = await pair({ [direction]: faults }, seed);
      try {
        const result = direction === 'outbound' ? await transfer(p.faulty.stream, p.plain.stream) : await transfer(p.plain.stream, p.faulty.stream);
        return { ...result, counts: p.transport.counts() };
      } finally {
        await p.close();
      }
    };

    it('passes every chunk as it is when the plan has no faults', async () => {
      const r = await run({});
      expect(joined(r.chunks)).to.deep.equal(joined(CHUNKS));
      expect(r.counts).to.deep.equal({});
    });

    it('drops chunks: what arrives is the others, in order; the same seed drops the same ones', async () => {
      const a = await run({ drop: 0.5 }, 11);
      const b = await run({ drop: 0.5 }, 11);
      const c = await run({ drop: 0.5 }, 12);
      const kept = (r: typeof a) => r.chunks.map((x) => x[0]!);
      expect(kept(a)).to.deep.equal(kept(b));
      expect(kept(a)).to.not.deep.equal(kept(c));
      expect(a.counts[`${direction}.drop`]).to.equal(CHUNKS.length - a.chunks.length);
      expect(a.chunks.length).to.be.within(5, 35);
      expect(kept(a)).to.deep.equal([...kept(a)].sort((x, y) => x - y)); // in order
    });

    it('duplicates chunks', async () => {
      const r = await run({ duplicate: 1 });
      expect(joined(r.chunks)).to.deep.equal(joined(CHUNKS.flatMap((c) => [c, c])));
      expect(r.counts[`${direction}.duplicate`]).to.equal(CHUNKS.length);
    });

    it('truncates chunks to a strict prefix', async () => {
      const r = await run({ truncate: 1 });
      const total = joined(r.chunks);
      expect(total.length).to.be.lessThan(joined(CHUNKS).length);
      // Each chunk's bytes carry its number: the prefixes come in order, each shorter than 64.
      const runs = new Map<number, number>();
      for (const b of total) runs.set(b, (runs.get(b) ?? 0) + 1);
      for (const [value, n] of runs) expect(n, `chunk ${value}`).to.be.lessThan(64);
      expect(r.counts[`${direction}.truncate`]).to.equal(CHUNKS.length);
    });

    it('corrupts one bit of a chunk', async () => {
      const r = await run({ corrupt: 1 });
      const got = joined(r.chunks);
      const sent = joined(CHUNKS);
      expect(got.length).to.equal(sent.length);
      let bits = 0;
      for (let i = 0; i < got.length; i++) for (let x = got[i]! ^ sent[i]!; x !== 0; x &= x - 1) bits++;
      expect(bits).to.equal(CHUNKS.length);
    });

    it('delays chunks: all arrive, in order', async () => {
      const r = await run({ delay: 0.5 });
      expect(joined(r.chunks)).to.deep.equal(joined(CHUNKS));
      expect(r.counts[`${direction}.delay`]).to.be.greaterThan(0);
    });

    it('stalls a direction until faults are turned off', async () => {
      const p = await pair({ [direction]: { stall: 1 }, stallMs: [60_000, 60_000] });
      try {
        const [from, to] = direction === 'outbound' ? [p.faulty.stream, p.plain.stream] : [p.plain.stream, p.faulty.stream];
        const got: Uint8Array[] = [];
        to.on('data', (c: Uint8Array) => got.push(c));
        from.write(CHUNKS[0]!);
        await until('the stall began', () => p.transport.holds === 1);
        expect(got).to.have.length(0);
        p.transport.disable();
        expect(p.transport.holds).to.equal(0);
        from.write(CHUNKS[1]!);
        await until('both chunks arrived', () => joined(got).length === 128);
        expect(joined(got)).to.deep.equal(joined(CHUNKS.slice(0, 2)));
      } finally {
        await p.close();
      }
    });

    it('resets the connection: the faulty end errors with ECONNRESET, the other closes', async () => {
      const p = await pair({ [direction]: { reset: 1 } });
      try {
        const errored = new Promise<Error>((resolve) => p.faulty.stream.once('error', resolve));
        const closed = new Promise<void>((resolve) => p.plain.stream.once('close', () => resolve()));
        p.plain.stream.on('error', () => {});
        (direction === 'outbound' ? p.faulty : p.plain).stream.write(CHUNKS[0]!);
        expect(((await errored) as NodeJS.ErrnoException).code).to.equal('ECONNRESET');
        await closed;
        expect(p.transport.counts()[`${direction}.reset`]).to.equal(1);
      } finally {
        await p.close();
      }
    });
  });
}

describe('fault transport: dials, accepts and control', () => {
  it('refuses dials (ConnectionRefused), as the seed decides', async () => {
    const network = new MemoryNetwork();
    const listener = await new MemoryTransport({ network }).listen(multiaddr('/memory/0'));
    const outcomes = async (seed: number) => {
      const t = new FaultTransport(new MemoryTransport({ network }), { seed, plan: { dial: { refuse: 0.5 } } });
      const list: string[] = [];
      for (let i = 0; i < 20; i++) {
        try {
          (await t.dial(listener.address)).stream.destroy();
          list.push('ok');
        } catch (err) {
          expect(err).to.be.instanceOf(ConnectionRefused);
          list.push('refused');
        }
      }
      return list;
    };
    try {
      const a = await outcomes(5);
      expect(a).to.deep.equal(await outcomes(5));
      expect(a).to.include('ok').and.to.include('refused');
    } finally {
      await listener.close();
    }
  });

  it('delays dials, and a delayed dial can be aborted', async () => {
    const network = new MemoryNetwork();
    const listener = await new MemoryTransport({ network }).listen(multiaddr('/memory/0'));
    const t = new FaultTransport(new MemoryTransport({ network }), { seed: 3, plan: { dial: { delay: 1 }, delayMs: [30_000, 30_000] } });
    try {
      const controller = new AbortController();
      const dial = t.dial(listener.address, { signal: controller.signal, timeoutMs: 60_000 });
      await until('the dial waits', () => t.holds === 1);
      controller.abort();
      expect(await dial.catch((e: unknown) => e)).to.be.instanceOf(DialAborted);
      expect(t.holds).to.equal(0);
      const delayed = t.dial(listener.address, { timeoutMs: 60_000 });
      await until('the dial waits', () => t.holds === 1);
      t.disable(); // the wait ends now
      (await delayed).stream.destroy();
      expect(t.counts()['dial.delay']).to.equal(2);
    } finally {
      await listener.close();
    }
  });

  it('refuses and delays accepted connections; refused ones count as dropped', async () => {
    const network = new MemoryNetwork();
    const t = new FaultTransport(new MemoryTransport({ network }), { seed: 9, plan: { accept: { refuse: 0.5, delay: 0.5 }, delayMs: [1, 5] } });
    const listener = await t.listen(multiaddr('/memory/0'));
    const dialer = new MemoryTransport({ network });
    try {
      const accepted: TransportConnection[] = [];
      const accepting = (async () => {
        for await (const c of listener) {
          accepted.push(c);
          c.stream.destroy();
        }
      })();
      const closedByListener = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const c = await dialer.dial(listener.address);
          await new Promise<void>((resolve) => c.stream.once('close', () => resolve()).resume());
        }),
      );
      expect(closedByListener).to.have.length(20);
      await until('every connection was taken', () => accepted.length + listener.dropped === 20);
      expect(listener.dropped).to.equal(t.counts()['accept.refuse']);
      expect(listener.dropped).to.be.within(1, 19);
      await listener.close();
      await accepting;
    } finally {
      await listener.close();
    }
  });

  it('turns faults on and off at run time, and takes a new plan', async () => {
    const p = await pair({ outbound: { corrupt: 1 } });
    try {
      p.transport.disable();
      const clean = await transfer(p.faulty.stream, p.plain.stream, CHUNKS.slice(0, 3));
      expect(joined(clean.chunks)).to.deep.equal(joined(CHUNKS.slice(0, 3)));
      expect(p.transport.counts()).to.deep.equal({});
    } finally {
      await p.close();
    }
    const q = await pair({});
    try {
      q.transport.setPlan({ outbound: { duplicate: 1 } });
      q.transport.enable();
      const doubled = await transfer(q.faulty.stream, q.plain.stream, CHUNKS.slice(0, 2));
      expect(joined(doubled.chunks)).to.deep.equal(joined([CHUNKS[0]!, CHUNKS[0]!, CHUNKS[1]!, CHUNKS[1]!]));
    } finally {
      await q.close();
    }
    expect(() => q.transport.setPlan({ inbound: { drop: 0.7, corrupt: 0.7 } })).to.throw(/add up/);
  });
});
