import { expect } from 'chai';
import { once } from 'node:events';
import { NoiseSecureChannel } from '../../../channels/secure-channel.js';
import { NodeIdentity } from '../../../core/keys.js';
import { duplexPair } from '../../../transports/memory/duplex-pair.js';
import { ALL_PROVIDERS } from '../../support/providers.js';
import { recordWrites } from '../../support/recording.js';
import { hex, loadVectors, toHexString } from '../../support/vectors.js';
import { replayVector } from './vectors.spec.js';

const file = loadVectors('tcomms-noise.json');

async function readExactly(stream: NodeJS.ReadableStream & { read(n?: number): Buffer | null }, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  while (have < n) {
    const chunk = stream.read() as Buffer | null;
    if (chunk === null) {
      await once(stream as never, 'readable');
      continue;
    }
    parts.push(chunk as Buffer);
    have += chunk.length;
  }
  return Buffer.concat(parts);
}

describe('tcomms Noise vectors (PROTOCOL.md section 2)', () => {
  for (const provider of ALL_PROVIDERS) {
    for (const v of file.vectors as any[]) {
      describe(`${v.name} (${provider.name})`, () => {
        it('replays as a cacophony vector', () => replayVector(v, provider));

        it('NoiseSecureChannel writes exactly initiator_wire_hex and responder_wire_hex', async () => {
          const init = NodeIdentity.fromSeed(hex(v.init_ed25519_seed));
          const resp = NodeIdentity.fromSeed(hex(v.resp_ed25519_seed));
          expect(toHexString(init.noisePublicKey)).to.equal(v.init_static_public);
          expect(toHexString(resp.noiseStaticSecret())).to.equal(v.resp_static);
          const pattern = v.protocol_name.includes('_XX_') ? 'XX' : 'IX';
          const networkByte = parseInt(v.network_byte, 16);
          const common = { pattern, networkByte, provider } as const;
          const ci = new NoiseSecureChannel({ ...common, staticKeys: provider.x25519FromSecret(init.noiseStaticSecret()) });
          const cr = new NoiseSecureChannel({ ...common, staticKeys: provider.x25519FromSecret(resp.noiseStaticSecret()) });
          const [a, b] = duplexPair();
          const wireA = recordWrites(a);
          const wireB = recordWrites(b);
          a.write(Uint8Array.of(networkByte));
          const [sa, sb] = await Promise.all([
            ci.secureOutbound(a, { dialedPublicKey: resp.publicKey, ephemeralKeys: provider.x25519FromSecret(hex(v.init_ephemeral)) }),
            (async () => {
              const [wire] = (await readExactly(b as never, 1)) as unknown as number[];
              expect(wire).to.equal(networkByte);
              return cr.secureInbound(b, { ephemeralKeys: provider.x25519FromSecret(hex(v.resp_ephemeral)) });
            })(),
          ]);
          expect(toHexString(sa.handshakeHash)).to.equal(v.handshake_hash);
          expect(toHexString(sb.handshakeHash)).to.equal(v.handshake_hash);
          // One vector message per write, each in its own turn of the event loop: writes made in
          // the same turn may share a transport message (boundaries carry no meaning).
          for (const m of v.transport_initiator_to_responder) await writeAlone(sa, hex(m.plaintext));
          for (const m of v.transport_responder_to_initiator) await writeAlone(sb, hex(m.plaintext));
          const fromA = v.transport_initiator_to_responder.map((m: any) => m.plaintext).join('');
          const fromB = v.transport_responder_to_initiator.map((m: any) => m.plaintext).join('');
          expect((await readExactly(sb as never, fromA.length / 2)).toString('hex')).to.equal(fromA);
          if (fromB.length > 0) expect((await readExactly(sa as never, fromB.length / 2)).toString('hex')).to.equal(fromB);
          expect(wireA()).to.equal(v.initiator_wire_hex);
          expect(wireB()).to.equal(v.responder_wire_hex);
          sa.destroy();
          sb.destroy();
        });
      });
    }
  }
});

/** Write `bytes` and let the turn end, so that the write is sealed as a message of its own. */
async function writeAlone(stream: { write(b: Uint8Array): boolean }, bytes: Uint8Array): Promise<void> {
  stream.write(bytes);
  await new Promise((resolve) => setImmediate(resolve));
}
