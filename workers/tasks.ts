/**
 * The typed task map of the worker boundary, and the handlers that run each task. The same
 * handlers run inside the Piscina worker and on the calling thread (the in-thread path), so
 * both paths give identical bytes. Errors are returned as plain values and rebuilt as classes.
 */
import { cryptoProvider, type CryptoProviderName } from '../core/crypto/index.js';
import { concat } from '../core/bytes.js';
import { DecryptionFailed, LowOrderPoint } from '../core/crypto/provider.js';
import { InternalError, InvalidPublicKey, TcommsError, type PlainError } from '../core/errors.js';
import { CipherState } from '../protocols/noise/cipher-state.js';
import { HandshakeMisuse, NoiseMessageLength, NonceExhausted } from '../protocols/noise/errors.js';
import { HandshakeState, type HandshakeSnapshot } from '../protocols/noise/handshake-state.js';
import { MAX_PLAINTEXT, NoiseDecoder, NoiseEncoder } from '../protocols/noise/transport.js';

/** Every task: its input and its output. */
export interface TaskMap {
  /** Write the next handshake message (runs its DH operations). */
  'noise.write': { input: { snapshot: HandshakeSnapshot; payload: Uint8Array }; output: { snapshot: HandshakeSnapshot; message: Uint8Array } };
  /** Read the next handshake message (runs its DH operations). */
  'noise.read': { input: { snapshot: HandshakeSnapshot; message: Uint8Array }; output: { snapshot: HandshakeSnapshot; payload: Uint8Array } };
  /** One X25519 DH with a fresh ephemeral key (a unit for measuring DH offload). */
  'x25519.dh': { input: { provider: CryptoProviderName; secretKey: Uint8Array; publicKey: Uint8Array }; output: { shared: Uint8Array } };
  /**
   * Seal plaintexts (each at most 65519 bytes) with consecutive nonces from `nonce`; returns
   * the framed wire bytes of the whole batch in one buffer, in nonce order.
   */
  'transport.seal': { input: { provider: CryptoProviderName; key: Uint8Array; nonce: bigint; plaintexts: Uint8Array[] }; output: { wire: Uint8Array } };
  /**
   * Open ciphertext frames (without prefixes) with consecutive nonces from `nonce`; returns
   * the plaintext of the whole batch in one buffer, in nonce order.
   */
  'transport.open': { input: { provider: CryptoProviderName; key: Uint8Array; nonce: bigint; frames: Uint8Array[] }; output: { plaintext: Uint8Array } };
}

/** The names of the tasks a worker runs. */
export type TaskName = keyof TaskMap;
/** The input of task `K`. */
export type TaskInput<K extends TaskName> = TaskMap[K]['input'];
/** The output of task `K`. */
export type TaskOutput<K extends TaskName> = TaskMap[K]['output'];

/** What crosses the boundary: the task, and a result or a plain error. */
export interface TaskRequest<K extends TaskName = TaskName> {
  name: K;
  input: TaskInput<K>;
}
/** A task's result or its error as plain data (errors cross the worker boundary as `{ name, message, kind }`). */
export type TaskReply<K extends TaskName = TaskName> = { ok: true; output: TaskOutput<K> } | { ok: false; error: PlainError };

type Handlers = { [K in TaskName]: (input: TaskInput<K>) => TaskOutput<K> };

const HANDLERS: Handlers = {
  'noise.write': ({ snapshot, payload }) => {
    const hs = new HandshakeState(cryptoProvider(snapshot.provider), snapshot);
    const message = hs.writeMessage(payload);
    return { snapshot: hs.snapshot(), message };
  },
  'noise.read': ({ snapshot, message }) => {
    const hs = new HandshakeState(cryptoProvider(snapshot.provider), snapshot);
    const payload = hs.readMessage(message);
    return { snapshot: hs.snapshot(), payload };
  },
  'x25519.dh': ({ provider, secretKey, publicKey }) => {
    const p = cryptoProvider(provider);
    return { shared: p.x25519DH(p.x25519FromSecret(secretKey), publicKey) };
  },
  'transport.seal': ({ provider, key, nonce, plaintexts }) => {
    const cipher = new CipherState(cryptoProvider(provider), key);
    cipher.nonce = nonce;
    // One frame per plaintext: a longer one would consume nonces the caller did not reserve.
    for (const p of plaintexts) if (p.length > MAX_PLAINTEXT) throw new HandshakeMisuse('transport.seal plaintext over 65519 bytes');
    const encoder = new NoiseEncoder(cipher);
    const parts: Uint8Array[] = [];
    for (const p of plaintexts) encoder.encrypt(p, parts);
    return { wire: concat(parts) };
  },
  'transport.open': ({ provider, key, nonce, frames }) => {
    const cipher = new CipherState(cryptoProvider(provider), key);
    cipher.nonce = nonce;
    const decoder = new NoiseDecoder(cipher);
    const plain: Uint8Array[] = [];
    for (const f of frames) decoder.decryptFrame(f, plain);
    return { plaintext: concat(plain) };
  },
};

/** Run one task on this thread; errors become plain values. */
export function runTask<K extends TaskName>(request: TaskRequest<K>): TaskReply<K> {
  try {
    const handler = HANDLERS[request.name] as (input: TaskInput<K>) => TaskOutput<K>;
    if (handler === undefined) throw new InternalError(`unknown task ${String(request.name)}`);
    return { ok: true, output: handler(request.input) };
  } catch (err) {
    if (err instanceof TcommsError) return { ok: false, error: err.toPlain() };
    return { ok: false, error: { name: 'InternalError', message: err instanceof Error ? err.message : String(err), kind: 'internal' } };
  }
}

/** Rebuild errors that crossed the boundary as the same classes on this thread. */
export function errorFromReply(error: PlainError): TcommsError {
  switch (error.name) {
    case 'DecryptionFailed':
      return new DecryptionFailed(error.message);
    case 'LowOrderPoint':
      return new LowOrderPoint();
    case 'NonceExhausted':
      return new NonceExhausted();
    case 'NoiseMessageLength': {
      const e = new NoiseMessageLength(0, 0, 0);
      e.message = error.message;
      return e;
    }
    case 'InvalidPublicKey':
      return new InvalidPublicKey(error.message, 'not-on-curve');
    case 'HandshakeMisuse':
      return new HandshakeMisuse(error.message);
    default:
      return new InternalError(`${error.name}: ${error.message}`);
  }
}

/**
 * Buffers to transfer (not copy) with a task's input: only inbound frames, which the transport
 * owns. Plaintexts given to `write()` belong to the caller and are copied, never detached.
 */
export function transferablesOf(request: TaskRequest): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const add = (b: Uint8Array) => {
    // Only whole, unshared buffers can be moved without breaking other views.
    if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer && b.byteLength > 4096) out.add(b.buffer);
  };
  const input = request.input as { frames?: Uint8Array[] };
  input.frames?.forEach(add);
  return [...out];
}
