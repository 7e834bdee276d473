import { expect } from 'chai';
import { NoiseSecureChannel, noiseStaticKeys } from '../../channels/secure-channel.js';
import { ConfigError } from '../../core/errors.js';
import { NodeIdentity } from '../../core/keys.js';
import { duplexPair } from '../../transports/memory/duplex-pair.js';
import { PoolExecutor, type TaskExecutor } from '../../workers/executor.js';
import { secureChannelCompliance } from '../compliance/secure-channel.js';
import { tcpPair } from '../support/tcp.js';
import { nativeProvider, stablelibProvider } from '../../core/crypto/index.js';

const channel = (identity: NodeIdentity, recvTimeoutMs?: number) =>
  new NoiseSecureChannel({ staticKeys: noiseStaticKeys(identity), ...(recvTimeoutMs === undefined ? {} : { recvTimeoutMs }) });

secureChannelCompliance('memory pair, native, in-thread', {
  setup: async () => ({ connect: async () => duplexPair(), channel }),
  teardown: async () => {},
});

secureChannelCompliance('TCP loopback 127.0.0.1, native, in-thread', {
  setup: async () => ({ connect: () => tcpPair('127.0.0.1'), channel }),
  teardown: async () => {},
});

secureChannelCompliance('TCP loopback ::1, roles reversed (the accepted socket dials)', {
  setup: async () => ({ connect: async () => (await tcpPair('::1')).reverse() as never, channel }),
  teardown: async () => {},
});

secureChannelCompliance('memory pair, stablelib provider', {
  setup: async () => ({
    connect: async () => duplexPair(),
    channel: (identity, recvTimeoutMs) =>
      new NoiseSecureChannel({ staticKeys: noiseStaticKeys(identity, stablelibProvider), provider: stablelibProvider, ...(recvTimeoutMs === undefined ? {} : { recvTimeoutMs }) }),
  }),
  teardown: async () => {},
});

let pool: TaskExecutor | undefined;
secureChannelCompliance('TCP loopback, worker pool for handshakes and every transport frame', {
  setup: async () => {
    pool ??= new PoolExecutor({ threads: 2 });
    const executor = pool;
    return {
      connect: () => tcpPair('127.0.0.1'),
      channel: (identity, recvTimeoutMs) =>
        new NoiseSecureChannel({
          staticKeys: noiseStaticKeys(identity),
          executor,
          policy: { handshakeOnPool: true, bulkPoolThreshold: 1 },
          ...(recvTimeoutMs === undefined ? {} : { recvTimeoutMs }),
        }),
    };
  },
  teardown: async () => {},
});
let servicePool: TaskExecutor | undefined;
for (const [label, connect] of [
  ['memory pair', async () => duplexPair()],
  ['TCP loopback', () => tcpPair('127.0.0.1')],
] as const) {
  secureChannelCompliance(`${label}, native, X25519 service on a 1-thread pool`, {
    setup: async () => {
      servicePool ??= new PoolExecutor({ threads: 1 });
      const executor = servicePool;
      return {
        connect,
        channel: (identity, recvTimeoutMs) =>
          new NoiseSecureChannel({
            staticKeys: noiseStaticKeys(identity),
            executor,
            policy: { x25519OnPool: true },
            ...(recvTimeoutMs === undefined ? {} : { recvTimeoutMs }),
          }),
      };
    },
    teardown: async () => {},
  });
}
after(async () => {
  await pool?.close();
  await servicePool?.close();
});

describe('NoiseSecureChannel configuration', () => {
  const staticKeys = noiseStaticKeys(NodeIdentity.generate(), nativeProvider);
  it('rejects a bad pattern, network byte 0xa7, bad timeouts and bad policies with ConfigError', () => {
    expect(() => new NoiseSecureChannel({ staticKeys, pattern: 'NN' as never })).to.throw(ConfigError);
    expect(() => new NoiseSecureChannel({ staticKeys, networkByte: 0xa7 })).to.throw(ConfigError);
    expect(() => new NoiseSecureChannel({ staticKeys, networkByte: 256 })).to.throw(ConfigError);
    expect(() => new NoiseSecureChannel({ staticKeys, recvTimeoutMs: 0 })).to.throw(ConfigError);
    expect(() => new NoiseSecureChannel({ staticKeys, policy: { maxInFlight: 0 } })).to.throw(ConfigError);
    expect(() => new NoiseSecureChannel({ staticKeys: { publicKey: new Uint8Array(31), secretKey: new Uint8Array(32) } })).to.throw(ConfigError);
  });

  it('peers on different network bytes or patterns never complete a handshake', async () => {
    const a = NodeIdentity.generate();
    const b = NodeIdentity.generate();
    for (const [x, y] of [
      [{ networkByte: 1 }, { networkByte: 2 }],
      [{ pattern: 'XX' as const }, { pattern: 'IX' as const }],
    ]) {
      const [ra, rb] = duplexPair();
      const results = await Promise.allSettled([
        new NoiseSecureChannel({ staticKeys: noiseStaticKeys(a), recvTimeoutMs: 300, ...x }).secureOutbound(ra),
        new NoiseSecureChannel({ staticKeys: noiseStaticKeys(b), recvTimeoutMs: 300, ...y }).secureInbound(rb),
      ]);
      expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
    }
  });

  it('IX works end to end and also checks the dialed key', async () => {
    const a = NodeIdentity.generate();
    const b = NodeIdentity.generate();
    const [ra, rb] = duplexPair();
    const [sa] = await Promise.all([
      new NoiseSecureChannel({ staticKeys: noiseStaticKeys(a), pattern: 'IX' }).secureOutbound(ra, { dialedPublicKey: b.publicKey }),
      new NoiseSecureChannel({ staticKeys: noiseStaticKeys(b), pattern: 'IX' }).secureInbound(rb),
    ]);
    expect(Buffer.from(sa.remoteStatic).equals(Buffer.from(b.noisePublicKey))).to.equal(true);
    sa.destroy();
    const [rc, rd] = duplexPair();
    const results = await Promise.allSettled([
      new NoiseSecureChannel({ staticKeys: noiseStaticKeys(a), pattern: 'IX', recvTimeoutMs: 300 }).secureOutbound(rc, { dialedPublicKey: a.publicKey }),
      new NoiseSecureChannel({ staticKeys: noiseStaticKeys(b), pattern: 'IX', recvTimeoutMs: 300 }).secureInbound(rd),
    ]);
    expect(results[0]!.status).to.equal('rejected');
    expect(((results[0] as PromiseRejectedResult).reason as Error).name).to.equal('DialedPublicKeyMismatch');
  });
});
