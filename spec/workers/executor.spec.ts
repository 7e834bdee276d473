import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { nativeProvider } from '../../core/crypto/index.js';
import { DecryptionFailed, LowOrderPoint } from '../../core/crypto/provider.js';
import { HandshakeState } from '../../protocols/noise/handshake-state.js';
import { tcommsPrologue } from '../../protocols/noise/tcomms.js';
import { InlineExecutor, PoolExecutor, type TaskExecutor } from '../../workers/executor.js';

const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('worker tasks: in-thread and pool paths', function () {
  this.timeout(30_000);
  const inline = new InlineExecutor();
  let pool: PoolExecutor;
  before(() => {
    pool = new PoolExecutor({ threads: 2 });
  });
  after(async () => {
    await pool.close();
  });
  const both = (): [string, TaskExecutor][] => [
    ['inline', inline],
    ['pool', pool],
  ];

  it('the pool really runs on worker threads', () => {
    expect(pool.threads).to.equal(2);
    expect(pool.kind).to.equal('pool');
  });

  it('transport.seal and transport.open give identical bytes on both paths, for both providers', async () => {
    for (const provider of ['native', 'stablelib'] as const) {
      const key = randomBytes(32);
      const plaintexts = [0, 1, 100, 65519, 4096].map((n) => randomBytes(n));
      const results = await Promise.all(both().map(([, ex]) => ex.run('transport.seal', { provider, key, nonce: 5n, plaintexts })));
      expect(hexOf(results[0]!.wire)).to.equal(hexOf(results[1]!.wire));
      // Split the wire into frames (without prefixes) and open them on each path.
      const frames: Uint8Array[] = [];
      const wire = Buffer.from(results[0]!.wire);
      for (let o = 0; o < wire.length; ) {
        const len = wire.readUInt16BE(o);
        frames.push(Uint8Array.from(wire.subarray(o + 2, o + 2 + len)));
        o += 2 + len;
      }
      for (const [, ex] of both()) {
        const { plaintext } = await ex.run('transport.open', { provider, key, nonce: 5n, frames: frames.map((f) => Uint8Array.from(f)) });
        expect(hexOf(plaintext)).to.equal(hexOf(Buffer.concat(plaintexts)));
      }
    }
  });

  it('many concurrent batches complete and each matches its nonce (re-assembly is by nonce)', async () => {
    const key = randomBytes(32);
    const batches = Array.from({ length: 64 }, (_, i) => ({ nonce: BigInt(i * 8), plaintexts: Array.from({ length: 8 }, () => randomBytes(1000 + i)) }));
    const pooled = await Promise.all(batches.map((b) => pool.run('transport.seal', { provider: 'native', key, ...b })));
    const local = await Promise.all(batches.map((b) => inline.run('transport.seal', { provider: 'native', key, ...b })));
    pooled.forEach((p, i) => expect(hexOf(p.wire)).to.equal(hexOf(local[i]!.wire)));
  });

  it('handshake steps (noise.write / noise.read) run on the pool and interoperate with in-thread steps', async () => {
    const init = new HandshakeState(nativeProvider, { pattern: 'XX', initiator: true, prologue: tcommsPrologue(0), staticKeys: nativeProvider.x25519Generate() });
    const resp = new HandshakeState(nativeProvider, { pattern: 'XX', initiator: false, prologue: tcommsPrologue(0), staticKeys: nativeProvider.x25519Generate() });
    let snap = init.snapshot();
    const m1 = await pool.run('noise.write', { snapshot: snap, payload: new Uint8Array(0) });
    snap = m1.snapshot;
    resp.readMessage(m1.message);
    const r2 = await pool.run('noise.read', { snapshot: snap, message: resp.writeMessage() });
    snap = r2.snapshot;
    const m3 = await pool.run('noise.write', { snapshot: snap, payload: new Uint8Array(0) });
    resp.readMessage(m3.message);
    const a = new HandshakeState(nativeProvider, m3.snapshot).split();
    const b = resp.split();
    expect(hexOf(a.handshakeHash)).to.equal(hexOf(b.handshakeHash));
    expect(hexOf(b.recv.open(a.send.encryptWithAd(new Uint8Array(0), Buffer.from('hi'))))).to.equal(hexOf(Buffer.from('hi')));
  });

  it('errors cross the boundary as the same typed classes', async () => {
    for (const [name, ex] of both()) {
      try {
        await ex.run('transport.open', { provider: 'native', key: randomBytes(32), nonce: 0n, frames: [randomBytes(40)] });
        expect.fail(name);
      } catch (err) {
        expect(err, name).to.be.instanceOf(DecryptionFailed);
        expect((err as DecryptionFailed).kind).to.equal('protocol');
      }
      try {
        await ex.run('x25519.dh', { provider: 'native', secretKey: randomBytes(32), publicKey: new Uint8Array(32) });
        expect.fail(name);
      } catch (err) {
        expect(err, name).to.be.instanceOf(LowOrderPoint);
      }
    }
  });

  it('a closed executor refuses work', async () => {
    const ex = new InlineExecutor();
    await ex.close();
    try {
      await ex.run('x25519.dh', { provider: 'native', secretKey: randomBytes(32), publicKey: randomBytes(32) });
      expect.fail('ran after close');
    } catch (err) {
      expect((err as Error).name).to.equal('AbortedError');
    }
  });
});
