import { expect } from 'chai';
import { NoiseSecureChannel, noiseStaticKeys, usesX25519Service } from '../../channels/secure-channel.js';
import { DEFAULT_CRYPTO_POLICY, type CryptoPolicy } from '../../channels/crypto-policy.js';
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

describe('the X25519 service and other pool work', function () {
  this.timeout(30_000);

  it('is used only where it can hold a pool thread of its own', () => {
    const pool1 = { kind: 'pool', threads: 1 } as TaskExecutor;
    const pool2 = { kind: 'pool', threads: 2 } as TaskExecutor;
    const inline = { kind: 'inline', threads: 0 } as TaskExecutor;
    const policy = (p: Partial<CryptoPolicy>) => ({ ...DEFAULT_CRYPTO_POLICY, ...p });
    expect(usesX25519Service(policy({}), pool1)).to.equal(true);
    expect(usesX25519Service(policy({}), undefined)).to.equal(false);
    expect(usesX25519Service(policy({}), inline)).to.equal(false);
    expect(usesX25519Service(policy({ x25519OnPool: false }), pool2)).to.equal(false);
    expect(usesX25519Service(policy({ handshakeOnPool: true }), pool2)).to.equal(false);
    expect(usesX25519Service(policy({ bulkPoolThreshold: 16 * 1024 }), pool1), 'frames would wait forever').to.equal(false);
    expect(usesX25519Service(policy({ bulkPoolThreshold: 16 * 1024 }), pool2)).to.equal(true);
  });

  it('transport frames on a one-thread pool still flow with the default policy (the service stands aside)', async () => {
    const one = new PoolExecutor({ threads: 1 });
    try {
      const make = (id: NodeIdentity) => new NoiseSecureChannel({ staticKeys: noiseStaticKeys(id), executor: one, policy: { bulkPoolThreshold: 16 * 1024 } });
      const [alice, bob] = [NodeIdentity.generate(), NodeIdentity.generate()];
      expect(make(alice).x25519Service).to.equal(undefined);
      const [x, y] = await tcpPair('127.0.0.1');
      const [sa, sb] = await Promise.all([make(alice).secureOutbound(x, { dialedPublicKey: bob.publicKey }), make(bob).secureInbound(y)]);
      const data = Buffer.alloc(1024 * 1024, 7);
      const got: Buffer[] = [];
      sb.on('data', (d: Buffer) => got.push(d));
      const ended = new Promise((resolve) => sb.once('end', resolve));
      sa.end(data);
      await ended;
      expect(Buffer.concat(got).equals(data)).to.equal(true);
      sa.destroy();
      sb.destroy();
    } finally {
      await one.close();
    }
  });
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
