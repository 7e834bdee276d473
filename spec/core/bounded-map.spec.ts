import { expect } from 'chai';
import { BoundedMap } from '../../core/bounded-map.js';

describe('BoundedMap', () => {
  it('drops the oldest key when a new one arrives at the bound; updating a key drops nothing', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1).set('b', 2);
    m.set('b', 3);
    expect([...m.keys()]).to.deep.equal(['a', 'b']);
    m.set('c', 4);
    expect([...m.entries()]).to.deep.equal([['b', 3], ['c', 4]]);
    expect(m.getOrSet('c', () => 9)).to.equal(4);
    expect(m.getOrSet('d', () => 5)).to.equal(5);
    expect(m.size).to.equal(2);
  });
});
