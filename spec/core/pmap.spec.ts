import { expect } from 'chai';
import fc from 'fast-check';
import { hashOf, PMap } from '../../core/pmap.js';

/** Pairs of distinct keys with equal hashes (found by brute force: 32-bit hashes collide often among 200,000 keys). */
function collidingPairs(count: number): Array<[string, string]> {
  const seen = new Map<number, string>();
  const pairs: Array<[string, string]> = [];
  for (let i = 0; pairs.length < count && i < 2_000_000; i++) {
    const key = `k${i}`;
    const h = hashOf(key);
    const other = seen.get(h);
    if (other !== undefined) pairs.push([other, key]);
    else seen.set(h, key);
  }
  return pairs;
}

const sorted = <V>(m: Iterable<[string, V]>) => [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

type Op = { op: 'set'; key: string; value: number } | { op: 'delete'; key: string };

describe('PMap (persistent hash map)', () => {
  const colliding = collidingPairs(8);

  it('finds colliding keys to test with', () => {
    expect(colliding.length).to.equal(8);
    for (const [a, b] of colliding) expect(hashOf(a)).to.equal(hashOf(b));
  });

  it('behaves as a Map under random sets and deletes, and every earlier version stays as it was', () => {
    // Keys from a small alphabet (so sets and deletes hit the same keys), plus colliding pairs.
    const keys = fc.oneof(fc.stringMatching(/^[a-d]{0,3}$/), fc.constantFrom(...colliding.flat()), fc.integer({ min: 0, max: 3000 }).map(String));
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant('set' as const), key: keys, value: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ op: fc.constant('delete' as const), key: keys }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        let m = PMap.empty<number>();
        const model = new Map<string, number>();
        const history: Array<{ map: PMap<number>; entries: Array<[string, number]> }> = [];
        for (const o of ops) {
          const before = m;
          if (o.op === 'set') {
            const unchanged = model.get(o.key) === o.value;
            m = m.set(o.key, o.value);
            model.set(o.key, o.value);
            if (unchanged) expect(m).to.equal(before);
          } else {
            const absent = !model.has(o.key);
            m = m.delete(o.key);
            model.delete(o.key);
            if (absent) expect(m).to.equal(before);
          }
          expect(m.size).to.equal(model.size);
          expect(m.get(o.key)).to.equal(model.get(o.key));
          expect(m.has(o.key)).to.equal(model.has(o.key));
          history.push({ map: m, entries: sorted(model) });
        }
        expect(sorted(m)).to.deep.equal(sorted(model));
        for (const [k, v] of model) expect(m.get(k)).to.equal(v);
        for (const h of history) expect(sorted(h.map.entries())).to.deep.equal(h.entries);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps colliding keys apart, and a third key whose hash shares their low bits', () => {
    for (const [a, b] of colliding) {
      // A key that agrees with the pair on the first 5-bit slice of the hash but not on all of it.
      let c = 'c0';
      for (let i = 0; (hashOf(c) & 31) !== (hashOf(a) & 31) || hashOf(c) === hashOf(a); i++) c = `c${i}`;
      let m = PMap.empty<string>().set(a, 'a').set(b, 'b').set(c, 'c');
      expect([m.get(a), m.get(b), m.get(c), m.size]).to.deep.equal(['a', 'b', 'c', 3]);
      m = PMap.empty<string>().set(c, 'c').set(a, 'a').set(b, 'b');
      expect([m.get(a), m.get(b), m.get(c), m.size]).to.deep.equal(['a', 'b', 'c', 3]);
      const noA = m.delete(a);
      expect([noA.get(a), noA.get(b), noA.get(c), noA.size]).to.deep.equal([undefined, 'b', 'c', 2]);
      const onlyC = noA.delete(b);
      expect([onlyC.get(b), onlyC.get(c), onlyC.size]).to.deep.equal([undefined, 'c', 1]);
      expect(onlyC.delete(c).size).to.equal(0);
      expect(m.set(a, 'A').get(b)).to.equal('b');
    }
  });

  it('holds 100,000 entries, and an update leaves the previous version intact', () => {
    let m = PMap.empty<number>();
    for (let i = 0; i < 100_000; i++) m = m.set(`peer-${i}`, i);
    expect(m.size).to.equal(100_000);
    const next = m.delete('peer-5').set('peer-7', -7).set('new', 1);
    expect([m.get('peer-5'), m.get('peer-7'), m.has('new'), m.size]).to.deep.equal([5, 7, false, 100_000]);
    expect([next.get('peer-5'), next.get('peer-7'), next.get('new'), next.size]).to.deep.equal([undefined, -7, 1, 100_000]);
    let n = 0;
    for (const [k, v] of m) if (m.get(k) === v) n++;
    expect(n).to.equal(100_000);
    for (let i = 0; i < 100_000; i++) m = m.delete(`peer-${i}`);
    expect(m.size).to.equal(0);
    expect([...m]).to.deep.equal([]);
  });

  it('serialises to a plain object (inspection, JSON)', () => {
    const m = PMap.of([['a', 1], ['b', 2]]);
    expect(JSON.parse(JSON.stringify({ m }))).to.deep.equal({ m: { a: 1, b: 2 } });
  });
});
