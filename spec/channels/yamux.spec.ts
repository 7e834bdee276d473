import { NodeIdentity } from '../../core/keys.js';
import { NoiseSecureChannel, noiseStaticKeys } from '../../channels/secure-channel.js';
import { duplexPair } from '../../transports/memory/duplex-pair.js';
import { muxerCompliance } from '../compliance/muxer.js';
import { tcpPair } from '../support/tcp.js';

muxerCompliance('memory pair', { connect: async () => duplexPair() });
muxerCompliance('TCP loopback 127.0.0.1', { connect: () => tcpPair('127.0.0.1') });
muxerCompliance('TCP loopback ::1, roles reversed', { connect: () => tcpPair('::1'), reversed: true });

muxerCompliance('TCP loopback through the Noise secure channel', {
  connect: async () => {
    const [c, s] = await tcpPair('127.0.0.1');
    const [a, b] = [NodeIdentity.generate(), NodeIdentity.generate()];
    const [secureC, secureS] = await Promise.all([
      new NoiseSecureChannel({ staticKeys: noiseStaticKeys(a) }).secureOutbound(c),
      new NoiseSecureChannel({ staticKeys: noiseStaticKeys(b) }).secureInbound(s),
    ]);
    return [secureC, secureS];
  },
});
