/** Fair admission of inbound sockets (`actors/listener/admission.ts`), as pure bookkeeping. */
import { expect } from 'chai';
import { Admission, addressGroup } from '../../actors/listener/admission.js';

describe('admission (pure)', () => {
  it('bounds waiting sockets per address; a socket that stops waiting frees its place', () => {
    const a = new Admission({ maxWaiting: 3, maxWaitingPerAddress: 2 });
    const x = [a.startWaiting('x'), a.startWaiting('x'), a.startWaiting('x')];
    expect(x.map((w) => w !== undefined)).to.deep.equal([true, true, false]);
    expect(a.startWaiting('y')).to.not.equal(undefined);
    expect(a.waiting).to.equal(3);
    a.stopWaiting(x[0]!);
    a.stopWaiting(x[0]!); // idempotent
    expect(a.waitingFrom('x')).to.equal(1);
    expect(a.startWaiting('x')).to.not.equal(undefined);
    expect(a.waiting).to.equal(3);
  });

  it('when the waiting pool is full, a newcomer sheds the oldest waiting socket of the busiest address, not itself', () => {
    // Before: a full pool refused every newcomer ('busy'), so a crowd from a few addresses kept the door shut for all.
    const shed: string[] = [];
    const a = new Admission({ maxWaiting: 4, maxWaitingPerAddress: 3 });
    const wait = (address: string, name: string) => a.startWaiting(address, () => shed.push(name));
    wait('x', 'x1');
    wait('y', 'y1');
    wait('x', 'x2');
    wait('x', 'x3');
    // Full (4): the good peer from another address gets in; x (3 waiting) loses its oldest.
    const good = wait('good', 'good');
    expect(good).to.not.equal(undefined);
    expect(shed).to.deep.equal(['x1']);
    expect([a.waiting, a.waitingFrom('x'), a.waitingFrom('good')]).to.deep.equal([4, 2, 1]);
    // The busiest address is the newcomer's own: its own oldest goes, nobody else's.
    expect(wait('x', 'x4')).to.not.equal(undefined);
    expect(shed).to.deep.equal(['x1', 'x2']);
    expect([a.waitingFrom('x'), a.waitingFrom('y'), a.waitingFrom('good')]).to.deep.equal([2, 1, 1]);
    // An address at its own share is refused outright, shedding nobody, full pool or not.
    const b = new Admission({ maxWaiting: 4, maxWaitingPerAddress: 2 });
    const gone: string[] = [];
    for (const addr of ['x', 'x', 'y', 'y']) b.startWaiting(addr, () => gone.push(addr));
    expect(b.startWaiting('x')).to.equal(undefined);
    expect(gone).to.deep.equal([]);
  });

  it('when no address holds more than one waiting socket, the oldest of all is shed: a crowd of one-socket addresses sheds its own stalled sockets, not a good peer that just arrived', () => {
    const shed: string[] = [];
    const a = new Admission({ maxWaiting: 4, maxWaitingPerAddress: 64 });
    const wait = (address: string) => a.startWaiting(address, () => shed.push(address));
    for (const addr of ['a1', 'a2', 'a3']) wait(addr);
    const good = wait('good')!;
    // Attackers keep arriving from fresh addresses: each sheds the oldest stalled socket.
    for (const addr of ['a4', 'a5', 'a6']) wait(addr);
    expect(shed).to.deep.equal(['a1', 'a2', 'a3']);
    // The good peer sent its first message meanwhile (a few ms): it was never shed.
    a.stopWaiting(good);
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

  describe('addressGroup', () => {
    it('an IPv4 address is itself', () => {
      expect(addressGroup('203.0.113.7')).to.equal('203.0.113.7');
      expect(addressGroup('127.0.0.2')).to.equal('127.0.0.2');
    });

    it('an IPv6 address counts by its /64, however it is written', () => {
      const g = '2001:db8:0:1::/64';
      for (const ip of ['2001:db8:0:1::1', '2001:db8::1:0:0:0:2', '2001:0db8:0000:0001:ffff:ffff:ffff:ffff', '2001:DB8:0:1:1:2:3:4', '2001:db8:0:1::', '2001:db8:0:1::1.2.3.4', '2001:db8:0:1:0::9']) {
        expect(addressGroup(ip), ip).to.equal(g);
      }
      expect(addressGroup('2001:db8:0:2::1')).to.equal('2001:db8:0:2::/64'); // the next /64 is another address
      expect(addressGroup('2001:db8::')).to.equal('2001:db8::/64');
      expect(addressGroup('1:2:3:4:5:6:7:8')).to.equal('1:2:3:4::/64');
      expect(addressGroup('fe80::1%eth0')).to.equal('fe80::/64'); // the zone is no part of it
      expect(addressGroup('::2')).to.equal('::/64');
    });

    it('an IPv4-mapped IPv6 address is the IPv4 address; loopback ::1 is itself', () => {
      expect(addressGroup('::ffff:203.0.113.7')).to.equal('203.0.113.7');
      expect(addressGroup('::FFFF:cb00:7107')).to.equal('203.0.113.7');
      expect(addressGroup('0:0:0:0:0:ffff:7f00:2')).to.equal('127.0.0.2');
      expect(addressGroup('::1')).to.equal('::1');
      expect(addressGroup('0:0:0:0:0:0:0:1')).to.equal('::1');
    });

    it('anything not an IP is returned as it is (no prefix guessing)', () => {
      for (const s of ['socket:3', '2001:db8:0:1', '2001:db8::1::2', '', 'localhost']) expect(addressGroup(s), s).to.equal(s);
    });

    it('sockets of one /64 share the per-address bounds and penalties', () => {
      const a = new Admission({ maxWaitingPerAddress: 2 });
      expect(a.startWaiting(addressGroup('2001:db8:0:1::a'))).to.not.equal(undefined);
      expect(a.startWaiting(addressGroup('2001:db8:0:1::b'))).to.not.equal(undefined);
      expect(a.startWaiting(addressGroup('2001:db8:0:1:dead:beef::c'))).to.equal(undefined);
      a.penalise(addressGroup('2001:db8:0:1::a'), 0);
      expect(a.penaltyFor(addressGroup('2001:db8:0:1:ffff::1'), 1)).to.be.greaterThan(0);
      expect(a.penaltyFor(addressGroup('2001:db8:0:2::a'), 1)).to.equal(0);
    });
  });
});
