import { expect } from 'chai';
import fc from 'fast-check';
import { concat } from '../../../core/bytes.js';
import { TcommsError } from '../../../core/errors.js';
import { Flag, FrameType, HEADER_LENGTH, INITIAL_WINDOW, YamuxProtocolError, YamuxSession, yamuxConfig, type YamuxConfig } from '../../../protocols/yamux/index.js';
import { splitAt } from '../../support/streams.js';
import { refDecode, refEncode, type RefFrame } from './reference-codec.js';

type Ev = [string, ...unknown[]];

/** A session whose events are recorded as plain tuples; `onStream` is called after each stream event. */
function session(client: boolean, config: Partial<YamuxConfig> = {}, onStream?: (s: YamuxSession) => void) {
  const events: Ev[] = [];
  const s: YamuxSession = new YamuxSession({
    client,
    config: yamuxConfig(config),
    events: {
      stream: (id) => {
        events.push(['stream', id]);
        onStream?.(s);
      },
      data: (id, d) => events.push(['data', id, Buffer.from(d).toString('hex')]),
      remoteClose: (id) => events.push(['fin', id]),
      reset: (id) => events.push(['rst', id]),
      sendWindow: (id) => events.push(['window', id]),
      pong: (o) => events.push(['pong', o]),
      goAway: (c) => events.push(['goaway', c]),
      output: () => {},
    },
  });
  return { s, events, out: () => concat(s.takeOutput()) };
}

/** Data events merged per stream (chunking may split payloads). */
function normalise(events: Ev[]): Ev[] {
  const out: Ev[] = [];
  for (const e of events) {
    const last = out[out.length - 1];
    if (e[0] === 'data' && last?.[0] === 'data' && last[1] === e[1]) last[2] = (last[2] as string) + (e[2] as string);
    else out.push([...e]);
  }
  return out;
}

function violation(frames: RefFrame[], expected: string, config: Partial<YamuxConfig> = {}, client = false): void {
  const { s } = session(client, config);
  let err: unknown;
  try {
    s.receive(refEncode(frames));
  } catch (e) {
    err = e;
  }
  expect(err, expected).to.be.instanceOf(YamuxProtocolError);
  expect((err as YamuxProtocolError).violation).to.equal(expected);
  expect((err as YamuxProtocolError).goAwayCode).to.equal(1);
  expect(s.failed).to.equal(true);
}

const syn = (id: number, type = FrameType.WindowUpdate): RefFrame => ({ version: 0, type, flags: Flag.SYN, streamId: id, length: 0 });

/** A random sequence of client commands, applied to a client session. */
const commands = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant('open' as const) }),
    fc.record({ op: fc.constant('write' as const), s: fc.nat(5), data: fc.uint8Array({ maxLength: 3000 }) }),
    fc.record({ op: fc.constant('close' as const), s: fc.nat(5) }),
    fc.record({ op: fc.constant('reset' as const), s: fc.nat(5) }),
    fc.record({ op: fc.constant('ping' as const), v: fc.nat() }),
  ),
  { maxLength: 40 },
);

function applyCommands(client: ReturnType<typeof session>, cmds: fc.Arbitrary<unknown> extends never ? never : Array<{ op: string; s?: number; data?: Uint8Array; v?: number }>): void {
  const ids: number[] = [];
  for (const c of cmds) {
    if (c.op === 'open') ids.push(client.s.openStream());
    else if (c.op === 'ping') client.s.ping(c.v!);
    else if (ids.length > 0) {
      const id = ids[c.s! % ids.length]!;
      if (c.op === 'write') client.s.write(id, c.data!);
      else if (c.op === 'close') client.s.closeWrite(id);
      else client.s.reset(id);
    }
  }
}

describe('yamux session core', () => {
  it('encodes every command as the reference codec reads it', () => {
    const c = session(true);
    const id = c.s.openStream();
    c.s.write(id, Buffer.from('hello'));
    c.s.ping(7);
    c.s.closeWrite(id);
    c.s.goAway(0);
    expect(refDecode(c.out())).to.deep.equal([
      { version: 0, type: 1, flags: Flag.SYN, streamId: 1, length: 0 },
      { version: 0, type: 0, flags: 0, streamId: 1, length: 5, data: new Uint8Array(Buffer.from('hello')) },
      { version: 0, type: 2, flags: Flag.SYN, streamId: 0, length: 7 },
      { version: 0, type: 1, flags: Flag.FIN, streamId: 1, length: 0 },
      { version: 0, type: 3, flags: 0, streamId: 0, length: 0 },
    ]);
  });

  it('any chunking of a peer byte stream gives the same events (against one-chunk decoding)', () => {
    fc.assert(
      fc.property(commands, fc.array(fc.nat(), { maxLength: 30 }), (cmds, cuts) => {
        const client = session(true);
        applyCommands(client, cmds);
        const wire = client.out();
        // The wire as the reference codec sees it must decode completely.
        refDecode(wire);
        const whole = session(false);
        whole.s.receive(wire);
        const pieces = session(false);
        for (const part of splitAt(wire, cuts)) pieces.s.receive(part);
        expect(normalise(pieces.events)).to.deep.equal(normalise(whole.events));
        expect(Buffer.from(pieces.out()).toString('hex')).to.equal(Buffer.from(whole.out()).toString('hex'));
      }),
      { numRuns: 1500 },
    );
  });

  it('yielding at stream opens: receive() stops at the next frame boundary, and the rest fed again gives the same events', () => {
    fc.assert(
      fc.property(commands, fc.array(fc.nat(), { maxLength: 30 }), (cmds, cuts) => {
        const client = session(true);
        applyCommands(client, cmds);
        const wire = client.out();
        const whole = session(false);
        expect(whole.s.receive(wire)).to.equal(wire.length);
        // Where the wire's frames end.
        const boundaries = new Set<number>();
        let at = 0;
        for (const f of refDecode(wire)) boundaries.add((at += HEADER_LENGTH + (f.type === FrameType.Data ? f.length : 0)));
        const yielding = session(false, {}, (s) => s.yieldInput());
        let stops = 0;
        let offset = 0;
        for (const part of splitAt(wire, cuts)) {
          let rest = part;
          while (rest.length > 0) {
            const before = yielding.events.length;
            const used = yielding.s.receive(rest);
            offset += used;
            if (used < rest.length) {
              stops++;
              // Only after a stream was opened, and never inside a frame.
              expect(yielding.events.slice(before).some((e) => e[0] === 'stream')).to.equal(true);
              expect(boundaries.has(offset)).to.equal(true);
            }
            rest = rest.subarray(used);
          }
        }
        expect(stops).to.be.at.most(whole.events.filter((e) => e[0] === 'stream').length);
        expect(normalise(yielding.events)).to.deep.equal(normalise(whole.events));
        expect(Buffer.from(yielding.out()).toString('hex')).to.equal(Buffer.from(whole.out()).toString('hex'));
      }),
      { numRuns: 500 },
    );
  });

  it('a yield asked while the last frame of a chunk is decoded applies to that chunk only', () => {
    const y = session(false, {}, (s) => s.yieldInput());
    const one = refEncode([syn(1)]);
    expect(y.s.receive(one)).to.equal(one.length);
    const three = refEncode([syn(3), syn(5)]);
    expect(y.s.receive(three)).to.equal(12);
    expect(y.events).to.deep.equal([
      ['stream', 1],
      ['stream', 3],
    ]);
  });

  it('random bytes only ever raise YamuxProtocolError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (junk, client) => {
        const { s } = session(client);
        try {
          s.receive(junk);
        } catch (err) {
          expect(err).to.be.instanceOf(TcommsError);
          expect(err).to.be.instanceOf(YamuxProtocolError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('random frames with valid headers only raise YamuxProtocolError', () => {
    const frame = fc.record({
      version: fc.constantFrom(0, 0, 0, 1),
      type: fc.integer({ min: 0, max: 4 }),
      flags: fc.integer({ min: 0, max: 0x1f }),
      streamId: fc.integer({ min: 0, max: 8 }),
      length: fc.integer({ min: 0, max: 300_000 }),
      data: fc.uint8Array({ maxLength: 64 }),
    });
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 20 }), fc.boolean(), (frames, client) => {
        const { s } = session(client);
        try {
          s.receive(refEncode(frames));
        } catch (err) {
          expect(err).to.be.instanceOf(YamuxProtocolError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  describe('violations give a typed error with GoAway code 1', () => {
    it('bad version', () => violation([{ ...syn(1), version: 1 }], 'bad-version'));
    it('unknown type', () => violation([{ ...syn(1), type: 4 }], 'unknown-type'));
    it('unknown flag', () => violation([{ ...syn(1), flags: 0x10 | Flag.SYN }], 'unknown-flag'));
    it('data beyond the window', () =>
      violation([syn(1), { version: 0, type: 0, flags: 0, streamId: 1, length: INITIAL_WINDOW + 1, data: new Uint8Array(INITIAL_WINDOW + 1) }], 'window-exceeded'));
    it('an oversized length (beyond the largest window) before any payload', () => violation([{ version: 0, type: 0, flags: 0, streamId: 9, length: 0xffff_fff0 }], 'window-exceeded'));
    it('a frame for a stream that never existed', () => violation([{ version: 0, type: 1, flags: 0, streamId: 5, length: 10 }], 'stream-never-existed'));
    it('a SYN with the wrong parity (server receiving an even id)', () => violation([syn(2)], 'bad-stream-id'));
    it('a reused stream id', () => violation([syn(3), syn(1)], 'reused-stream-id'));
    it('a window update overflowing 2^32 - 1', () => violation([syn(1), { version: 0, type: 1, flags: 0, streamId: 1, length: 0xffff_ffff }], 'window-overflow'));
    it('data after FIN', () =>
      violation([syn(1), { version: 0, type: 1, flags: Flag.FIN, streamId: 1, length: 0 }, { version: 0, type: 0, flags: 0, streamId: 1, length: 1, data: Uint8Array.of(1) }], 'data-after-fin'));
    it('a Ping on a stream', () => violation([{ version: 0, type: 2, flags: Flag.SYN, streamId: 1, length: 0 }], 'bad-stream-id'));
    it('a Ping with both SYN and ACK', () => violation([{ version: 0, type: 2, flags: Flag.SYN | Flag.ACK, streamId: 0, length: 0 }], 'bad-ping'));
    it('a GoAway code above 2', () => violation([{ version: 0, type: 3, flags: 0, streamId: 0, length: 3 }], 'bad-goaway-code'));
    it('a stream frame on stream 0', () => violation([{ version: 0, type: 0, flags: 0, streamId: 0, length: 0 }], 'bad-stream-id'));
    it('after a violation the session reads nothing more', () => {
      const { s, events } = session(false);
      expect(() => s.receive(refEncode([{ ...syn(1), version: 9 }]))).to.throw(YamuxProtocolError);
      s.receive(refEncode([syn(3)]));
      expect(events).to.deep.equal([]);
    });
  });

  it('answers a Ping SYN with a Ping ACK echoing the opaque value', () => {
    const { s, out } = session(false);
    s.receive(refEncode([{ version: 0, type: 2, flags: Flag.SYN, streamId: 0, length: 0xdeadbeef }]));
    expect(refDecode(out())).to.deep.equal([{ version: 0, type: 2, flags: Flag.ACK, streamId: 0, length: 0xdeadbeef }]);
  });

  it('answers Pings up to the limit the shell sets; the one past it is the violation ping-flood', () => {
    const { s, out } = session(false);
    const ping = (o: number): RefFrame => ({ version: 0, type: FrameType.Ping, flags: Flag.SYN, streamId: 0, length: o });
    s.receive(refEncode([ping(1), ping(2)]));
    expect(s.pingsAnswered, 'no limit by default').to.equal(2);
    s.limitPings(4);
    let err: unknown;
    try {
      s.receive(refEncode([ping(3), ping(4), ping(5), ping(6)]));
    } catch (e) {
      err = e;
    }
    expect((err as YamuxProtocolError).violation).to.equal('ping-flood');
    expect(s.pingsAnswered).to.equal(4);
    const answered = refDecode(out()).filter((f) => f.type === FrameType.Ping && f.flags === Flag.ACK).map((f) => f.length);
    expect(answered, 'the Pings before it were answered, in order').to.deep.equal([1, 2, 3, 4]);
  });

  it('counts the streams the peer opens, refused ones too; the SYN past the limit the shell sets is the violation stream-flood', () => {
    const { s } = session(false, { maxInboundStreams: 2 });
    s.limitStreamOpens(3);
    s.receive(refEncode([syn(1), syn(3), syn(5)])); // the third is refused (RST) but counted
    expect(s.streamsOpenedByPeer).to.equal(3);
    let err: unknown;
    try {
      s.receive(refEncode([syn(7)]));
    } catch (e) {
      err = e;
    }
    expect((err as YamuxProtocolError).violation).to.equal('stream-flood');
    expect(s.streamsOpenedByPeer).to.equal(3);
  });

  it('resets inbound streams beyond the limit, and counts a stream until it is closed both ways', () => {
    const server = session(false, { maxInboundStreams: 2 });
    server.s.receive(refEncode([syn(1), syn(3), syn(5)]));
    const frames = refDecode(server.out());
    expect(frames.map((f) => [f.streamId, f.flags])).to.deep.equal([
      [1, Flag.ACK],
      [3, Flag.ACK],
      [5, Flag.RST],
    ]);
    // Half-closed by the peer only: still counted.
    server.s.receive(refEncode([{ version: 0, type: 1, flags: Flag.FIN, streamId: 1, length: 0 }, syn(7)]));
    expect(refDecode(server.out()).map((f) => [f.streamId, f.flags])).to.deep.equal([[7, Flag.RST]]);
    server.s.closeWrite(1);
    server.out();
    server.s.receive(refEncode([syn(9)]));
    expect(refDecode(server.out()).map((f) => [f.streamId, f.flags])).to.deep.equal([[9, Flag.ACK]]);
    expect(server.s.openStreams).to.equal(2);
  });

  it('flow control: writes stop at the window, resume after an update; reads credit back half-windows and grow', () => {
    const client = session(true);
    const server = session(false, { maxReceiveWindow: 1024 * 1024 });
    const id = client.s.openStream();
    expect(client.s.write(id, new Uint8Array(INITIAL_WINDOW + 100))).to.equal(INITIAL_WINDOW);
    expect(client.s.write(id, new Uint8Array(1))).to.equal(0);
    server.s.receive(client.out());
    // Nothing consumed yet: no update.
    expect(refDecode(server.out()).filter((f) => f.type === 1 && f.flags === 0)).to.deep.equal([]);
    server.s.consumed(id, INITIAL_WINDOW);
    const updates = refDecode(server.out()).filter((f) => f.type === 1 && f.flags === 0);
    // Everything consumed as it came: the window doubles (256 KiB credit + 256 KiB growth).
    expect(updates).to.deep.equal([{ version: 0, type: 1, flags: 0, streamId: id, length: 2 * INITIAL_WINDOW }]);
    client.s.receive(refEncode(updates));
    expect(client.events).to.deep.include(['window', id]);
    expect(client.s.sendWindowOf(id)).to.equal(2 * INITIAL_WINDOW);
  });

  it('receive windows grow only while their sum stays within half the connection memory', () => {
    const server = session(false, { maxReceiveWindow: 16 * 1024 * 1024, maxConnectionMemory: 2 * 1024 * 1024 });
    const client = session(true);
    const grow = (id: number) => {
      // A window's worth sent, and the reader keeps up: the session grows the window if it may.
      const before = server.s.receiveWindows;
      const n = client.s.write(id, new Uint8Array(8 * 1024 * 1024));
      server.s.receive(client.out());
      server.s.consumed(id, n);
      client.s.receive(server.out());
      return server.s.receiveWindows - before;
    };
    const a = client.s.openStream();
    const b = client.s.openStream();
    server.s.receive(client.out());
    expect(server.s.receiveWindows).to.equal(2 * INITIAL_WINDOW);
    expect(grow(a)).to.equal(INITIAL_WINDOW); // a: 512 KiB, 768 KiB in all
    expect(grow(a), 'a to 1 MiB would be 1.25 MiB in all').to.equal(0);
    expect(grow(b)).to.equal(INITIAL_WINDOW); // b: 512 KiB, 1 MiB in all: the bound
    expect(grow(b)).to.equal(0);
    expect(server.s.receiveWindows).to.equal(1024 * 1024);
    // A stream that goes away gives its window back.
    server.s.reset(a);
    expect(server.s.receiveWindows).to.equal(2 * INITIAL_WINDOW);
    expect(grow(b)).to.equal(2 * INITIAL_WINDOW);
  });

  it('a stream closed both ways is forgotten: late header-only frames are dropped, late data is a violation', () => {
    const client = session(true);
    const id = client.s.openStream();
    client.s.closeWrite(id);
    client.s.receive(refEncode([{ version: 0, type: 1, flags: Flag.ACK | Flag.FIN, streamId: id, length: 0 }]));
    expect(client.s.openStreams).to.equal(0);
    client.s.receive(refEncode([{ version: 0, type: 1, flags: 0, streamId: id, length: 100 }]));
    expect(client.s.failed).to.equal(false);
    expect(() => client.s.receive(refEncode([{ version: 0, type: 0, flags: 0, streamId: id, length: 3, data: Uint8Array.of(1, 2, 3) }]))).to.throw(YamuxProtocolError, /window-exceeded/);
    expect(client.events.filter((e) => e[0] === 'data')).to.deep.equal([]);
  });

  it('after this side resets a stream, the data the peer may have had in flight is dropped, and not a byte more', () => {
    const server = session(false);
    server.s.receive(refEncode([syn(1), { version: 0, type: 0, flags: 0, streamId: 1, length: 1000, data: new Uint8Array(1000) }]));
    server.s.reset(1);
    const left = INITIAL_WINDOW - 1000;
    const data = (n: number): RefFrame => ({ version: 0, type: 0, flags: 0, streamId: 1, length: n, data: new Uint8Array(n) });
    server.s.receive(refEncode([data(left - 10)]));
    server.s.receive(refEncode([data(10)]));
    expect(server.s.failed).to.equal(false);
    expect(server.events.filter((e) => e[0] === 'data').length, 'only the data before the reset').to.equal(1);
    expect(() => server.s.receive(refEncode([data(1)]))).to.throw(YamuxProtocolError, /window-exceeded/);
    expect(server.s.failed).to.equal(true);
  });

  it('data on a stream the peer itself reset is a violation (the dropped-data flood)', () => {
    violation([syn(1), { version: 0, type: 1, flags: Flag.RST, streamId: 1, length: 0 }, { version: 0, type: 0, flags: 0, streamId: 1, length: 65_000, data: new Uint8Array(65_000) }], 'window-exceeded');
  });

  it('a refused SYN leaves the peer its initial window in flight, and no more', () => {
    const server = session(false, { maxInboundStreams: 1 });
    server.s.receive(refEncode([syn(1), syn(3)]));
    expect(refDecode(server.out()).map((f) => [f.streamId, f.flags])).to.deep.equal([[1, Flag.ACK], [3, Flag.RST]]);
    const data = (n: number): RefFrame => ({ version: 0, type: 0, flags: 0, streamId: 3, length: n, data: new Uint8Array(n) });
    server.s.receive(refEncode([data(INITIAL_WINDOW)]));
    expect(server.s.failed).to.equal(false);
    expect(() => server.s.receive(refEncode([data(1)]))).to.throw(YamuxProtocolError, /window-exceeded/);
  });

  it('remembers a bounded number of reset streams: data for a forgotten one is a violation', () => {
    const server = session(false, { maxInboundStreams: 8 });
    const frames: RefFrame[] = [];
    for (let i = 0; i < 4097; i++) frames.push(syn(2 * i + 1));
    for (let i = 0; i < 4097; i++) {
      server.s.receive(refEncode([frames[i]!]));
      server.s.reset(2 * i + 1);
    }
    const data = (id: number): RefFrame => ({ version: 0, type: 0, flags: 0, streamId: id, length: 1, data: new Uint8Array(1) });
    server.s.receive(refEncode([data(2 * 4096 + 1)])); // the newest is remembered
    expect(() => server.s.receive(refEncode([data(1)]))).to.throw(YamuxProtocolError, /window-exceeded/); // the oldest was forgotten
  });

  it('refuses new streams after GoAway either way', () => {
    const a = session(true);
    a.s.receive(refEncode([{ version: 0, type: 3, flags: 0, streamId: 0, length: 0 }]));
    expect(a.events).to.deep.equal([['goaway', 0]]);
    expect(() => a.s.openStream()).to.throw(TcommsError);
    const b = session(false);
    b.s.goAway(0);
    b.out();
    b.s.receive(refEncode([syn(1)]));
    expect(refDecode(b.out()).map((f) => f.flags)).to.deep.equal([Flag.RST]);
  });
});
