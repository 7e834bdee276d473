/**
 * The RPC services `tcomms rpc` can call, by protocol id: the built-in ones (NodeInfo), and the
 * DHT's peer sync (`/tari/dht/1`, served by `tcomms node --dht`). A service added here is callable from the command line with
 * protobuf's JSON mapping for its requests and responses.
 */
import { NodeInfo } from '../proto/gen/tcomms/info/v1/info_pb.js';
import { PeerSync } from '../proto/gen/tcomms/dht/dht_pb.js';
import type { AnyRpcService } from '../protocols/rpc/index.js';
import { rpcServiceDefinition } from '../actors/rpc-server/services.js';

/** Every service the binary knows. */
export const KNOWN_RPC_SERVICES: readonly AnyRpcService[] = [NodeInfo, PeerSync];

/** The known service at `protocol`, if any. */
export function knownRpcService(protocol: string): AnyRpcService | undefined {
  return KNOWN_RPC_SERVICES.find((s) => rpcServiceDefinition(s).protocol === protocol);
}
