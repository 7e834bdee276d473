/**
 * The short run of `npm run fuzz`: every target with a few hundred seeded cases (the same ones
 * on every run), and the harness's promise that a failure names a case that runs again alone.
 */
import { expect } from 'chai';
import { caseOf, DEFAULT_SEED, FuzzCaseFailed, oracle, runTarget, type FuzzTarget } from '../fuzz/harness.js';
import { caseFrom, mutate, randomCuts } from '../fuzz/mutate.js';
import { TARGETS } from '../fuzz/targets/index.js';
import { Prng } from '../core/prng.js';

/** Cases per target here; `npm run fuzz` runs 100,000 of each. */
const CASES = 250;

describe('fuzz (short run; npm run fuzz runs 100,000 cases per target)', function () {
  this.timeout(60_000);

  it('has a target for every decoder and state machine that reads peer bytes', () => {
    expect(TARGETS.map((t) => t.name)).to.include.members([
      'framing',
      'noise-handshake',
      'noise-transport',
      'yamux',
      'negotiation',
      'identity',
      'messaging',
      'rpc-frames',
      'rpc-server',
      'rpc-client',
      'dht-judge',
      'dht-messages',
      'socks5',
      'tor-control',
      'liveness',
    ]);
  });

  for (const target of TARGETS) {
    it(`${target.name}: ${CASES} cases hold the oracle (${target.covers})`, () => {
      try {
        const result = runTarget(target, { seed: DEFAULT_SEED, cases: CASES, slowMs: 10_000 });
        expect(result.cases).to.equal(CASES);
        // More than one kind of outcome: the generator reaches past the first check.
        expect(result.outcomes.size, [...result.outcomes.keys()].join(', ')).to.be.greaterThan(1);
      } catch (err) {
        if (err instanceof FuzzCaseFailed) throw new Error(err.describe());
        throw err;
      }
    });
  }

  describe('the harness', () => {
    const failing: FuzzTarget = {
      name: 'failing',
      covers: 'a target that fails when the first byte is 0x2a',
      generate: (rng) => caseFrom(rng, [{ name: 'answer', bytes: Uint8Array.of(0x2a, 1, 2) }], {}),
      run: (c) => {
        oracle(c.bytes[0] !== 0x2a, 'the first byte is 0x2a');
        return 'fine';
      },
    };

    it('stops at the first failure with the seed, the index, the input and the command that runs it again', () => {
      let failure: FuzzCaseFailed | undefined;
      try {
        runTarget(failing, { seed: 99, cases: 1000 });
      } catch (err) {
        failure = err as FuzzCaseFailed;
      }
      expect(failure).to.be.instanceOf(FuzzCaseFailed);
      const { index } = failure!;
      expect(failure!.describe()).to.include(`FUZZ_SEED=99 FUZZ_TARGET=failing FUZZ_FROM=${index}`).and.to.include('2a');
      // The case alone, from its index: the same bytes, the same failure.
      expect(caseOf(failing, 99, index).bytes).to.deep.equal(failure!.fuzzCase.bytes);
      expect(() => runTarget(failing, { seed: 99, cases: 1, from: index })).to.throw(FuzzCaseFailed);
      expect(() => runTarget(failing, { seed: 99, cases: index })).to.not.throw();
    });

    it('derives every case from its seed and index alone', () => {
      for (const target of TARGETS) {
        const a = caseOf(target, 5, 17);
        const b = caseOf(target, 5, 17);
        expect(a.bytes, target.name).to.deep.equal(b.bytes);
        expect(a.cuts).to.deep.equal(b.cuts);
        expect(a.params).to.deep.equal(b.params);
      }
    });

    it('mutates and cuts within the input', () => {
      const rng = new Prng(3);
      for (let i = 0; i < 500; i++) {
        const input = rng.bytes(rng.int(100));
        const m = mutate(rng, input, { lengthFields: [{ offset: 0, size: 2 }], dictionary: [Uint8Array.of(1, 2, 3)] });
        expect(m.byteOffset).to.equal(0);
        const cuts = randomCuts(rng, m.length);
        expect(cuts.every((c, k) => c > 0 && c < m.length && (k === 0 || c > cuts[k - 1]!))).to.equal(true);
      }
    });
  });
});
