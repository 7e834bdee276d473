/**
 * Type-level checks of the typed RPC shapes: `npm run typecheck` compiles this file, so every
 * `@ts-expect-error` below must meet an error (a misspelled method, a wrong request or handler
 * shape that type-checked would fail the type check). The functions are never called.
 */
import { expect } from 'chai';
import { NodeInfo, type ConnectionInfo, type GetInfoResponse } from '../../../proto/gen/tcomms/info/v1/info_pb.js';
import { defineRpcService, type RpcClient, type RpcHandlers } from '../../../protocols/rpc/index.js';

type NodeInfoClient = RpcClient<typeof NodeInfo>;
type NodeInfoHandlers = RpcHandlers<typeof NodeInfo>;

/** Calls that must type-check, and misspellings that must not. */
export async function clientShapes(client: NodeInfoClient, signal: AbortSignal): Promise<void> {
  const info: GetInfoResponse = await client.getInfo({});
  const withOptions: GetInfoResponse = await client.getInfo({}, { signal, deadlineMs: 5_000 });
  for await (const c of client.listConnections({ limit: 5 })) {
    const item: ConnectionInfo = c;
    void item;
  }
  void info;
  void withOptions;

  // @ts-expect-error a method that does not exist
  await client.getInfos({});
  // @ts-expect-error the proto name is not the local name
  await client.GetInfo({});
  // @ts-expect-error a field of the wrong type
  client.listConnections({ limit: 'five' });
  // @ts-expect-error a field the request does not have
  await client.getInfo({ limit: 1 });
  // @ts-expect-error a unary call is not iterable
  for await (const x of client.getInfo({})) void x;
  // @ts-expect-error a stream call is not a promise
  await client.listConnections({}).then(() => undefined);
  // @ts-expect-error an unknown option
  await client.getInfo({}, { deadline: 5 });
}

/** A correct implementation. */
export const goodHandlers: NodeInfoHandlers = {
  getInfo: (_req, ctx) => ({ publicKey: ctx.peer.publicKey, userAgent: 'x', uptimeMs: 1n, connections: ctx.deadline }),
  async *listConnections(req, ctx) {
    for (let i = 0; i < req.limit && !ctx.signal.aborted; i++) yield { outbound: true, ageMs: BigInt(i) };
  },
};

/** An async unary handler is fine too. */
export const asyncHandlers: NodeInfoHandlers = {
  getInfo: async () => ({ connections: 1 }),
  listConnections: async function* () {},
};

export const wrongResponse: NodeInfoHandlers = {
  // @ts-expect-error a response field of the wrong type
  getInfo: () => ({ userAgent: 5 }),
  listConnections: async function* () {},
};

export const streamForUnary: NodeInfoHandlers = {
  // @ts-expect-error a unary method cannot stream
  getInfo: async function* () {
    yield { connections: 1 };
  },
  listConnections: async function* () {},
};

export const promiseForStream: NodeInfoHandlers = {
  getInfo: () => ({}),
  // @ts-expect-error a stream method cannot return one response
  listConnections: async () => ({ outbound: true }),
};

// @ts-expect-error a handler is missing
export const missingHandler: NodeInfoHandlers = {
  getInfo: () => ({}),
};

export const misspelledHandler: NodeInfoHandlers = {
  getInfo: () => ({}),
  listConnections: async function* () {},
  // @ts-expect-error a handler for a method that does not exist
  listConnection: async function* () {},
};

export const wrongRequestField: NodeInfoHandlers = {
  getInfo: () => ({}),
  listConnections: async function* (req) {
    // @ts-expect-error the request has no such field
    yield { address: req.limits };
  },
};

describe('rpc: typed client and handler shapes', () => {
  it('compile-time checks live in this file (tsc); the service they use is a valid one', () => {
    const def = defineRpcService(NodeInfo);
    expect(def.byName.getInfo.number).to.equal(1);
    expect(def.byName.listConnections.kind).to.equal('server_streaming');
    expect(typeof goodHandlers.getInfo).to.equal('function');
  });
});
