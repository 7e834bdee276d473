/**
 * The numbers of PROTOCOL.md section 8: versions, flag bits, sizes and waits. Waits are in
 * milliseconds; the cores read no clock, so the shell passes the time in and runs one timer at
 * the core's `nextTimeout()`.
 */

/** The only RPC protocol version (v1). */
export const RPC_VERSION = 1;

/** Flag bits of `RpcRequest.flags` and `RpcResponse.flags`; any other bit is a protocol error. */
export const RpcFlag = {
  /** The last frame of a call (response), or a cancel (request). */
  FIN: 0x01,
  /** A ping (request) or its answer (response). */
  ACK: 0x02,
} as const;
/** Every defined flag bit. */
export const KNOWN_RPC_FLAGS = RpcFlag.FIN | RpcFlag.ACK;

/** Largest protobuf of one frame: bounds the memory one frame can claim (section 8: 4 MiB). */
export const MAX_RPC_FRAME_BYTES = 4_194_304;
/** Bytes of the frame header `length:u32 BE`. */
export const RPC_FRAME_HEADER_BYTES = 4;
/** Longest status message a sender writes (receivers accept longer ones). */
export const MAX_STATUS_MESSAGE_BYTES = 1024;
/** Longest protocol id of a service: it must fit `supported_protocols` of section 5. */
export const MAX_RPC_PROTOCOL_ID_BYTES = 50;

/** Smallest `deadline_ms` a server accepts: 0 (absent) or less is BadRequest. */
export const MIN_DEADLINE_MS = 1_000;
/** A client's `deadline_ms` when the caller gives none. */
export const DEFAULT_CLIENT_DEADLINE_MS = 120_000;
/** How long a client waits past `deadline_ms` for a frame before it resets: the server's own Timeout answer must have time to arrive. */
export const CLIENT_DEADLINE_GRACE_MS = 60_000;

/** How long a server waits for `RpcSession` before it resets: a silent opener must not hold a slot. */
export const SERVER_HANDSHAKE_TIMEOUT_MS = 15_000;
/** How long a client waits for `RpcSessionReply` before it resets. */
export const CLIENT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** How long a client waits for the FIN of a call it cancelled before it resets. */
export const CANCEL_TIMEOUT_MS = 2_000;
/** How long a client waits for the answer to a ping before it resets. */
export const PING_TIMEOUT_MS = 10_000;
/** A session with no call for this long is closed by the server (pings do not count): idle sessions hold slots. */
export const IDLE_TIMEOUT_MS = 120_000;
/**
 * After its FIN, how long a side waits for the peer's FIN before it resets. Section 8 sets it
 * for the server after an idle close; tcomms uses the same wait after every FIN it writes first
 * (the client's included), so no substream waits forever.
 */
export const CLOSE_TIMEOUT_MS = 10_000;

/** Sessions a server holds in all (all services): bounds the memory and handlers peers can claim. */
export const MAX_SERVER_SESSIONS = 100;
/** Sessions a server holds per peer public key (all services): one peer cannot take every slot. */
export const MAX_SERVER_SESSIONS_PER_PEER = 10;
