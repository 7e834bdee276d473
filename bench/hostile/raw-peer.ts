/**
 * The attacker's tools: raw TCP sockets from a chosen loopback address, and a hand-made peer
 * that completes a real Noise handshake with an identity of its own (the real channel), then
 * does the identity exchange by hand and writes whatever yamux frames an attack needs.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { addressToBytes, parseAddress } from '../../core/address.js';
import { NodeIdentity, publicKeyFromHex } from '../../core/keys.js';
import { NoiseSecureChannel, noiseStaticKeys } from '../../channels/secure-channel.js';
import type { SecureDuplex } from '../../channels/secure-duplex.js';
import { createIdentityMessage, encodeIdentityFrame } from '../../protocols/identity/index.js';
import { encodeNegotiationFrame, NegotiationFlag, protocolIdBytes } from '../../protocols/negotiation/frame.js';
import { Flag, FrameType, HEADER_LENGTH, readU32, writeHeader } from '../../protocols/yamux/frame.js';

/** Where the victim listens. */
export interface Target {
  host: string;
  port: number;
  /** The victim's Ed25519 public key (hex). */
  id: string;
}

/** A raw socket to the victim from `localAddress`, connected (rejects on a connect error). */
export async function rawSocket(target: Target, localAddress: string, timeoutMs = 10_000): Promise<Socket> {
  const socket = connect({ host: target.host, port: target.port, localAddress });
  socket.setNoDelay(true);
  const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), timeoutMs);
  try {
    await once(socket, 'connect');
  } finally {
    clearTimeout(timer);
  }
  socket.on('error', () => {});
  return socket;
}

/** Resolves once `socket` closed, or after `ms` (false then). */
export function closed(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('close', onClose);
      resolve(false);
    }, ms);
    const onClose = () => {
      clearTimeout(timer);
      resolve(true);
    };
    socket.once('close', onClose);
  });
}

/** One yamux frame: a header, and the payload (Data) when given. */
export function yamuxFrame(type: number, flags: number, id: number, length: number, payload?: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + (payload?.length ?? 0));
  writeHeader(out, 0, type, flags, id, length);
  if (payload) out.set(payload, HEADER_LENGTH);
  return out;
}

/** An optimistic proposal of `protocol` (the acceptor answers nothing if it speaks it). */
export function optimisticProposal(protocol: string): Uint8Array {
  return encodeNegotiationFrame(protocolIdBytes(protocol), NegotiationFlag.OPTIMISTIC);
}

/** A yamux frame as read back from the victim (a Data frame's payload is skipped). */
export interface SeenFrame {
  type: number;
  flags: number;
  id: number;
  length: number;
}

/** Splits the victim's plaintext into yamux frames across chunks. */
export class FrameSplitter {
  #buffer = Buffer.alloc(0);
  /** Payload bytes of the current Data frame still to skip. */
  #skip = 0;

  push(chunk: Buffer): SeenFrame[] {
    let data = this.#buffer.length > 0 ? Buffer.concat([this.#buffer, chunk]) : chunk;
    const out: SeenFrame[] = [];
    for (;;) {
      if (this.#skip > 0) {
        const k = Math.min(this.#skip, data.length);
        this.#skip -= k;
        data = data.subarray(k);
        if (this.#skip > 0) break;
      }
      if (data.length < HEADER_LENGTH) break;
      const f = { type: data[1]!, flags: (data[2]! << 8) | data[3]!, id: readU32(data, 4), length: readU32(data, 8) };
      out.push(f);
      data = data.subarray(HEADER_LENGTH);
      if (f.type === FrameType.Data) this.#skip = f.length;
    }
    this.#buffer = Buffer.from(data);
    return out;
  }
}

/** A peer with an identity of its own, authenticated to the victim, speaking yamux by hand. */
export interface HandMadePeer {
  socket: Socket;
  secure: SecureDuplex;
  /** Every frame the victim sent so far is given to listeners of this. */
  onFrame(listener: (f: SeenFrame) => void): void;
  /** The next odd stream id (stream 1 was the identity exchange). */
  nextStreamId(): number;
  destroy(): void;
}

const MESSAGE_ADDRESS = addressToBytes(parseAddress('/ip4/127.0.0.1/tcp/9'));

/**
 * Connects from `localAddress`, completes Noise as the initiator (wire byte 0x00, the victim's
 * key checked) and the identity exchange by hand: stream 1 carries an optimistic proposal of
 * the identity protocol and a signed claim; resolves once the victim has answered on stream 1
 * (its claim), so the connection is active on its side.
 */
export async function handMadePeer(target: Target, localAddress: string, timeoutMs = 20_000): Promise<HandMadePeer> {
  const identity = NodeIdentity.generate();
  const socket = await rawSocket(target, localAddress);
  const timer = setTimeout(() => socket.destroy(new Error('hand-made upgrade timeout')), timeoutMs);
  try {
    const channel = new NoiseSecureChannel({ staticKeys: noiseStaticKeys(identity) });
    const secure = await channel.secureOutbound(socket, { preamble: Uint8Array.of(0), dialedPublicKey: publicKeyFromHex(target.id) });
    secure.on('error', () => {});
    const listeners: Array<(f: SeenFrame) => void> = [];
    const splitter = new FrameSplitter();
    secure.on('data', (d: Buffer) => {
      for (const f of splitter.push(d)) for (const l of listeners) l(f);
    });
    const claim = encodeIdentityFrame(
      createIdentityMessage(identity, {
        addresses: [MESSAGE_ADDRESS],
        features: 1,
        supportedProtocols: ['/tari/messaging/0.1.0'],
        userAgent: 'hostile',
        updatedAt: BigInt(Math.floor(Date.now() / 1000)),
      }),
    );
    const proposal = encodeNegotiationFrame(protocolIdBytes('/tari/identity/1.0.0'), NegotiationFlag.OPTIMISTIC | NegotiationFlag.TERMINATE);
    const answered = new Promise<void>((resolve, reject) => {
      listeners.push((f) => {
        if (f.id === 1 && f.type === FrameType.Data && f.length > 0) resolve();
        if (f.type === FrameType.GoAway) reject(new Error('GoAway during the identity exchange'));
      });
      secure.once('close', () => reject(new Error('closed during the identity exchange')));
    });
    secure.write(Buffer.concat([yamuxFrame(FrameType.WindowUpdate, Flag.SYN, 1, 0), yamuxFrame(FrameType.Data, 0, 1, proposal.length + claim.length, Buffer.concat([proposal, claim]))]));
    await answered;
    let next = 3;
    return {
      socket,
      secure,
      onFrame: (l) => void listeners.push(l),
      nextStreamId: () => {
        const id = next;
        next += 2;
        return id;
      },
      destroy: () => {
        secure.destroy();
        socket.destroy();
      },
    };
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
