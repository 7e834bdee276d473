/**
 * The well-behaved peer of `bench:hostile`: a `CommsNode` on 127.0.0.1 that, over and over,
 * connects to the victim, sends one message, waits for the victim's echo of it, and
 * disconnects. It records each connect's latency and each message's round trip, and each
 * cycle that failed.
 */
import { randomBytes } from 'node:crypto';
import { NodeIdentity, publicKeyFromHex, type PublicKey } from '../../core/keys.js';
import { CommsBuilder, type CommsNode } from '../../node/index.js';

/** What one run of the good peer saw. */
export interface GoodPeerSamples {
  /** Connect latencies (ms), one per cycle that connected. */
  connectMs: number[];
  /** When each connect started (ms from the run's start), in the order of `connectMs`. */
  connectAt: number[];
  /** Message round trips (ms), one per cycle that got its echo. */
  rttMs: number[];
  /** Cycles that failed, by what failed. */
  failures: Record<string, number>;
  /** The longest time without a completed cycle (ms), from the run's start to its end. */
  longestGapMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** A good peer of the victim at `address` with key `id` (hex). */
export class GoodPeer {
  readonly #node: CommsNode;
  readonly #key: PublicKey;
  readonly #address: string;
  readonly #pending = new Map<string, () => void>();

  private constructor(node: CommsNode, id: string, address: string) {
    this.#node = node;
    this.#key = publicKeyFromHex(id);
    this.#address = address;
    node.on('message', (m) => {
      const hex = Buffer.from(m.body).toString('hex');
      this.#pending.get(hex)?.();
    });
  }

  /** Starts the peer's node (it only dials; default limits and timeouts). */
  static async start(id: string, address: string): Promise<GoodPeer> {
    const node = new CommsBuilder().withNodeIdentity(NodeIdentity.generate()).withUserAgent('good-peer').withDialPolicy({ rounds: 1 })
      // Its messaging substream is open when it disconnects: a short grace, so a cycle does not wait
      // the default 5 s for it (the victim's limits and timeouts are the defaults).
      .withTimeouts({ closeGraceMs: 50 })
      .build();
    await node.start();
    return new GoodPeer(node, id, address);
  }

  /**
   * Cycles until `stop()` says so, starting one every `paceMs` at most (a slow cycle is followed
   * by the next at once). Each step is bounded: the connect by 20 s, the echo and the
   * disconnect by 10 s each.
   */
  async run(stop: () => boolean, paceMs = 100): Promise<GoodPeerSamples> {
    const out: GoodPeerSamples = { connectMs: [], connectAt: [], rttMs: [], failures: {}, longestGapMs: 0 };
    const fail = (what: string) => (out.failures[what] = (out.failures[what] ?? 0) + 1);
    const runStart = performance.now();
    let lastOk = runStart;
    while (!stop()) {
      const t0 = performance.now();
      try {
        await this.#node.dial(this.#key, { addresses: [this.#address], timeoutMs: 20_000 });
      } catch (err) {
        fail(`connect (${err instanceof Error ? err.message.slice(0, 120) : String(err)})`);
        await sleep(paceMs);
        continue;
      }
      const t1 = performance.now();
      out.connectMs.push(t1 - t0);
      out.connectAt.push(t0 - runStart);
      const body = randomBytes(32);
      const echoed = this.#echo(body, 10_000);
      const sent = await this.#node.send(this.#key, body);
      if (!sent.ok) fail(`send (${sent.error.name})`);
      else if (await echoed) {
        out.rttMs.push(performance.now() - t1);
        const now = performance.now();
        out.longestGapMs = Math.max(out.longestGapMs, now - lastOk);
        lastOk = now;
      } else fail('echo');
      if (!(await this.#disconnect(10_000))) fail('disconnect');
      await sleep(t0 + paceMs - performance.now());
    }
    out.longestGapMs = Math.max(out.longestGapMs, performance.now() - lastOk);
    return out;
  }

  /** Resolves true when the victim echoes `body`, false after `ms`. */
  #echo(body: Uint8Array, ms: number): Promise<boolean> {
    const hex = Buffer.from(body).toString('hex');
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(hex);
        resolve(false);
      }, ms);
      this.#pending.set(hex, () => {
        clearTimeout(timer);
        this.#pending.delete(hex);
        resolve(true);
      });
    });
  }

  /** Disconnects and waits for the node to report the connection gone (false after `ms`). */
  #disconnect(ms: number): Promise<boolean> {
    const key = Buffer.from(this.#key);
    if (!this.#node.connections().some((c) => key.equals(c.publicKey))) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.#node.off('peer.disconnected', onGone);
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), ms);
      const onGone = (e: { publicKey: Uint8Array }) => {
        if (key.equals(e.publicKey)) done(true);
      };
      this.#node.on('peer.disconnected', onGone);
      this.#node.disconnect(this.#key);
    });
  }

  stop(): Promise<void> {
    return this.#node.stop();
  }
}
