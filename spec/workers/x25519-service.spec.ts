import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { nativeProvider, stablelibProvider, LowOrderPoint, type CryptoProvider } from '../../core/crypto/index.js';
import { ConfigError } from '../../core/errors.js';
import { PoolExecutor, type TaskExecutor } from '../../workers/executor.js';
import { FORGET_BATCH, X25519Service } from '../../workers/x25519-service.js';
import type { ServiceRequest, TaskInput } from '../../workers/tasks.js';
import type { MessagePort as NodeMessagePort } from 'node:worker_threads';
import { acquireSharedPool, releaseSharedPool, sharedPoolUsers } from '../../workers/shared-pool.js';
import { until } from '../support/wait.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** An executor whose tasks never run: a pool stalled by other work. */
const stalled: TaskExecutor = { kind: 'pool', threads: 1, run: () => new Promise(() => {}), close: async () => {} };
/** An executor that refuses every task: a closed pool. */
const refusing: TaskExecutor = { kind: 'pool', threads: 1, run: () => Promise.reject(new Error('closed')), close: async () => {} };

describe('X25519 service (key pairs ahead of time and DH on a pool thread)', function () {
  this.timeout(30_000);
  let pool: PoolExecutor;
  before(() => {
    pool = new PoolExecutor({ threads: 1 });
  });
  after(async () => {
    await pool.close();
  });

  for (const provider of [nativeProvider, stablelibProvider] as CryptoProvider[]) {
    it(`${provider.name}: pairs from the reserve are fresh, never repeated, and their public keys match their secrets`, async () => {
      const service = new X25519Service({ executor: pool, provider, capacity: 64, batch: 16 });
      try {
        expect(await service.fill()).to.equal(64);
        const seen = new Set<string>();
        for (let i = 0; i < 150; i++) {
          const pair = service.take();
          expect(seen.has(hex(pair.secretKey))).to.equal(false);
          seen.add(hex(pair.secretKey));
          expect(hex(pair.publicKey)).to.equal(hex(stablelibProvider.x25519FromSecret(pair.secretKey).publicKey));
          if (i % 10 === 0) {
            const remote = stablelibProvider.x25519Generate();
            expect(hex(provider.x25519DH(pair, remote.publicKey))).to.equal(hex(stablelibProvider.x25519DH(remote, pair.publicKey)));
          }
        }
        expect(service.stats.reserved).to.be.greaterThan(60);
        expect(service.size).to.be.at.most(64);
      } finally {
        service.close();
      }
    });
  }

  it('DH on the service gives X25519 exactly, and a low-order key is refused with LowOrderPoint', async () => {
    const service = new X25519Service({ executor: pool, provider: nativeProvider });
    try {
      for (let i = 0; i < 8; i++) service.enter(); // enough handshakes for DH to go to the service
      const own = service.take();
      const remotes = Array.from({ length: 60 }, () => stablelibProvider.x25519Generate());
      const shared = await Promise.all(remotes.map((r) => service.dh(own, r.publicKey)));
      shared.forEach((s, i) => expect(hex(s)).to.equal(hex(stablelibProvider.x25519DH(remotes[i]!, own.publicKey))));
      expect(service.stats.offloaded, 'answered by the pool thread').to.be.greaterThan(0);
      await until('every DH answered', () => service.pending === 0, 2_000);
      let err: unknown;
      await service.dh(own, new Uint8Array(32)).catch((e) => (err = e));
      expect(err).to.be.instanceOf(LowOrderPoint);
    } finally {
      service.close();
    }
  });

  it('with fewer than four handshakes running, DH stays on this thread (a round trip would only add latency)', async () => {
    const service = new X25519Service({ executor: pool, provider: nativeProvider });
    try {
      service.enter();
      service.enter();
      const own = nativeProvider.x25519Generate();
      const remote = stablelibProvider.x25519Generate();
      expect(hex(await service.dh(own, remote.publicKey))).to.equal(hex(stablelibProvider.x25519DH(remote, own.publicKey)));
      expect(service.stats.offloaded).to.equal(0);
      expect(service.stats.inlineDh).to.equal(1);
    } finally {
      service.close();
    }
  });

  it('a stalled pool: unanswered DH requests are computed here after dhTimeoutMs, and close answers the rest', async () => {
    const service = new X25519Service({ executor: stalled, provider: nativeProvider, dhTimeoutMs: 50 });
    for (let i = 0; i < 40; i++) service.enter();
    const own = nativeProvider.x25519Generate();
    const remotes = Array.from({ length: 10 }, () => stablelibProvider.x25519Generate());
    const t = Date.now();
    const shared = await Promise.all(remotes.map((r) => service.dh(own, r.publicKey)));
    expect(Date.now() - t).to.be.below(5_000);
    shared.forEach((s, i) => expect(hex(s)).to.equal(hex(stablelibProvider.x25519DH(remotes[i]!, own.publicKey))));
    expect(service.stats.inlineDh).to.equal(10);
    expect(service.take().publicKey.length, 'an empty reserve makes the pair here').to.equal(32);
    expect(service.stats.inline).to.equal(1);
    const late = service.dh(own, remotes[0]!.publicKey);
    service.close();
    expect(hex(await late)).to.equal(hex(shared[0]!));
  });

  it('a pool that refuses the task: counted as a failure, and every key pair and DH is made here', async () => {
    const service = new X25519Service({ executor: refusing, provider: nativeProvider, retryAfterMs: 60_000 });
    for (let i = 0; i < 8; i++) service.enter();
    expect(await service.fill(1_000)).to.equal(0);
    expect(service.stats.failures).to.equal(1);
    const own = service.take();
    const remote = stablelibProvider.x25519Generate();
    expect(hex(await service.dh(own, remote.publicKey))).to.equal(hex(stablelibProvider.x25519DH(remote, own.publicKey)));
    expect(service.stats).to.include({ inline: 1, inlineDh: 1, failures: 1 });
    service.close();
  });

  it('finished handshakes are forgotten in batches: every secret reaches the service once, not a message per handshake', async () => {
    // The service's port, relayed through this thread so that every request can be read.
    const requests: ServiceRequest[] = [];
    const relaying: TaskExecutor = {
      kind: 'pool',
      threads: 1,
      run: ((name: string, input: TaskInput<'x25519.service'>) => {
        const inner = new MessageChannel();
        const port = input.port as NodeMessagePort;
        port.on('message', (m: ServiceRequest) => {
          requests.push(m);
          inner.port1.postMessage(m);
        });
        inner.port1.on('message', (m: unknown) => port.postMessage(m));
        return pool.run(name as 'x25519.service', { provider: input.provider, port: inner.port2 }).finally(() => inner.port1.close());
      }) as TaskExecutor['run'],
      close: async () => {},
    };
    const service = new X25519Service({ executor: relaying, provider: nativeProvider, capacity: 64, batch: 16 });
    try {
      await service.fill();
      const finished = new Set<string>();
      for (let i = 0; i < 300; i++) {
        service.enter();
        const pair = service.take();
        service.leave(pair);
        finished.add(hex(pair.secretKey));
        if (i % 16 === 15) await until('the reserve refilled', () => service.size >= 32, 5_000);
      }
      const told = requests.flatMap((r) => (r.t === 'forget' ? r.secrets : r.t === 'gen' ? (r.forget ?? []) : [])).map(hex);
      expect(new Set(told).size, 'no secret is sent twice').to.equal(told.length);
      for (const s of told) expect(finished.has(s), 'only finished pairs are forgotten').to.equal(true);
      expect(told.length, 'all but the last batch reached the service').to.be.at.least(300 - FORGET_BATCH);
      expect(requests.filter((r) => r.t === 'forget').length, 'forgets alone are rare').to.be.at.most(Math.ceil(300 / FORGET_BATCH));
      expect(requests.length, 'far fewer messages than handshakes').to.be.below(60);
    } finally {
      service.close();
    }
  });

  it('close releases the pool thread it held', async () => {
    const one = new PoolExecutor({ threads: 1 });
    try {
      const service = new X25519Service({ executor: one, provider: nativeProvider });
      await service.fill();
      service.close();
      const secretKey = randomBytes(32);
      const out = await Promise.race([
        one.run('x25519.dh', { provider: 'native', secretKey, publicKey: stablelibProvider.x25519Generate().publicKey }),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the pool thread is still held')), 5_000)),
      ]);
      expect(out.shared.length).to.equal(32);
    } finally {
      await one.close();
    }
  });

  it('one service per executor and provider, shared by every channel', () => {
    const a = X25519Service.shared(pool, nativeProvider);
    expect(X25519Service.shared(pool, nativeProvider)).to.equal(a);
    expect(X25519Service.shared(pool, stablelibProvider)).to.not.equal(a);
    a.close();
    expect(X25519Service.shared(pool, nativeProvider), 'a closed one is replaced').to.not.equal(a);
    X25519Service.shared(pool, nativeProvider).close();
    X25519Service.shared(pool, stablelibProvider).close();
  });

  it('rejects bad options with ConfigError', () => {
    const make = (o: object) => () => new X25519Service({ executor: pool, provider: nativeProvider, ...o });
    expect(make({ batch: 0 })).to.throw(ConfigError);
    expect(make({ batch: 2000 })).to.throw(ConfigError);
    expect(make({ capacity: 10, batch: 20 })).to.throw(ConfigError);
    expect(make({ maxPending: -1 })).to.throw(ConfigError);
    expect(make({ dhTimeoutMs: 0 })).to.throw(ConfigError);
  });
});

describe('the shared pool (one per process for nodes without their own)', function () {
  this.timeout(30_000);

  it('is made once, kept while any user holds it, and closed with its services by the last release', async () => {
    expect(sharedPoolUsers()).to.equal(0);
    const a = acquireSharedPool();
    const b = acquireSharedPool();
    expect(b).to.equal(a);
    expect(sharedPoolUsers()).to.equal(2);
    const service = X25519Service.shared(a, nativeProvider);
    await service.fill();
    await releaseSharedPool(a);
    expect(service.closed).to.equal(false);
    for (let i = 0; i < 8; i++) service.enter();
    const own = service.take();
    const remote = stablelibProvider.x25519Generate();
    expect(hex(await service.dh(own, remote.publicKey))).to.equal(hex(stablelibProvider.x25519DH(remote, own.publicKey)));
    expect(service.stats.offloaded, 'still served by the pool thread').to.equal(1);
    await releaseSharedPool(b);
    expect(sharedPoolUsers()).to.equal(0);
    expect(service.closed).to.equal(true);
    let err: unknown;
    await a.run('x25519.dh', { provider: 'native', secretKey: randomBytes(32), publicKey: stablelibProvider.x25519Generate().publicKey }).catch((e) => (err = e));
    expect(err, 'the pool is closed').to.be.instanceOf(Error);
    const c = acquireSharedPool();
    expect(c, 'a new one after the last release').to.not.equal(a);
    await releaseSharedPool(c);
    expect(sharedPoolUsers()).to.equal(0);
  });
});
