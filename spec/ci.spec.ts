/**
 * Suites that need a system tool (microsocks, tor, taskset) or `../shared/tor-testnet` skip,
 * saying why, when it is missing; with `TCOMMS_REQUIRE_SYSTEM=1` (`.ci/run` sets it) they fail
 * instead, so that a green CI run means the real components ran.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { skipIfMissing } from './support/processes.js';

describe('skips that cannot hide', () => {
  const saved = process.env.TCOMMS_REQUIRE_SYSTEM;
  afterEach(() => {
    if (saved === undefined) delete process.env.TCOMMS_REQUIRE_SYSTEM;
    else process.env.TCOMMS_REQUIRE_SYSTEM = saved;
  });

  it('a missing tool skips without TCOMMS_REQUIRE_SYSTEM, and fails with it', () => {
    let skipped = false;
    const context = { skip: () => void (skipped = true) } as unknown as Mocha.Context;
    delete process.env.TCOMMS_REQUIRE_SYSTEM;
    skipIfMissing(context, 'sometool is not installed');
    expect(skipped).to.equal(true);
    process.env.TCOMMS_REQUIRE_SYSTEM = '1';
    expect(() => skipIfMissing(context, 'sometool is not installed')).to.throw(/TCOMMS_REQUIRE_SYSTEM=1.*sometool/);
    expect(() => skipIfMissing(context, undefined)).to.not.throw();
  });

  it('.ci/run sets TCOMMS_REQUIRE_SYSTEM=1 before the test command', () => {
    const run = readFileSync(new URL('../.ci/run', import.meta.url), 'utf8');
    expect(run.indexOf('export TCOMMS_REQUIRE_SYSTEM=1')).to.be.greaterThan(-1);
    expect(run.indexOf('export TCOMMS_REQUIRE_SYSTEM=1')).to.be.lessThan(run.indexOf('npm test'));
  });
});
