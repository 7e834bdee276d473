/**
 * The connection upgrade against a hand-made peer over a memory pair: Noise through the real
 * channel, then yamux frames, negotiation frames and identity frames written byte by byte.
 * PROTOCOL.md section 5: the peer's frame is processed without waiting for its FIN, a byte after
 * it is a violation (also once the connection is active), a first substream that is not the
 * identity protocol closes the connection; and a banned peer hears nothing after Noise.
 */
import { expect } from 'chai';
import type { Duplex } from 'node:stream';
import { MemoryBudget } from '../../core/budget.js';
import { NodeIdentity } from '../../core/keys.js';
import { PeerBanned } from '../../channels/errors.js';
import { NoiseSecureChannel, noiseStaticKeys } from '../../channels/secure-channel.js';
import type { SecureDuplex } from '../../channels/secure-duplex.js';
import { FirstSubstreamNotIdentity, IDENTITY_PROTOCOL, PeerConnection, upgradeInbound, upgradeOutbound, type UpgradeConfig } from '../../channels/upgrade.js';
import { createIdentityMessage, encodeIdentityFrame, IdentityInvalid } from '../../protocols/identity/index.js';
import { encodeNegotiationFrame, NegotiationFlag, protocolIdBytes } from '../../protocols/negotiation/frame.js';
import { Flag, FrameType, HEADER_LENGTH, readU32, writeHeader } from '../../protocols/yamux/frame.js';
import { duplexPair } from '../../transports/memory/duplex-pair.js';
import { testNode } from '../support/nodes.js';
import { recordWrites } from '../support/recording.js';
import { until } from '../support/wait.js';

function frame(type: number, flags: number, id: number, payload: Uint8Array = new Uint8Array(0), length = payload.length): Buffer {
  const out = Buffer.alloc(HEADER_LENGTH + payload.length);
  writeHeader(out, 0, type, flags, id, length);
  out.set(payload, HEADER_LENGTH);
  return out;
}

/** yamux frames in `bytes` (type, flags, stream id, payload length). */
function frames(bytes: Buffer): Array<{ type: number; flags: number; id: number; length: number }> {
  const out = [];
  let off = 0;
  while (off + HEADER_LENGTH <= bytes.length) {
    const type = bytes[off + 1]!;
    const length = readU32(bytes, off + 8);
    out.push({ type, flags: (bytes[off + 2]! << 8) | bytes[off + 3]!, id: readU32(bytes, off + 4), length });
    off += HEADER_LENGTH + (type === FrameType.Data ? length : 0);
  }
  return out;
}

/** A hand-made dialer: the real Noise initiator, then whatever bytes the test writes. */
async function handMadePeer(victim: UpgradeConfig) {
  const [ours, theirs] = duplexPair();
  const identity = NodeIdentity.generate();
  const peer = testNode('hand-made', { identity });
  const upgrading = upgradeInbound(theirs, victim).catch((e: unknown) => e);
  const secure: SecureDuplex = await new NoiseSecureChannel({ staticKeys: noiseStaticKeys(identity) }).secureOutbound(ours, {
    preamble: Uint8Array.of(0),
    dialedPublicKey: victim.identity.publicKey,
  });
  secure.on('error', () => {});
  const received: Buffer[] = [];
  secure.on('data', (d: Buffer) => received.push(d));
  return {
    secure,
    raw: ours as Duplex,
    upgrading,
    received: () => Buffer.concat(received),
    identityFrame: () => encodeIdentityFrame(createIdentityMessage(identity, peer.identityContent())),
  };
}

const identityProposal = () => encodeNegotiationFrame(protocolIdBytes(IDENTITY_PROTOCOL), NegotiationFlag.OPTIMISTIC | NegotiationFlag.TERMINATE);

describe('connection upgrade against a hand-made peer (PROTOCOL.md section 5)', function () {
  this.timeout(10_000);

  it("processes the peer's identity frame as soon as it is complete, without waiting for its FIN", async () => {
    const victim = testNode('victim', { identityTimeoutMs: 5_000 });
    const peer = await handMadePeer(victim);
    // Stream 1: the optimistic proposal and the identity frame, and no FIN.
    peer.secure.write(Buffer.concat([frame(FrameType.WindowUpdate, Flag.SYN, 1), frame(FrameType.Data, 0, 1, Buffer.concat([identityProposal(), peer.identityFrame()]))]));
    const result = await peer.upgrading;
    expect(result, String(result)).to.be.instanceOf(PeerConnection);
    const conn = result as PeerConnection;
    expect(conn.peer.userAgent).to.equal('hand-made');
    // The victim wrote its own frame and FIN on stream 1 at once.
    await until('the victim FINs stream 1', () => frames(peer.received()).some((f) => f.id === 1 && (f.flags & Flag.FIN) !== 0));
    // The peer's FIN, later, changes nothing.
    peer.secure.write(frame(FrameType.WindowUpdate, Flag.FIN, 1));
    await new Promise((r) => setTimeout(r, 20));
    expect(conn.muxer.closed).to.equal(false);
    conn.muxer.abort();
    peer.secure.destroy();
  });

  it('a byte after the identity frame, once the connection is active, closes it with a typed protocol error (GoAway 1)', async () => {
    const victim = testNode('victim');
    const peer = await handMadePeer(victim);
    peer.secure.write(Buffer.concat([frame(FrameType.WindowUpdate, Flag.SYN, 1), frame(FrameType.Data, 0, 1, Buffer.concat([identityProposal(), peer.identityFrame()]))]));
    const conn = (await peer.upgrading) as PeerConnection;
    expect(conn).to.be.instanceOf(PeerConnection);
    const closed = new Promise((resolve) => conn.once('close', resolve));
    peer.secure.write(frame(FrameType.Data, 0, 1, Uint8Array.of(0)));
    await until('GoAway from the victim', () => frames(peer.received()).some((f) => f.type === FrameType.GoAway));
    peer.secure.end(); // the peer's EOF lets the victim close at once
    const err = await closed;
    expect(err).to.be.instanceOf(IdentityInvalid);
    expect((err as IdentityInvalid).kind).to.equal('protocol');
    expect((err as IdentityInvalid).reason).to.equal('frame');
    const goAway = frames(peer.received()).find((f) => f.type === FrameType.GoAway);
    expect(goAway?.length, 'GoAway(1)').to.equal(1);
    peer.secure.destroy();
  });

  it('a byte after the identity frame in the same chunk fails the upgrade', async () => {
    const victim = testNode('victim');
    const peer = await handMadePeer(victim);
    peer.secure.write(Buffer.concat([frame(FrameType.WindowUpdate, Flag.SYN, 1), frame(FrameType.Data, 0, 1, Buffer.concat([identityProposal(), peer.identityFrame(), Uint8Array.of(0)]))]));
    const err = await peer.upgrading;
    expect(err).to.be.instanceOf(IdentityInvalid);
    peer.secure.destroy();
  });

  for (const [what, first] of [
    ['another protocol (full mode)', encodeNegotiationFrame(protocolIdBytes('/tari/messaging/0.1.0'), NegotiationFlag.NONE)],
    ['another protocol (optimistic)', encodeNegotiationFrame(protocolIdBytes('/tari/messaging/0.1.0'), NegotiationFlag.OPTIMISTIC)],
    ['a TERMINATE', encodeNegotiationFrame(new Uint8Array(0), NegotiationFlag.TERMINATE)],
  ] as const) {
    it(`a first substream proposing ${what} closes the connection, nothing written in reply`, async () => {
      const victim = testNode('victim');
      const peer = await handMadePeer(victim);
      const ended = new Promise((resolve) => peer.secure.once('close', resolve));
      peer.secure.write(Buffer.concat([frame(FrameType.WindowUpdate, Flag.SYN, 1), frame(FrameType.Data, 0, 1, first)]));
      const err = await peer.upgrading;
      expect(err).to.be.instanceOf(FirstSubstreamNotIdentity);
      expect((err as FirstSubstreamNotIdentity).kind).to.equal('protocol');
      await ended;
      // At most the yamux ACK of the stream: no negotiation reply (no Data), no identity claim.
      expect(frames(peer.received()).filter((f) => f.type === FrameType.Data)).to.deep.equal([]);
    });
  }

  for (const pattern of ['XX', 'IX'] as const) {
    it(`${pattern}: a banned peer is refused right after Noise; the responder writes nothing more (PeerBanned)`, async () => {
      const [dialer, listener] = duplexPair();
      const bannedIdentity = NodeIdentity.generate();
      const a = testNode('banned', { identity: bannedIdentity });
      const b = testNode('victim');
      const asked: Uint8Array[] = [];
      const channel = (identity: NodeIdentity) => new NoiseSecureChannel({ staticKeys: noiseStaticKeys(identity), pattern, recvTimeoutMs: 2_000 });
      const banning: UpgradeConfig = {
        ...b,
        channel: channel(b.identity),
        isBannedNoiseKey: (key) => {
          asked.push(Uint8Array.from(key));
          return Buffer.from(key).equals(Buffer.from(bannedIdentity.noisePublicKey));
        },
      };
      const written = recordWrites(listener);
      const [out, inn] = await Promise.allSettled([
        upgradeOutbound(dialer, { ...a, channel: channel(a.identity), identityTimeoutMs: 1_000 }, { dialedPublicKey: b.identity.publicKey }),
        upgradeInbound(listener, banning),
      ]);
      expect(inn.status).to.equal('rejected');
      const err = (inn as PromiseRejectedResult).reason;
      expect(err).to.be.instanceOf(PeerBanned);
      expect((err as PeerBanned).kind).to.equal('peer');
      expect(out.status).to.equal('rejected');
      expect(asked).to.have.length(1);
      // XX: message 2 only (u16 length, 96 bytes); IX: nothing at all (refused before message 2).
      expect(written().length / 2).to.equal(pattern === 'XX' ? 2 + 96 : 0);
      expect(listener.destroyed).to.equal(true);
    });
  }

  // Found by the chaos test (spec/chaos): the responder took the first substream a turn after it
  // arrived, and a connection ending in that turn destroyed it with an error nobody listened to
  // (an uncaught exception); likewise a substream held until the connection is released.
  it('a connection that ends right after opening a substream fails the upgrade, and nothing is left unhandled', async () => {
    const victim = testNode('victim', { identityTimeoutMs: 2_000 });
    const peer = await handMadePeer(victim);
    peer.secure.end(frame(FrameType.WindowUpdate, Flag.SYN, 1));
    const result = await peer.upgrading;
    expect(result).to.be.instanceOf(Error);
    expect(result).to.not.be.instanceOf(PeerConnection);
  });

  it('a substream held before the connection is released is destroyed quietly when the connection ends', async () => {
    const victim = testNode('victim', { identityTimeoutMs: 5_000 });
    const peer = await handMadePeer(victim);
    peer.secure.write(Buffer.concat([frame(FrameType.WindowUpdate, Flag.SYN, 1), frame(FrameType.Data, 0, 1, Buffer.concat([identityProposal(), peer.identityFrame()]))]));
    const conn = (await peer.upgrading) as PeerConnection;
    expect(conn).to.be.instanceOf(PeerConnection);
    // Stream 3 waits for release() (nobody calls it here); then the connection ends.
    peer.secure.end(frame(FrameType.WindowUpdate, Flag.SYN, 3));
    await conn.muxer.closedPromise;
    await new Promise((resolve) => setImmediate(resolve)); // an unhandled 'error' would be thrown by now
  });

  it("a node's budget given to the upgrade is the parent of each connection's budget", async () => {
    const node = new MemoryBudget(64 * 1024 * 1024);
    const [dialer, listener] = duplexPair();
    const a = testNode('a');
    const b = testNode('b', { budget: node });
    const [out, inn] = await Promise.all([upgradeOutbound(dialer, a, { dialedPublicKey: b.identity.publicKey }), upgradeInbound(listener, b)]);
    const conn = inn as PeerConnection;
    expect(conn.memory.parent).to.equal(node);
    expect(out.memory.parent).to.not.equal(node);
    await Promise.all([out.close(), conn.close()]);
    expect(node.used).to.equal(0);
  });
});
