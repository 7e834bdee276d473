import { expect } from 'chai';
import { SMALL_READ, SMALL_READS_PER_TURN, TurnBudget, turnReader } from '../../channels/turn-budget.js';
import { ConfigError } from '../../core/errors.js';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('TurnBudget (bytes per turn of the event loop)', () => {
  it('admits reads while the turn has budget (a read that starts within it, whole), then none', () => {
    const turns = new TurnBudget(100_000);
    const reader = turnReader();
    expect(turns.admit(60_000, reader)).to.equal(true);
    expect(turns.admit(60_000, reader)).to.equal(true); // started at 60,000: within the budget
    expect(turns.used).to.equal(120_000);
    expect(turns.admit(SMALL_READ + 1, reader)).to.equal(false);
    expect(turns.admit(SMALL_READ + 1, turnReader())).to.equal(false);
    expect(turns.used).to.equal(120_000);
  });

  it('once the budget is spent, each reader has one small read a turn', () => {
    const turns = new TurnBudget(1_000);
    const a = turnReader();
    const b = turnReader();
    expect(turns.admit(1_000, a)).to.equal(true);
    expect(turns.admit(SMALL_READ, a)).to.equal(true);
    expect(turns.admit(1, a)).to.equal(false);
    expect(turns.admit(10, b)).to.equal(true);
    expect(turns.admit(10, b)).to.equal(false);
  });

  it('small reads past the budget are bounded for all readers together, not one per reader without end', () => {
    const turns = new TurnBudget(1_000);
    turns.admit(1_000, turnReader());
    const admitted = Array.from({ length: 2 * (SMALL_READS_PER_TURN / SMALL_READ) }, () => turns.admit(SMALL_READ, turnReader())).filter(Boolean).length;
    expect(admitted).to.equal(SMALL_READS_PER_TURN / SMALL_READ);
  });

  it('when several readers waited for the turn, each takes its share of it (its first read whole), then waits again', async () => {
    const turns = new TurnBudget(100_000);
    const [a, b, c] = [turnReader(), turnReader(), turnReader()];
    turns.admit(100_000, a);
    for (let i = 0; i < 4; i++) turns.waitForNextTurn(() => {});
    await nextTurn(); // four waited: a share is 25,000
    expect(turns.admit(20_000, a)).to.equal(true);
    expect(turns.admit(20_000, a)).to.equal(true); // started within its share: whole
    expect(turns.admit(20_000, a)).to.equal(false); // its share is spent, the turn's budget is not
    expect(turns.admit(30_000, b)).to.equal(true);
    expect(turns.admit(1_000, b)).to.equal(true); // its small read of the turn
    expect(turns.admit(1_000, b)).to.equal(false);
    expect(turns.admit(30_000, c)).to.equal(true);
    expect(turns.used).to.equal(101_000);
    await nextTurn(); // nobody waited: one reader may take the whole budget
    expect(turns.admit(60_000, a)).to.equal(true);
    expect(turns.admit(30_000, a)).to.equal(true);
  });

  it('the next turn starts afresh and calls the waiting readers once each, in the order they waited', async () => {
    const turns = new TurnBudget(1_000);
    const reader = turnReader();
    turns.admit(5_000, reader);
    turns.admit(10, reader); // its small read of this turn
    const turn = turns.turn;
    const calls: string[] = [];
    turns.waitForNextTurn(() => calls.push('first'));
    turns.waitForNextTurn(() => calls.push('second'));
    expect(turns.waiting).to.equal(2);
    expect(calls).to.deep.equal([]);
    await nextTurn();
    expect(calls).to.deep.equal(['first', 'second']);
    expect(turns.turn).to.equal(turn + 1);
    expect(turns.used).to.equal(0);
    expect(turns.waiting).to.equal(0);
    expect(turns.admit(10, reader)).to.equal(true);
    await nextTurn();
    expect(calls).to.have.length(2);
  });

  it('a waiting reader that throws does not keep the others from their turn (the error is still thrown)', async () => {
    const turns = new TurnBudget(1_000);
    const calls: string[] = [];
    const boom = new Error('a resume that throws');
    // The throw reaches the process as an uncaught exception: caught here for the spec's length.
    const mochaHandlers = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const thrown: unknown[] = [];
    process.on('uncaughtException', (err) => thrown.push(err));
    try {
      turns.waitForNextTurn(() => calls.push('first'));
      turns.waitForNextTurn(() => {
        throw boom;
      });
      turns.waitForNextTurn(() => calls.push('third'));
      await nextTurn();
      await nextTurn();
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const h of mochaHandlers) process.on('uncaughtException', h);
    }
    expect(calls).to.deep.equal(['first', 'third']);
    expect(thrown).to.deep.equal([boom]);
    expect(turns.waiting).to.equal(0);
  });

  it('while something urgent is under way, a turn has the smaller budget; each hold is released once', () => {
    const turns = new TurnBudget(100_000, 10_000);
    const reader = turnReader();
    const first = turns.urgent();
    const second = turns.urgent();
    expect(turns.urgentHolds).to.equal(2);
    expect(turns.admit(10_000, reader)).to.equal(true);
    expect(turns.admit(SMALL_READ + 1, reader)).to.equal(false);
    first();
    first();
    expect(turns.urgentHolds).to.equal(1);
    expect(turns.admit(SMALL_READ + 1, reader)).to.equal(false);
    second();
    expect(turns.urgentHolds).to.equal(0);
    expect(turns.admit(SMALL_READ + 1, reader)).to.equal(true);
    expect(new TurnBudget(1_000).urgentBytesPerTurn, 'never more than the budget').to.equal(1_000);
  });

  it('refuses a budget that is not a positive integer with ConfigError', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new TurnBudget(bad)).to.throw(ConfigError);
      expect(() => new TurnBudget(1_000, bad)).to.throw(ConfigError);
    }
  });
});
