import { expect } from 'chai';
import { AbortedError, stackless } from '../../core/errors.js';

describe('errors', () => {
  it('stackless makes an error without stack frames and restores the trace limit, even when making it throws', () => {
    const limit = Error.stackTraceLimit;
    const cheap = stackless(() => new AbortedError('shed'));
    expect(cheap).to.be.instanceOf(AbortedError);
    expect(cheap.kind).to.equal('aborted');
    expect(cheap.stack?.split('\n').filter((l) => l.trimStart().startsWith('at '))).to.deep.equal([]);
    expect(Error.stackTraceLimit).to.equal(limit);
    expect(() =>
      stackless(() => {
        throw new Error('boom');
      }),
    ).to.throw('boom');
    expect(Error.stackTraceLimit).to.equal(limit);
    const normal = new AbortedError('normal');
    expect(normal.stack).to.match(/\n\s+at /);
  });
});
