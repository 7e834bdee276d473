/**
 * Every number of PROTOCOL.md section 9, each with why it is what it is. Times are unix seconds.
 * Normative values (wire bytes, receiver bounds) and the recommended defaults of 9.9 are marked.
 */

const ascii = (text: string) => new TextEncoder().encode(text);

// --- 9.1 Envelope ---------------------------------------------------------------------------

/** The only `DhtHeader.version` defined (9.1): another version is dropped, not a violation. */
export const DHT_VERSION = 1;
/** `flags` bit 0 (9.1): the body is sealed for `destination` (9.3). Every other bit is a violation. */
export const FLAG_ENCRYPTED = 0x01;
/** Senders set `expires` at most this far ahead (9.1: 3 days), the longest SAF may hold a message. */
export const MAX_EXPIRY_SECONDS = 259_200n;
/** Receivers drop `expires` > now + this (9.1): 3 days plus 10 minutes of clock skew between nodes. */
export const MAX_RECEIVED_EXPIRY_SECONDS = 259_800n;
/** Length of `ephemeral_public_key` when ENCRYPTED (9.1): an X25519 public key. */
export const EPHEMERAL_KEY_LENGTH = 32;
/** Length of `MessageSignature.signer_public_key` (9.1): an Ed25519 public key. */
export const SIGNER_KEY_LENGTH = 32;
/** Length of `MessageSignature.signature` (9.1): an Ed25519 signature. */
export const SIGNATURE_LENGTH = 64;

// --- 9.2 / 9.3 / 9.4 domain tags ---------------------------------------------------------------

/** First item of `binding(body)` (9.2, 21 bytes): separates it from every other use of H. */
export const BINDING_TAG = ascii('tcomms.dht.binding.v1');
/** First item of the sealed-sender key (9.3, 17 bytes). */
export const SEAL_KEY_TAG = ascii('tcomms.dht.key.v1');
/** First item of the dedup key (9.4, 19 bytes). */
export const DEDUP_TAG = ascii('tcomms.dht.dedup.v1');

// --- 9.3 Encryption ---------------------------------------------------------------------------

/** Sealed plaintexts are padded with zeros to a multiple of this (9.3), hiding the message size. */
export const SEAL_PADDING_BLOCK = 6_000;
/** The u32le(n) that starts a sealed plaintext (9.3): the length of the SealedMessage. */
export const SEAL_LENGTH_PREFIX = 4;
/** The Poly1305 tag after the ciphertext (9.3): ENCRYPTED bodies are 6,000·k + 16 bytes, k ≥ 1. */
export const SEAL_TAG_LENGTH = 16;
/** The ChaCha20-Poly1305 nonce (9.3): all zero, safe because each message has its own key. */
export const SEAL_NONCE = new Uint8Array(12);
/** Senders set `expires` to now + this for ENCRYPTED messages (9.9: 3 days, as long as SAF holds them). */
export const DEFAULT_ENCRYPTED_EXPIRY_SECONDS = 259_200n;
/** Senders set `expires` to now + this for cleartext messages (9.9: 3 hours). */
export const DEFAULT_CLEARTEXT_EXPIRY_SECONDS = 10_800n;

// --- 9.4 Deduplication ------------------------------------------------------------------------

/** The dedup cache evicts only while it holds more keys than this (9.4). */
export const DEDUP_CACHE_CAPACITY = 2_500;
/** ... and only a key unseen for at least this long (9.4: 10 minutes), so a burst cannot flush it. */
export const DEDUP_MIN_AGE_SECONDS = 600;

// --- 9.5 Message types ------------------------------------------------------------------------

/** A claim's `updated_at` may be at most this far ahead of the receiver's clock (section 5: 1 day). */
export const CLAIM_MAX_SKEW_SECONDS = 86_400n;
/** A requester gives up a discovery after this long (9.5: 60 s). */
export const DISCOVERY_TIMEOUT_SECONDS = 60;

// --- 9.6 Broadcast strategies -----------------------------------------------------------------

/** Broadcast: this many random connected nodes (9.6). */
export const BROADCAST_PEERS = 8;
/** ClosestNodes(target, n): default n (9.6). */
export const CLOSEST_NODES_DEFAULT = 8;
/** Propagate considers the connected nodes this close to the destination (9.6) ... */
export const PROPAGATE_CANDIDATES = 8;
/** ... and sends to at most this many of them closer than self, or this many random ones for an empty destination (9.6). */
export const PROPAGATE_MAX_PEERS = 4;

// --- 9.7 Store-and-forward --------------------------------------------------------------------

/** Feature bit 0 (section 5): a node, which forwards (9.6). */
export const FEATURE_MESSAGE_PROPAGATION = 1 << 0;
/** Feature bit 1 (section 5): stores and serves messages for others (9.7). */
export const FEATURE_STORE_AND_FORWARD = 1 << 1;
/** A stored envelope is at most this many encoded bytes (9.7: 512 KiB), bounding one peer's cost. */
export const MAX_SAF_ENVELOPE_BYTES = 524_288;
/** A node stores for a destination nearer to it than its this-many-th nearest known node (9.7). */
export const SAF_NEAREST_NODES = 8;
/** Stored at most this long for a destination in the peer store (9.7: 3 days). */
export const SAF_KNOWN_DESTINATION_SECONDS = 259_200n;
/** Stored at most this long for an unknown destination (9.7: 6 hours). */
export const SAF_UNKNOWN_DESTINATION_SECONDS = 21_600n;
/** Default bound on the stored message count (9.7). */
export const SAF_DEFAULT_MAX_MESSAGES = 100_000;
/** Default bound on the stored envelope bytes (9.7: 1 GiB). */
export const SAF_DEFAULT_MAX_BYTES = 1024 ** 3;
/** Default share of each bound one sending peer may use (9.7: 10%), so one peer cannot fill the store. */
export const SAF_DEFAULT_PER_PEER_SHARE = 0.1;
/** `SafRequestMessages.limit` sent, and the cap a server applies (0 or over it: this) (9.7). */
export const SAF_REQUEST_LIMIT = 50;
/** A server serves `stored_at` ≥ `since` clamped to [now − this, now] (9.7: 3 days). */
export const SAF_SINCE_WINDOW_SECONDS = 259_200n;
/** A SAF response is taken only while its request is under this old (9.7: 120 s). */
export const SAF_RESPONSE_TIMEOUT_SECONDS = 120;
/** A SAF response fits one messaging frame of the default maximum (9.7, section 6: 8 MiB). */
export const SAF_RESPONSE_MAX_BYTES = 8_388_608;

// --- 9.8 Peer sync ----------------------------------------------------------------------------

/** GetCloserPeersRequest.n is 1..this (9.8). */
export const GET_CLOSER_PEERS_MAX_N = 100;
/** GetCloserPeersRequest.excluded holds at most this many keys (9.8). */
export const MAX_EXCLUDED_KEYS = 1_000;
/** GetPeersRequest.n is at most this (9.8; 0 = all). */
export const GET_PEERS_MAX_N = 1_000;

// --- 9.9 Recommended behaviour (non-normative) -------------------------------------------------

/** Ban for invalid envelopes, signatures, claims and SAF responses (9.9: 2 hours). */
export const BAN_INVALID_SECONDS = 7_200;
/** Ban for a destination equal to the sending peer, and for flooding (9.9: 10 minutes). */
export const BAN_MINOR_SECONDS = 600;
/** Flooding: over this many DHT messages from one peer ... (9.9) */
export const FLOOD_MAX_MESSAGES = 100_000;
/** ... within this window (9.9: 100 s). */
export const FLOOD_WINDOW_SECONDS = 100;
/** Below this many known peers, network discovery syncs from several peers (9.9). */
export const DISCOVERY_MIN_KNOWN_PEERS = 50;
/** ... from up to this many random untried peers (9.9). */
export const DISCOVERY_SYNC_PEERS = 5;
/** Network discovery waits this long when idle (9.9: 30 minutes) ... */
export const DISCOVERY_IDLE_WAIT_SECONDS = 1_800;
/** ... or this long after a failure (9.9). */
export const DISCOVERY_RETRY_WAIT_SECONDS = 5;
/** Connections kept to the nearest nodes by XOR distance (9.9). */
export const CONNECT_CLOSEST_NODES = 8;
/** ... and to this many random ones (9.9). */
export const CONNECT_RANDOM_NODES = 4;
/** The random connections are refreshed this often (9.9: 2 hours) ... */
export const CONNECT_REFRESH_SECONDS = 7_200;
/** ... and the pool checked this often (9.9: 2 minutes). */
export const CONNECT_CHECK_SECONDS = 120;
/** A node joins at most once this often (9.9: 10 minutes). */
export const JOIN_MIN_INTERVAL_SECONDS = 600;
