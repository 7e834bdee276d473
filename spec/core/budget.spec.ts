import { expect } from 'chai';
import fc from 'fast-check';
import { BudgetHold, MemoryBudget } from '../../core/budget.js';
import { ConfigError } from '../../core/errors.js';

describe('MemoryBudget', () => {
  it('charges within the limit, refuses a charge past it, and counts forced charges', () => {
    const b = new MemoryBudget(100);
    expect(b.tryCharge(60)).to.equal(true);
    expect(b.tryCharge(50)).to.equal(false);
    expect(b.used).to.equal(60);
    expect(b.available).to.equal(40);
    b.charge(50);
    expect(b.used).to.equal(110);
    expect(b.exceeded).to.equal(true);
    expect(b.available).to.equal(0);
    b.release(20);
    expect(b.exceeded).to.equal(false);
    b.release(1_000);
    expect(b.used).to.equal(0);
    expect(() => new MemoryBudget(0)).to.throw(ConfigError);
    expect(() => new MemoryBudget(1.5)).to.throw(ConfigError);
  });

  it('a child counts against its parent: the tighter of the two refuses, close gives everything back', () => {
    const node = new MemoryBudget(100);
    const a = node.child(80);
    const b = node.child(80);
    expect(a.tryCharge(70)).to.equal(true);
    expect(b.tryCharge(40)).to.equal(false); // the node has 30 left
    expect(b.available).to.equal(30);
    expect(b.tryCharge(30)).to.equal(true);
    expect(node.used).to.equal(100);
    a.close();
    expect(node.used).to.equal(30);
    a.charge(10);
    a.release(10);
    expect(node.used, 'a closed budget charges nothing').to.equal(30);
    expect(a.used).to.equal(0);
  });

  it('wakes a waiter once when the budget that is over comes back within its limit; a cancelled waiter is not called', () => {
    const node = new MemoryBudget(100);
    const conn = node.child(1000);
    const other = node.child(1000);
    let calls = 0;
    conn.whenAvailable(() => calls++);
    expect(calls, 'called at once when within limits').to.equal(1);
    other.charge(150); // the node is over, the connection is not
    conn.whenAvailable(() => calls++);
    let cancelledCalls = 0;
    const cancel = conn.whenAvailable(() => cancelledCalls++);
    cancel();
    expect(calls).to.equal(1);
    other.release(20);
    expect(calls, 'still over').to.equal(1);
    other.release(30);
    expect(calls).to.equal(2);
    other.release(50);
    expect(calls, 'one-shot').to.equal(2);
    expect(cancelledCalls).to.equal(0);
  });

  it('any sequence of charges and releases keeps parents equal to the sum of their children (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(2), fc.integer({ min: -500, max: 500 }), fc.boolean()), { maxLength: 60 }), (ops) => {
        const node = new MemoryBudget(1000);
        const kids = [node.child(400), node.child(400), node.child(400)];
        for (const [i, n, tryFirst] of ops) {
          const k = kids[i]!;
          if (n >= 0) {
            if (tryFirst) {
              const before = k.used;
              if (!k.tryCharge(n)) expect(k.used).to.equal(before);
            } else k.charge(n);
          } else k.release(-n);
          expect(node.used).to.equal(kids.reduce((s, c) => s + c.used, 0));
          for (const c of kids) expect(c.used).to.be.at.least(0);
        }
        for (const c of kids) c.close();
        expect(node.used).to.equal(0);
      }),
      { numRuns: 300 },
    );
  });

  it('a hold charges exactly its level, pauses past the budget until it has room, and releases everything when let go', () => {
    const node = new MemoryBudget(100);
    const conn = node.child(50);
    const changes: boolean[] = [];
    const hold = new BudgetHold(conn, () => changes.push(hold.paused));
    hold.set(30);
    expect([conn.used, node.used, hold.paused]).to.deep.equal([30, 30, false]);
    hold.set(20); // gives back 10
    expect(conn.used).to.equal(20);
    hold.set(60); // over the connection's 50
    expect([conn.used, hold.paused, changes]).to.deep.equal([60, true, [true]]);
    hold.set(70); // still over: no second pause
    expect(changes).to.deep.equal([true]);
    hold.set(40); // back within: resumes
    expect([conn.used, hold.paused, changes]).to.deep.equal([40, false, [true, false]]);
    hold.set(80);
    hold.release(); // gone while paused: nothing charged, the wait ends (no resume is reported)
    expect([conn.used, node.used, changes]).to.deep.equal([0, 0, [true, false, true]]);
  });
});
