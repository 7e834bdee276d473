/**
 * `tcomms/rpc`: what an embedder needs to serve and call RPC services (PROTOCOL.md section 8):
 * the status codes and `RpcError`, the typed errors of sessions and calls, the types that flow
 * from a generated service descriptor, the built-in `NodeInfo` service, and the DHT's `PeerSync`
 * (`/tari/dht/1`, served by DHT nodes).
 */
export { RpcError, RpcStatus, statusFromWire } from '../protocols/rpc/status.js';
export {
  RpcProtocolError,
  RpcFrameTooLarge,
  RpcSessionRejected,
  RpcTimeout,
  RpcSessionClosed,
  RpcCallCancelled,
  RpcSessionMisuse,
  RpcServiceInvalid,
  RpcRequestTooLarge,
  type RpcViolation,
  type RpcWait,
} from '../protocols/rpc/errors.js';
export {
  defineRpcService,
  type AnyRpcService,
  type RpcServiceDefinition,
  type RpcClient,
  type RpcHandlers,
  type RpcCallOptions,
  type RpcCallContext,
  type RpcPeer,
  type InputOf,
  type OutputOf,
} from '../protocols/rpc/service.js';
export { RpcOpenFailed } from '../actors/rpc-client/call.js';
export { MuxerClosed } from '../protocols/yamux/errors.js';
export {
  NodeInfo,
  GetInfoRequestSchema,
  GetInfoResponseSchema,
  ListConnectionsRequestSchema,
  ConnectionInfoSchema,
  type GetInfoRequest,
  type GetInfoResponse,
  type ListConnectionsRequest,
  type ConnectionInfo,
} from '../proto/gen/tcomms/info/v1/info_pb.js';
export {
  PeerSync,
  GetPeersRequestSchema,
  GetCloserPeersRequestSchema,
  PeerClaimSchema,
  type GetPeersRequest,
  type GetCloserPeersRequest,
  type PeerClaim,
} from '../proto/gen/tcomms/dht/dht_pb.js';
