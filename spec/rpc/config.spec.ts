/** The node's RPC configuration is checked at build time (`CommsConfigInvalid` lists every problem). */
import { expect } from 'chai';
import { ConfigError } from '../../core/errors.js';
import { NodeIdentity } from '../../core/keys.js';
import { CommsBuilder, CommsConfigInvalid } from '../../node/index.js';
import { NodeInfo } from '../../proto/gen/tcomms/info/v1/info_pb.js';
import { BenchService, Bench } from '../support/rpc.js';

const builder = () => new CommsBuilder().withNodeIdentity(NodeIdentity.generate());
const problems = (b: CommsBuilder): string[] => {
  try {
    b.build();
  } catch (err) {
    if (err instanceof CommsConfigInvalid) return err.problems;
    throw err;
  }
  return [];
};

describe('RPC configuration', () => {
  it('defaults: section 8 limits, 4 client sessions per peer closing after 30 s idle, no service, NodeInfo off', () => {
    expect(builder().config().rpc).to.deep.equal({ services: [], nodeInfo: false, maxSessions: 100, maxSessionsPerPeer: 10, idleTimeoutMs: 120_000, clientSessionsPerPeer: 4, clientIdleTimeoutMs: 30_000 });
  });

  it('bounds must be positive integers, every one reported', () => {
    const found = problems(builder().withRpc({ maxSessions: 0, maxSessionsPerPeer: 1.5, idleTimeoutMs: -1, clientSessionsPerPeer: 0 }));
    expect(found).to.deep.equal(['rpc.maxSessions must be a positive integer', 'rpc.maxSessionsPerPeer must be a positive integer', 'rpc.idleTimeoutMs must be a positive integer', 'rpc.clientSessionsPerPeer must be a positive integer']);
  });

  it('the client idle timeout is an integer 0..2^31-1 (ms; 0 = never), reported as a typed config error', () => {
    for (const ok of [0, 1, 30_000, 2 ** 31 - 1]) expect(problems(builder().withRpc({ clientIdleTimeoutMs: ok }))).to.deep.equal([]);
    for (const bad of [-1, 1.5, 2 ** 31, Number.NaN]) expect(problems(builder().withRpc({ clientIdleTimeoutMs: bad }))).to.deep.equal(['rpc.clientIdleTimeoutMs must be an integer 0..2147483647 (ms; 0 = never)']);
    expect(() => builder().withRpc({ clientIdleTimeoutMs: -1 }).build()).to.throw(CommsConfigInvalid);
  });

  it('a service id served twice, or also given as a protocol, is refused', () => {
    const s = new BenchService();
    expect(problems(builder().withRpcService(Bench, s.handlers).withRpcService(Bench, s.handlers))).to.include('rpc service /tcomms/bench/1 registered twice');
    expect(problems(builder().withNodeInfo().withProtocol('/tcomms/info/1', () => undefined))).to.include('protocol /tcomms/info/1 registered twice');
  });

  it('handlers are checked for JavaScript callers too; a running node refuses a second service at one id', async () => {
    expect(() => builder().withRpcService(NodeInfo, { getInfo: () => ({}) } as never)).to.throw(ConfigError, /no handler for listConnections/);
    expect(() => builder().withRpcService(NodeInfo, { getInfo: () => ({}), listConnections: async function* () {}, extra: () => 1 } as never)).to.throw(ConfigError, /has no method extra/);
    const node = builder().withNodeInfo().build();
    expect(() => node.registerRpcService(NodeInfo, { getInfo: () => ({}), listConnections: async function* () {} })).to.throw(ConfigError, /already served/);
    expect(node.protocols.ids()).to.include('/tcomms/info/1');
  });
});
