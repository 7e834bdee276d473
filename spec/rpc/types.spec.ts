/**
 * Type-level checks of the node's RPC API: `npm run typecheck` compiles this file, so every
 * `@ts-expect-error` must meet an error (a wrong method name, request or handler shape given to
 * `CommsBuilder.withRpcService` or made through `node.rpc` fails the type check). The
 * functions are never called.
 */
import { expect } from 'chai';
import { NodeInfo, type GetInfoResponse } from '../../proto/gen/tcomms/info/v1/info_pb.js';
import { CommsBuilder, type CommsNode } from '../../node/index.js';
import { RpcError, RpcStatus } from '../../protocols/rpc/index.js';

/** Services given to the builder: typed by the descriptor. */
export function builderShapes(b: CommsBuilder): void {
  b.withRpcService(NodeInfo, {
    getInfo: async (_req, ctx) => {
      if (ctx.signal.aborted) throw new RpcError(RpcStatus.NotFound, 'no such peer');
      return { userAgent: 'x', connections: 1 };
    },
    listConnections: async function* (req) {
      for (let i = 0; i < req.limit; i++) yield { outbound: true };
    },
  });
  b.withRpcService(NodeInfo, {
    getInfo: () => ({}),
    listConnections: async function* () {},
    // @ts-expect-error a method the service does not have
    getInfos: () => ({}),
  });
  // @ts-expect-error a method left without a handler
  b.withRpcService(NodeInfo, { getInfo: () => ({}) });
  b.withRpcService(NodeInfo, {
    // @ts-expect-error a response field of the wrong type
    getInfo: () => ({ connections: 'many' }),
    listConnections: async function* () {},
  });
  b.withRpcService(NodeInfo, {
    getInfo: () => ({}),
    // @ts-expect-error a stream handler must yield the items, not return one
    listConnections: () => ({ outbound: true }),
  });
  // @ts-expect-error an unknown rpc option
  b.withRpc({ maxSesions: 3 });
}

/** Calls made through the node: typed by the descriptor. */
export async function clientShapes(node: CommsNode, peer: string): Promise<void> {
  const info = await node.rpc(peer, NodeInfo, { deadlineMs: 5_000 });
  const got: GetInfoResponse = await info.getInfo({}, { deadlineMs: 2_000, signal: AbortSignal.timeout(1_000) });
  void got;
  for await (const c of info.listConnections({ limit: 3 })) void c.publicKey;
  // @ts-expect-error a method that does not exist
  await info.getinfo({});
  // @ts-expect-error a request field of the wrong type
  info.listConnections({ limit: '3' });
  // @ts-expect-error a stream call is not awaited as one response
  const notOne: GetInfoResponse = await info.listConnections({});
  void notOne;
}

describe('typed RPC API of the node', () => {
  it('type-checks (see the @ts-expect-error lines, checked by `npm run typecheck`)', () => {
    expect(builderShapes).to.be.a('function');
    expect(clientShapes).to.be.a('function');
  });
});
