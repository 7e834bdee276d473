/**
 * `protocols/yamux`: the session core as client and server, fed a peer's frames: valid
 * conversations (streams opened, data within the windows, updates, FIN, RST, pings, GoAway),
 * structured random frames, their mutations, and random bytes, in any chunking.
 */
import type { Prng } from '../../core/prng.js';
import { yamuxConfig } from '../../protocols/yamux/config.js';
import { YamuxProtocolError } from '../../protocols/yamux/errors.js';
import { Flag, FrameType, HEADER_LENGTH, INITIAL_WINDOW, readU32, writeHeader } from '../../protocols/yamux/frame.js';
import { YamuxSession } from '../../protocols/yamux/session.js';
import { chunksOf, oracle, typed, type FuzzCase, type FuzzTarget } from '../harness.js';
import { caseFrom, type LengthField, type Seed } from '../mutate.js';
import { concatAll, sameBytes } from './util.js';

interface Conversation {
  parts: Uint8Array[];
  lengthFields: LengthField[];
  at: number;
}

function frame(conv: Conversation, type: number, flags: number, id: number, length: number, payload?: Uint8Array): void {
  const header = new Uint8Array(HEADER_LENGTH);
  writeHeader(header, 0, type, flags, id >>> 0, length >>> 0);
  conv.lengthFields.push({ offset: conv.at + 8, size: 4 }, { offset: conv.at + 4, size: 4 });
  conv.parts.push(header);
  conv.at += HEADER_LENGTH;
  if (payload !== undefined) {
    conv.parts.push(payload);
    conv.at += payload.length;
  }
}

/** A conversation a well-behaved peer could send, given our role and the streams we opened. */
function validConversation(rng: Prng, client: boolean, opened: number): Seed {
  const conv: Conversation = { parts: [], lengthFields: [], at: 0 };
  const ours = Array.from({ length: opened }, (_, i) => (client ? 1 : 2) + 2 * i);
  let nextPeerId = client ? 2 : 1;
  // Streams the peer may still send on, and how much window each has left.
  const open = new Map<number, number>(ours.map((id) => [id, INITIAL_WINDOW]));
  const steps = rng.range(1, 24);
  for (let i = 0; i < steps; i++) {
    const ids = [...open.keys()];
    const op = rng.int(10);
    if (op <= 1 || ids.length === 0) {
      const id = nextPeerId;
      nextPeerId += 2;
      if (rng.chance(0.5)) frame(conv, FrameType.WindowUpdate, Flag.SYN, id, 0);
      else {
        const n = rng.int(200);
        frame(conv, FrameType.Data, Flag.SYN, id, n, rng.bytes(n));
        open.set(id, INITIAL_WINDOW - n);
        continue;
      }
      open.set(id, INITIAL_WINDOW);
      continue;
    }
    const id = rng.pick(ids);
    const left = open.get(id)!;
    switch (op) {
      case 2:
      case 3:
      case 4: {
        const n = Math.min(left, rng.chance(0.1) ? rng.int(70_000) : rng.int(300));
        frame(conv, FrameType.Data, ours.includes(id) && rng.chance(0.3) ? Flag.ACK : 0, id, n, n > 2000 ? new Uint8Array(n) : rng.bytes(n));
        open.set(id, left - n);
        break;
      }
      case 5:
        frame(conv, FrameType.WindowUpdate, ours.includes(id) && rng.chance(0.5) ? Flag.ACK : 0, id, rng.int(100_000));
        break;
      case 6:
        frame(conv, rng.pick([FrameType.WindowUpdate, FrameType.Data]), Flag.FIN, id, 0);
        open.delete(id);
        break;
      case 7:
        frame(conv, FrameType.WindowUpdate, Flag.RST, id, 0);
        open.delete(id);
        break;
      case 8:
        frame(conv, FrameType.Ping, rng.pick([Flag.SYN, Flag.ACK]), 0, rng.next());
        break;
      default:
        frame(conv, FrameType.GoAway, 0, 0, rng.int(3));
    }
  }
  return { name: 'valid conversation', bytes: concatAll(conv.parts), lengthFields: conv.lengthFields };
}

/** Frames with plausible headers and random fields: ids near the live ones, any flags, odd lengths. */
function structuredFrames(rng: Prng): Seed {
  const conv: Conversation = { parts: [], lengthFields: [], at: 0 };
  const count = rng.range(1, 16);
  for (let i = 0; i < count; i++) {
    const type = rng.chance(0.05) ? rng.int(256) : rng.int(4);
    const flags = rng.chance(0.05) ? rng.int(0x10000) : rng.int(16);
    const id = rng.pick([0, rng.range(1, 8), rng.range(1, 8), rng.next()]);
    const length = rng.pick([0, rng.int(64), rng.int(64), INITIAL_WINDOW, INITIAL_WINDOW + 1, rng.next()]);
    const payload = type === FrameType.Data && length <= 64 && rng.chance(0.8) ? rng.bytes(length) : undefined;
    frame(conv, type, flags, id, length, payload);
    if (rng.chance(0.05)) conv.parts.push(new Uint8Array([rng.int(2)]));
  }
  return { name: 'structured frames', bytes: concatAll(conv.parts), lengthFields: conv.lengthFields };
}

interface Run {
  log: string[];
  data: Map<number, Uint8Array[]>;
  output: Uint8Array;
  error: YamuxProtocolError | undefined;
}

function drive(c: FuzzCase, cuts: readonly number[]): Run {
  const client = c.params.client === true;
  const consume = c.params.consume === true;
  const maxInbound = c.params.maxInbound as number;
  const config = yamuxConfig({ maxInboundStreams: maxInbound, maxConnectionMemory: c.params.memory as number });
  const log: string[] = [];
  const data = new Map<number, Uint8Array[]>();
  const received = new Map<number, number>();
  const credited = new Map<number, number>();
  let dataEvents = 0;
  let lastData = -1;
  const session: YamuxSession = new YamuxSession({
    client,
    config,
    events: {
      stream: (id) => {
        log.push(`stream:${id}`);
        lastData = -1;
        // The application answers some streams at once (deterministic in the id).
        if (c.params.actions === true && id % 5 === 0) session.reset(id);
        else if (c.params.actions === true && id % 7 === 0) session.closeWrite(id);
      },
      data: (id, bytes) => {
        dataEvents++;
        if (lastData !== id) log.push(`data:${id}`);
        lastData = id;
        (data.get(id) ?? data.set(id, []).get(id)!).push(bytes.slice());
        received.set(id, (received.get(id) ?? 0) + bytes.length);
        if (consume) session.consumed(id, bytes.length);
      },
      remoteClose: (id) => (log.push(`fin:${id}`), (lastData = -1)),
      reset: (id) => (log.push(`reset:${id}`), (lastData = -1)),
      sendWindow: (id) => (log.push(`window:${id}`), (lastData = -1)),
      pong: (opaque) => (log.push(`pong:${opaque}`), (lastData = -1)),
      goAway: (code) => (log.push(`goaway:${code}`), (lastData = -1)),
      output: () => {},
    },
  });
  const opened = c.params.opened as number;
  for (let i = 0; i < opened; i++) session.openStream();
  const out: Uint8Array[] = [];
  const takeOutput = () => {
    const taken = concatAll(session.takeOutput());
    out.push(taken);
    return taken;
  };
  takeOutput();
  let error: YamuxProtocolError | undefined;
  for (const chunk of chunksOf(c.bytes, cuts)) {
    const eventsBefore = dataEvents;
    try {
      session.receive(chunk);
    } catch (err) {
      error = typed<YamuxProtocolError>(err, [YamuxProtocolError]);
      oracle(session.failed, 'the session threw but is not failed');
    }
    const produced = takeOutput();
    // Each header read can cause one frame out (an ACK, RST or Ping answer), each data event one window update.
    const headers = Math.ceil(chunk.length / HEADER_LENGTH) + 1;
    oracle(produced.length <= HEADER_LENGTH * (headers + dataEvents - eventsBefore + 1), () => `${chunk.length} bytes in made ${produced.length} bytes of output`);
    for (let at = 0; at + HEADER_LENGTH <= produced.length; at += HEADER_LENGTH) {
      if (produced[at + 1] !== FrameType.WindowUpdate) continue;
      const id = readU32(produced, at + 4);
      credited.set(id, (credited.get(id) ?? 0) + readU32(produced, at + 8));
    }
    for (const [id, n] of received) oracle(n <= INITIAL_WINDOW + (credited.get(id) ?? 0), () => `stream ${id} took ${n} bytes with ${credited.get(id) ?? 0} credited`);
    oracle(session.openStreams <= maxInbound + opened, () => `${session.openStreams} streams open (bound ${maxInbound + opened})`);
    oracle(
      session.receiveWindows <= Math.max(config.maxConnectionMemory / 2, session.openStreams * INITIAL_WINDOW),
      () => `receive windows of ${session.receiveWindows} bytes over ${session.openStreams} streams`,
    );
    if (error !== undefined) break;
  }
  if (error !== undefined) {
    // A failed session reads nothing more.
    const before = log.length;
    session.receive(c.bytes);
    oracle(log.length === before && session.takeOutput().length === 0, 'a failed session still reacted to input');
    log.push(`error:${error.violation}`);
  }
  return { log, data, output: concatAll(out), error };
}

/** The yamux session target. */
export const yamuxTarget: FuzzTarget = {
  name: 'yamux',
  covers: 'YamuxSession.receive as client and server: windows, stream limits, pings, GoAway',
  generate(rng) {
    const client = rng.chance(0.5);
    const opened = rng.int(4);
    const seeds = [validConversation(rng, client, opened), structuredFrames(rng)];
    return caseFrom(
      rng,
      seeds,
      {
        client,
        opened,
        maxInbound: rng.pick([1, 2, 4, 512]),
        memory: rng.pick([64 * 1024, 1024 * 1024, 16 * 1024 * 1024]),
        consume: rng.chance(0.5),
        actions: rng.chance(0.3),
      },
      { mix: { random: 0.1, valid: 0.3 } },
    );
  },
  run(c: FuzzCase) {
    const a = drive(c, c.cuts);
    // A valid conversation never breaks the protocol, whatever the application does.
    if (c.origin.startsWith('valid') && c.params.seed === 0) oracle(a.error === undefined, () => `a valid conversation failed: ${a.error?.message}`);
    if (c.params.consume !== true && c.cuts.length > 0) {
      // Any chunking gives the same events, data, output and verdict as the whole stream.
      const b = drive(c, []);
      oracle(a.log.join(' ') === b.log.join(' '), () => `chunked and whole runs differ:\n    ${a.log.join(' ')}\n    ${b.log.join(' ')}`);
      oracle(sameBytes(a.output, b.output), 'chunked and whole runs wrote different output');
      for (const [id, parts] of a.data) oracle(sameBytes(concatAll(parts), concatAll(b.data.get(id) ?? [])), () => `stream ${id} got different data`);
    }
    return a.error === undefined ? 'ok' : `error:${a.error.violation}`;
  },
};
