import { expect } from 'chai';
import { HandshakeState } from '../../../protocols/noise/handshake-state.js';
import { patternOfProtocolName } from '../../../protocols/noise/patterns.js';
import type { CipherState } from '../../../protocols/noise/cipher-state.js';
import { ALL_PROVIDERS, PROVIDERS } from '../../support/providers.js';
import { hex, loadVectors, toHexString } from '../../support/vectors.js';

interface CacophonyVector {
  source?: string;
  name?: string;
  protocol_name: string;
  init_prologue: string;
  init_static: string;
  init_ephemeral: string;
  init_remote_static?: string;
  resp_prologue: string;
  resp_static: string;
  resp_ephemeral: string;
  resp_remote_static?: string;
  handshake_hash?: string;
  messages: { payload: string; ciphertext: string }[];
}

/** Replay a cacophony-format vector on both sides and check every byte. */
export function replayVector(v: CacophonyVector, provider: (typeof PROVIDERS)[number]): void {
  const pattern = patternOfProtocolName(v.protocol_name);
  expect(pattern, v.protocol_name).to.not.equal(undefined);
  const initStatic = provider.x25519FromSecret(hex(v.init_static));
  const respStatic = provider.x25519FromSecret(hex(v.resp_static));
  const init = new HandshakeState(provider, {
    pattern: pattern!,
    initiator: true,
    prologue: hex(v.init_prologue),
    staticKeys: initStatic,
    ephemeralKeys: provider.x25519FromSecret(hex(v.init_ephemeral)),
    ...(pattern === 'IK' ? { remoteStatic: respStatic.publicKey } : {}),
  });
  const resp = new HandshakeState(provider, {
    pattern: pattern!,
    initiator: false,
    prologue: hex(v.resp_prologue),
    staticKeys: respStatic,
    ephemeralKeys: provider.x25519FromSecret(hex(v.resp_ephemeral)),
  });
  let i = 0;
  for (; !init.complete; i++) {
    const m = v.messages[i]!;
    const [writer, reader] = i % 2 === 0 ? [init, resp] : [resp, init];
    const ct = writer.writeMessage(hex(m.payload));
    expect(toHexString(ct), `handshake message ${i}`).to.equal(m.ciphertext);
    expect(toHexString(reader.readMessage(ct)), `payload ${i}`).to.equal(m.payload);
  }
  expect(resp.complete).to.equal(true);
  const a = init.split();
  const b = resp.split();
  if (v.handshake_hash !== undefined) {
    expect(toHexString(a.handshakeHash)).to.equal(v.handshake_hash);
    expect(toHexString(b.handshakeHash)).to.equal(v.handshake_hash);
  }
  expect(toHexString(a.remoteStatic)).to.equal(toHexString(respStatic.publicKey));
  expect(toHexString(b.remoteStatic)).to.equal(toHexString(initStatic.publicKey));
  for (; i < v.messages.length; i++) {
    const m = v.messages[i]!;
    const fromInitiator = i % 2 === 0; // cacophony: message i is the initiator's when i is even
    const [send, recv]: [CipherState, CipherState] = fromInitiator ? [a.send, b.recv] : [b.send, a.recv];
    const ct = send.encryptWithAd(new Uint8Array(0), hex(m.payload));
    expect(toHexString(ct), `transport message ${i}`).to.equal(m.ciphertext);
    expect(toHexString(recv.open(ct))).to.equal(m.payload);
  }
}

describe('Noise known-answer vectors', () => {
  const file = loadVectors<{ vectors: CacophonyVector[] }>('noise-blake2s.json');

  it('has the 9 vectors the issue names (IX, XX, IK from cacophony, snow and noise-c)', () => {
    expect(file.vectors).to.have.length(9);
    const seen = file.vectors.map((v) => `${v.source}:${patternOfProtocolName(v.protocol_name)}`).sort();
    expect(seen).to.deep.equal(
      ['cacophony', 'noise-c', 'snow'].flatMap((s) => ['IK', 'IX', 'XX'].map((p) => `${s}:${p}`)).sort(),
    );
  });

  for (const provider of ALL_PROVIDERS) {
    describe(`provider ${provider.name}`, () => {
      for (const v of file.vectors) {
        it(`${v.source} ${v.protocol_name}`, () => replayVector(v, provider));
      }

      it('the framed IX transcript (empty prologue), byte for byte', () => {
        const t = loadVectors('noise-ix-framed-transcript.json');
        const init = new HandshakeState(provider, {
          pattern: 'IX',
          initiator: true,
          prologue: new Uint8Array(0),
          staticKeys: provider.x25519FromSecret(hex(t.initiator.static_priv)),
          ephemeralKeys: provider.x25519FromSecret(hex(t.initiator.ephemeral_priv)),
        });
        const resp = new HandshakeState(provider, {
          pattern: 'IX',
          initiator: false,
          prologue: new Uint8Array(0),
          staticKeys: provider.x25519FromSecret(hex(t.responder.static_priv)),
          ephemeralKeys: provider.x25519FromSecret(hex(t.responder.ephemeral_priv)),
        });
        expect(toHexString(init.snapshot().s.publicKey)).to.equal(t.initiator.static_pub);
        const frames = t.frames as { from: string; frame_hex: string; plaintext_hex: string }[];
        const frame = (body: Uint8Array) => {
          const out = Buffer.alloc(2 + body.length);
          out.writeUInt16BE(body.length, 0);
          out.set(body, 2);
          return out.toString('hex');
        };
        expect(frame(init.writeMessage())).to.equal(frames[0]!.frame_hex);
        resp.readMessage(hex(frames[0]!.frame_hex).subarray(2));
        expect(frame(resp.writeMessage())).to.equal(frames[1]!.frame_hex);
        init.readMessage(hex(frames[1]!.frame_hex).subarray(2));
        const a = init.split();
        const b = resp.split();
        expect(toHexString(a.handshakeHash)).to.equal(t.handshake_hash);
        for (const f of frames.slice(2)) {
          const [send, recv] = f.from === 'initiator' ? [a.send, b.recv] : [b.send, a.recv];
          const body = send.encryptWithAd(new Uint8Array(0), hex(f.plaintext_hex));
          expect(frame(body)).to.equal(f.frame_hex);
          expect(toHexString(recv.open(body))).to.equal(f.plaintext_hex);
        }
      });
    });
  }
});
