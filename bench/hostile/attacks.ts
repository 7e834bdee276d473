/**
 * The attacks of `bench:hostile` (issue 18), run by the attacker process against the victim.
 * Each runs until its deadline (or until its work is done), from the loopback addresses it is
 * given in turn, and counts what it did. Every loop is bounded by the deadline; every socket is
 * destroyed at the end.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { messageHeader, MESSAGING_PROTOCOL } from '../../protocols/messaging/frame.js';
import { Flag, FrameType, HEADER_LENGTH } from '../../protocols/yamux/frame.js';
import { MAX_PLAINTEXT } from '../../protocols/noise/transport.js';
import { closed, handMadePeer, optimisticProposal, rawSocket, yamuxFrame, type HandMadePeer, type Target } from './raw-peer.js';

/** What an attack is given. */
export interface AttackContext {
  target: Target;
  /** Source addresses, used in turn (127.0.0.2 and up). */
  addresses: string[];
  /** When to stop (performance.now()). */
  deadline: number;
  /** Counters reported at the end. */
  stats: Record<string, number>;
}

/** An attack: resolves when it is over (at its deadline at the latest). */
export type Attack = (ctx: AttackContext) => Promise<void>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const left = (ctx: AttackContext) => ctx.deadline - performance.now();
const count = (ctx: AttackContext, key: string, n = 1) => (ctx.stats[key] = (ctx.stats[key] ?? 0) + n);

/** Resolves on the stream's 'drain' or 'close', or after `ms`; its listeners removed either way. */
function drained(stream: Duplex, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(1, ms));
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/** Every socket and peer an attack opened, destroyed when it ends. */
class Held {
  readonly #all = new Set<{ destroy(): void }>();
  add<T extends { destroy(): void }>(x: T): T {
    this.#all.add(x);
    return x;
  }
  drop(x: { destroy(): void }): void {
    this.#all.delete(x);
    x.destroy();
  }
  get size(): number {
    return this.#all.size;
  }
  clear(): void {
    for (const x of this.#all) x.destroy();
    this.#all.clear();
  }
}

/** Address `i` of the context's addresses, in turn. */
const addressOf = (ctx: AttackContext, i: number) => ctx.addresses[i % ctx.addresses.length]!;

/**
 * `slots` sockets kept open until the deadline: each slot connects, runs `behave` (what it
 * sends), waits for the victim to close it, and connects again; a slot whose socket lived less
 * than a second waits a second first (the attacker's reconnect pace, so that a slot the victim
 * refuses at once does not turn into a connect flood of its own, which would run this machine's
 * ephemeral ports out; see the notes).
 */
async function socketSlots(ctx: AttackContext, slots: number, behave: (s: Socket, slot: number) => Promise<void> | void): Promise<void> {
  const held = new Held();
  let n = 0;
  let most = 0;
  const slot = async (i: number) => {
    while (left(ctx) > 0) {
      const opened = performance.now();
      let socket: Socket;
      try {
        socket = held.add(await rawSocket(ctx.target, addressOf(ctx, n++), Math.min(10_000, Math.max(1, left(ctx)))));
      } catch {
        count(ctx, 'connectErrors');
        await sleep(Math.min(1_000, left(ctx)));
        continue;
      }
      count(ctx, 'sockets');
      socket.resume(); // read and drop what the victim sends, so its close is seen
      most = Math.max(most, held.size);
      try {
        await behave(socket, i);
      } catch {
        count(ctx, 'behaveErrors');
      }
      if (await closed(socket, Math.max(1, left(ctx)))) count(ctx, 'closedByVictim');
      held.drop(socket);
      if (performance.now() - opened < 1_000) await sleep(Math.min(1_000, left(ctx)));
    }
  };
  const ticker = setInterval(() => (ctx.stats.mostOpenAtOnce = Math.max(ctx.stats.mostOpenAtOnce ?? 0, held.size)), 100);
  try {
    await Promise.all(Array.from({ length: slots }, (_, i) => slot(i)));
  } finally {
    clearInterval(ticker);
    held.clear();
  }
  ctx.stats.mostOpenAtOnce = Math.max(ctx.stats.mostOpenAtOnce ?? 0, most);
}

/** 1,000 sockets that send nothing. */
export const silentSockets: Attack = (ctx) => socketSlots(ctx, 1_000, () => {});

/** 1,000 sockets that send the wire byte and stop. */
export const wireByteSockets: Attack = (ctx) =>
  socketSlots(ctx, 1_000, (s) => {
    s.write(Uint8Array.of(0x00));
  });

/**
 * A flood of half-open handshakes: 256 at a time, each the wire byte and a valid XX message 1
 * (a fresh random ephemeral key), abandoned as soon as the victim answers with message 2 (its
 * key generation, two DH and an encryption spent) or after 2 s; then the next one at once.
 */
export const halfOpenHandshakes: Attack = async (ctx) => {
  const held = new Held();
  let n = 0;
  const slot = async () => {
    while (left(ctx) > 0) {
      let socket: Socket;
      try {
        socket = held.add(await rawSocket(ctx.target, addressOf(ctx, n++), Math.min(10_000, Math.max(1, left(ctx)))));
      } catch {
        count(ctx, 'connectErrors');
        await sleep(Math.min(200, left(ctx)));
        continue;
      }
      const answered = new Promise<boolean>((resolve) => {
        let got = 0;
        const timer = setTimeout(() => resolve(false), 2_000);
        socket.on('data', (d: Buffer) => {
          got += d.length;
          if (got >= 2 + 96) {
            clearTimeout(timer);
            resolve(true);
          }
        });
        socket.once('close', () => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      socket.write(Buffer.concat([Buffer.of(0x00, 0x00, 0x20), randomBytes(32)]));
      count(ctx, 'handshakesStarted');
      if (await answered) count(ctx, 'message2Received');
      else count(ctx, 'noAnswer');
      held.drop(socket);
    }
  };
  try {
    await Promise.all(Array.from({ length: 256 }, slot));
  } finally {
    held.clear();
  }
};

/** The four kinds of malformed openings, each a payload then the socket's end (FIN). */
const MALFORMED: Array<[string, () => Buffer]> = [
  ['garbage', () => randomBytes(256)],
  // A handshake frame announcing 65,535 bytes where message 1 has 32, and all of them sent.
  ['oversized', () => Buffer.concat([Buffer.of(0x00, 0xff, 0xff), randomBytes(65_535)])],
  ['wrongWireByte', () => Buffer.concat([Buffer.of(0x42, 0x00, 0x20), randomBytes(32)])],
  // The wire byte and half of message 1, then the end.
  ['truncated', () => Buffer.concat([Buffer.of(0x00, 0x00, 0x20), randomBytes(16)])],
];

/**
 * 10,000 connections of garbage, oversized frames, wrong wire bytes and truncated frames, in
 * turn, 128 at a time; each writes its payload, ends, and waits (at most 15 s) for the victim to
 * close it. Stops at the deadline if the 10,000 are not done.
 */
export const malformedConnections: Attack = async (ctx) => {
  const held = new Held();
  let n = 0;
  const TOTAL = 10_000;
  const slot = async () => {
    while (left(ctx) > 0 && n < TOTAL) {
      const i = n++;
      const [kind, payload] = MALFORMED[i % MALFORMED.length]!;
      let socket: Socket;
      try {
        socket = held.add(await rawSocket(ctx.target, addressOf(ctx, i), Math.min(10_000, Math.max(1, left(ctx)))));
      } catch {
        count(ctx, 'connectErrors');
        continue;
      }
      socket.resume();
      socket.end(payload());
      if (await closed(socket, Math.min(15_000, Math.max(1, left(ctx))))) count(ctx, `${kind}Closed`);
      else count(ctx, `${kind}StillOpen`);
      count(ctx, 'connections');
      held.drop(socket);
    }
  };
  try {
    await Promise.all(Array.from({ length: 128 }, slot));
  } finally {
    held.clear();
  }
};

/** Authenticated peers, `concurrency` upgrades at a time; failures counted. */
async function peers(ctx: AttackContext, n: number, concurrency: number, first = 0): Promise<HandMadePeer[]> {
  const out: HandMadePeer[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n && left(ctx) > 0) {
        const i = next++;
        try {
          out.push(await handMadePeer(ctx.target, addressOf(ctx, first + i)));
          count(ctx, 'peersUpgraded');
        } catch {
          count(ctx, 'upgradeErrors');
        }
      }
    }),
  );
  return out;
}

/** Waits until the deadline, or until every peer is closed. */
async function holdUntilDeadline(ctx: AttackContext, all: HandMadePeer[]): Promise<void> {
  while (left(ctx) > 0 && all.some((p) => !p.socket.destroyed)) await sleep(Math.min(250, left(ctx)));
  ctx.stats.peersClosedByVictim = all.filter((p) => p.socket.destroyed).length;
}

/**
 * The retained-buffer attack: 32 authenticated peers; each opens a messaging substream and
 * announces a message of 1 MiB, opens another substream and resets it, then sends 1,000 full
 * Noise messages (65,519 bytes of plaintext each) that each carry one useful byte of that
 * message and, in the rest, a Data frame for the reset substream (dropped by the victim). A
 * victim that kept each useful byte as a view of its decrypted message would keep 64 KiB alive
 * per byte: about 63 MiB per peer, 2 GiB for the 32. The peers are held until the victim has
 * closed them all; then 32 new peers (new keys) attack again, round after round, until the
 * deadline, as a persistent attacker would (and so that the good peer's connects are sampled
 * over the whole run, not only the 2-3 s one round lasts).
 */
export const retainedBuffers: Attack = async (ctx) => {
  const PEERS = 32;
  const MESSAGES = 1_000;
  const padding = MAX_PLAINTEXT - 2 * HEADER_LENGTH - 1;
  const pad = Buffer.alloc(padding);
  let closed = 0;
  for (let round = 0; left(ctx) > 0; round++) {
    const all = await peers(ctx, PEERS, 4, round * PEERS);
    if (all.length === 0) break; // no upgrade succeeded: counted as upgradeErrors
    count(ctx, 'rounds');
    try {
      await Promise.all(
        all.map(async (p) => {
          const msg = p.nextStreamId();
          const dead = p.nextStreamId();
          const opening = Buffer.concat([optimisticProposal(MESSAGING_PROTOCOL), messageHeader(1024 * 1024)]);
          p.secure.write(
            Buffer.concat([
              yamuxFrame(FrameType.WindowUpdate, Flag.SYN, msg, 0),
              yamuxFrame(FrameType.Data, 0, msg, opening.length, opening),
              yamuxFrame(FrameType.WindowUpdate, Flag.SYN, dead, 0),
              yamuxFrame(FrameType.WindowUpdate, Flag.RST, dead, 0),
            ]),
          );
          await new Promise((r) => setImmediate(r)); // that write leaves as a Noise message of its own
          for (let i = 0; i < MESSAGES && left(ctx) > 0 && !p.secure.destroyed; i++) {
            const message = Buffer.concat([yamuxFrame(FrameType.Data, 0, msg, 1, Uint8Array.of(i & 0xff)), yamuxFrame(FrameType.Data, 0, dead, padding), pad]);
            if (!p.secure.write(message)) await drained(p.secure, left(ctx));
            count(ctx, 'usefulBytes');
          }
        }),
      );
      if (round === 0) ctx.stats.sentAt = Math.round(performance.now());
      await holdUntilDeadline(ctx, all);
      closed += ctx.stats.peersClosedByVictim ?? 0;
    } finally {
      for (const p of all) p.destroy();
    }
  }
  ctx.stats.peersClosedByVictim = closed;
};

/**
 * 16 authenticated peers, each opening 512 messaging substreams (the most a connection may
 * have open), each announcing a message of 8 MiB and sending 8 MiB - 1 bytes of it as fast as
 * the victim's windows allow: a frame one byte short of complete on every substream (32 GiB
 * announced in all). Substreams the victim resets get nothing more. Held until the deadline.
 */
export const messagingSubstreams: Attack = async (ctx) => {
  const PEERS = 16;
  const STREAMS = 512;
  const BODY = 8 * 1024 * 1024;
  const CHUNK = 16 * 1024;
  const all = await peers(ctx, PEERS, 4);
  const junk = randomBytes(CHUNK);
  try {
    await Promise.all(
      all.map(async (p) => {
        // Per stream: bytes of the body still to send, the window the victim granted, reset or not.
        const streams = new Map<number, { left: number; window: number; reset: boolean }>();
        let wake: (() => void) | undefined;
        p.onFrame((f) => {
          const s = streams.get(f.id);
          if (!s) return;
          if ((f.flags & Flag.RST) !== 0) {
            if (!s.reset) count(ctx, 'substreamsReset');
            s.reset = true;
          } else if (f.type === FrameType.WindowUpdate) s.window += f.length;
          wake?.();
        });
        const opening = Buffer.concat([optimisticProposal(MESSAGING_PROTOCOL), messageHeader(BODY)]);
        const open: Buffer[] = [];
        for (let i = 0; i < STREAMS; i++) {
          const id = p.nextStreamId();
          streams.set(id, { left: BODY - 1, window: 256 * 1024 - opening.length, reset: false });
          open.push(yamuxFrame(FrameType.WindowUpdate, Flag.SYN, id, 0), yamuxFrame(FrameType.Data, 0, id, opening.length, opening));
        }
        p.secure.write(Buffer.concat(open));
        count(ctx, 'substreamsOpened', STREAMS);
        // Round robin over the live substreams, a chunk each, within their windows.
        while (left(ctx) > 0 && !p.secure.destroyed) {
          let sent = false;
          for (const [id, s] of streams) {
            if (s.reset || s.left === 0 || s.window === 0) continue;
            const k = Math.min(CHUNK, s.left, s.window);
            s.left -= k;
            s.window -= k;
            sent = true;
            count(ctx, 'bodyBytesSent', k);
            if (s.left === 0) count(ctx, 'framesOneByteShort');
            if (!p.secure.write(Buffer.concat([yamuxFrame(FrameType.Data, 0, id, k), junk.subarray(0, k)]))) {
              await drained(p.secure, left(ctx));
            }
            if (left(ctx) <= 0 || p.secure.destroyed) break;
          }
          if (!sent) {
            // Nothing may be sent: wait for a window update, a reset, or the deadline.
            await new Promise<void>((r) => {
              const timer = setTimeout(r, Math.min(500, Math.max(1, left(ctx))));
              wake = () => {
                clearTimeout(timer);
                r();
              };
            });
            wake = undefined;
          }
        }
      }),
    );
    await holdUntilDeadline(ctx, all);
  } finally {
    for (const p of all) p.destroy();
  }
};

/**
 * A Ping flood from peers that never read: 8 at a time, each authenticated, then it stops
 * reading its socket and writes Pings (1,000 per write, 12,000 bytes) as fast as its own socket
 * takes them; when the victim drops it, another peer with a fresh identity takes its place.
 */
export const pingFlood: Attack = async (ctx) => {
  const pings = Buffer.concat(Array.from({ length: 1000 }, (_, i) => yamuxFrame(FrameType.Ping, Flag.SYN, 0, i)));
  let n = 0;
  const live = new Held();
  const slot = async () => {
    while (left(ctx) > 0) {
      let p: HandMadePeer;
      try {
        p = live.add(await handMadePeer(ctx.target, addressOf(ctx, n++)));
        count(ctx, 'peersUpgraded');
      } catch {
        count(ctx, 'upgradeErrors');
        await sleep(Math.min(500, left(ctx)));
        continue;
      }
      p.secure.pause();
      p.socket.pause(); // never read again: the victim's answers pile up in the kernel's buffers
      const started = performance.now();
      while (left(ctx) > 0 && !p.socket.destroyed) {
        count(ctx, 'pingsWritten', 1000);
        if (!p.secure.write(pings)) await drained(p.secure, Math.min(1_000, left(ctx)));
      }
      if (p.socket.destroyed) {
        count(ctx, 'droppedByVictim');
        ctx.stats.msToDropTotal = (ctx.stats.msToDropTotal ?? 0) + Math.round(performance.now() - started);
      }
      live.drop(p);
    }
  };
  try {
    await Promise.all(Array.from({ length: 8 }, slot));
  } finally {
    live.clear();
  }
};

/**
 * Slow upgrades (slowloris): `slots` at a time (64 from one address; 4 per address from 50,
 * 200 in all), each the wire byte and then message 1 one byte every 500 ms (34 bytes: 17 s,
 * beyond the victim's 10 s upgrade deadline). A closed slot reconnects.
 */
export function slowUpgrades(slots: (addresses: number) => number): Attack {
  return (ctx) =>
    socketSlots(ctx, slots(ctx.addresses.length), async (s) => {
      const bytes = Buffer.concat([Buffer.of(0x00, 0x00, 0x20), randomBytes(32)]);
      for (let i = 0; i < bytes.length && !s.destroyed && left(ctx) > 0; i++) {
        s.write(bytes.subarray(i, i + 1));
        count(ctx, 'bytesTrickled');
        await Promise.race([sleep(Math.min(500, left(ctx))), closed(s, 500)]);
      }
    });
}

/** Every attack by name. */
export const ATTACKS: Record<string, Attack> = {
  'silent-sockets': silentSockets,
  'wire-byte-sockets': wireByteSockets,
  'half-open-handshakes': halfOpenHandshakes,
  'malformed-connections': malformedConnections,
  'retained-buffers': retainedBuffers,
  'messaging-substreams': messagingSubstreams,
  'ping-flood': pingFlood,
  'slow-upgrades': slowUpgrades((addresses) => (addresses === 1 ? 64 : 4 * addresses)),
};
