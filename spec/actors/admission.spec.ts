/** Fair admission of inbound sockets (`actors/listener/admission.ts`), as pure bookkeeping. */
import { expect } from 'chai';
import { Admission } from '../../actors/listener/admission.js';

describe('admission (pure)', () => {
  it('bounds waiting sockets in all and per address; a socket that stops waiting frees its place', () => {
    const a = new Admission({ maxWaiting: 3, maxWaitingPerAddress: 2 });
    expect([a.startWaiting('x'), a.startWaiting('x'), a.startWaiting('x')]).to.deep.equal([true, true, false]);
    expect(a.startWaiting('y')).to.equal(true);
    expect(a.startWaiting('z')).to.equal(false); // 3 in all
    a.stopWaiting('x');
    expect(a.startWaiting('z')).to.equal(true);
    a.stopWaiting('nobody'); // not waiting: nothing changes
    expect(a.waiting).to.equal(3);
  });

  it('bounds upgrades per address; when full, sheds the oldest of the busiest address, or the oldest of all', () => {
    const shed: string[] = [];
    const a = new Admission({ maxUpgrades: 3, maxUpgradesPerAddress: 2 });
    const start = (address: string, at: number) => a.startUpgrade(address, at, () => shed.push(`${address}@${at}`));
    expect(start('x', 1)).to.not.equal(undefined);
    expect(start('x', 2)).to.not.equal(undefined);
    expect(start('x', 3)).to.equal(undefined); // x holds its share
    expect(start('y', 4)).to.not.equal(undefined);
    // Full (3): a newcomer sheds x's oldest, x being the busiest.
    expect(start('z', 5)).to.not.equal(undefined);
    expect(shed).to.deep.equal(['x@1']);
    expect(a.upgradingFrom('x')).to.equal(1);
    // Full again, each address holds one: the oldest of all goes (x@2).
    expect(start('w', 6)).to.not.equal(undefined);
    expect(shed).to.deep.equal(['x@1', 'x@2']);
    expect(a.upgrading).to.equal(3);
  });

  it('sheds the upgrade with the least progress (then the oldest), not an older one that got further', () => {
    const shed: string[] = [];
    const progress = new Map<string, number>();
    const a = new Admission({ maxUpgrades: 3, maxUpgradesPerAddress: 2 });
    const start = (address: string, at: number) => a.startUpgrade(address, at, () => shed.push(`${address}@${at}`), () => progress.get(`${address}@${at}`) ?? 0);
    // A peer handshaking at speed is the oldest; two that sent the wire byte and stalled came after.
    start('good', 1);
    progress.set('good@1', 35);
    start('x', 2);
    progress.set('x@2', 1);
    start('y', 3);
    progress.set('y@3', 1);
    // Each address holds one: of all, the least progress goes, the oldest among equals (x@2).
    expect(start('z', 4)).to.not.equal(undefined);
    expect(shed).to.deep.equal(['x@2']);
    progress.set('z@4', 1);
    expect(start('w', 5)).to.not.equal(undefined);
    expect(shed).to.deep.equal(['x@2', 'y@3']);
    // Within the busiest address too: its least advanced upgrade goes, not its oldest.
    const b = new Admission({ maxUpgrades: 2, maxUpgradesPerAddress: 2 });
    const gone: number[] = [];
    const by = [10, 0];
    b.startUpgrade('x', 1, () => gone.push(1), () => by[0]!);
    b.startUpgrade('x', 2, () => gone.push(2), () => by[1]!);
    b.startUpgrade('y', 3, () => gone.push(3));
    expect(gone).to.deep.equal([2]);
  });

  it('penalises an address per recent violation, bounded, and forgets violations as they age', () => {
    const a = new Admission({ penaltyStepMs: 100, maxPenaltyMs: 250, penaltyDecayMs: 1_000 });
    expect(a.penaltyFor('x', 0)).to.equal(0);
    a.penalise('x', 0);
    a.penalise('x', 10);
    expect(a.penaltyFor('x', 20)).to.equal(200);
    for (let i = 0; i < 10; i++) a.penalise('x', 20);
    expect(a.penaltyFor('x', 30)).to.equal(250); // bounded
    expect(a.penaltyFor('y', 30)).to.equal(0); // per address
    expect(a.penaltyFor('x', 1_020)).to.equal(0); // every violation aged out
  });

  it('remembers a bounded number of penalised addresses', () => {
    const a = new Admission({ maxPenalised: 2 });
    a.penalise('a', 0);
    a.penalise('b', 0);
    a.penalise('c', 0);
    expect(a.penaltyFor('a', 1)).to.equal(0); // the oldest was forgotten
    expect(a.penaltyFor('c', 1)).to.be.greaterThan(0);
  });

  it('wakes the sockets waiting for a slot of an address when one of its upgrades is released; an abort rejects and forgets the waiter', async () => {
    const a = new Admission({ maxUpgrades: 8, maxUpgradesPerAddress: 1 });
    const held = a.startUpgrade('x', 0, () => {})!;
    expect(a.startUpgrade('x', 0, () => {})).to.equal(undefined);
    const woken = a.slotFreed('x', new AbortController().signal);
    const gone = new AbortController();
    const aborted = a.slotFreed('x', gone.signal);
    expect(a.slotWaitersOf('x')).to.equal(2);
    gone.abort(new Error('closed'));
    await aborted.then(() => expect.fail('resolved'), (err: Error) => expect(err.message).to.equal('closed'));
    expect(a.slotWaitersOf('x')).to.equal(1);
    a.release(a.startUpgrade('y', 0, () => {})!); // another address's release wakes nobody here
    expect(a.slotWaitersOf('x')).to.equal(1);
    a.release(held);
    await woken;
    expect(a.slotWaitersOf('x')).to.equal(0);
    expect(a.startUpgrade('x', 0, () => {})).to.not.equal(undefined);
  });
});
