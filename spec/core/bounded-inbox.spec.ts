import { expect } from 'chai';
import { BoundedInbox } from '../../core/bounded-inbox.js';

const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return done;
};

describe('BoundedInbox', () => {
  it('queues up to its capacity, then push waits until a reader takes one', async () => {
    const q = new BoundedInbox<string>(2, Infinity, (s) => s.length);
    await q.push('a');
    await q.push('b');
    const third = q.push('c');
    expect(await settled(third), 'the third waits').to.equal(false);
    const it = q[Symbol.asyncIterator]();
    expect((await it.next()).value).to.equal('a');
    expect(await settled(third)).to.equal(true);
    expect(q.size).to.equal(2);
    expect((await it.next()).value).to.equal('b');
    expect((await it.next()).value).to.equal('c');
  });

  it('is bounded in bytes too, and takes one item of any size when it is empty', async () => {
    const q = new BoundedInbox<Uint8Array>(100, 10, (b) => b.length);
    await q.push(new Uint8Array(25)); // alone: accepted
    expect(q.bytes).to.equal(25);
    const next = q.push(new Uint8Array(1));
    expect(await settled(next)).to.equal(false);
    const it = q[Symbol.asyncIterator]();
    expect((await it.next()).value!.length).to.equal(25);
    expect(await settled(next)).to.equal(true);
    expect(q.bytes).to.equal(1);
  });

  it('hands an item straight to a waiting reader', async () => {
    const q = new BoundedInbox<number>(1, Infinity, () => 8);
    const it = q[Symbol.asyncIterator]();
    const read = it.next();
    await q.push(7);
    expect((await read).value).to.equal(7);
    expect(q.size).to.equal(0);
  });

  it('close ends the readers, drops what is queued, releases waiting pushes and ignores later ones', async () => {
    const q = new BoundedInbox<number>(1, Infinity, () => 1);
    await q.push(1);
    const waiting = q.push(2);
    q.close();
    expect(await settled(waiting)).to.equal(true);
    await q.push(3);
    expect(q.size).to.equal(0);
    expect(await q[Symbol.asyncIterator]().next()).to.deep.equal({ value: undefined, done: true });
  });

  it('breaking out of a for-await closes it', async () => {
    const q = new BoundedInbox<number>(4, Infinity, () => 1);
    await q.push(1);
    await q.push(2);
    for await (const n of { [Symbol.asyncIterator]: () => q[Symbol.asyncIterator]() }) {
      expect(n).to.equal(1);
      break;
    }
    expect(q.closed).to.equal(true);
  });

  it('offer takes an item only when it need not wait: to a waiting reader, or into room; full, it does nothing', async () => {
    const q = new BoundedInbox<number>(1, Infinity, () => 1);
    const it = q[Symbol.asyncIterator]();
    const read = it.next();
    expect(q.offer(1)).to.equal(true);
    expect((await read).value).to.equal(1);
    expect(q.offer(2)).to.equal(true);
    expect(q.offer(3), 'full').to.equal(false);
    expect(q.size).to.equal(1);
    expect((await it.next()).value).to.equal(2);
    q.close();
    expect(q.offer(4), 'closed: dropped, nothing to wait for').to.equal(true);
    expect(q.size).to.equal(0);
  });
});

