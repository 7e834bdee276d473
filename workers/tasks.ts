/**
 * The typed task map of the worker boundary, and the handlers that run each task. The same
 * handlers run inside the Piscina worker and on the calling thread (the in-thread path), so
 * both paths give identical bytes. Errors are returned as plain values and rebuilt as classes.
 */
import { MessagePort } from 'node:worker_threads';
import { cryptoProvider, type CryptoProvider, type CryptoProviderName } from '../core/crypto/index.js';
import { asBuffer, concat } from '../core/bytes.js';
import { DecryptionFailed, LowOrderPoint } from '../core/crypto/provider.js';
import { InternalError, InvalidPublicKey, TcommsError, type PlainError } from '../core/errors.js';
import { BoundedMap } from '../core/bounded-map.js';
import type { X25519KeyPair } from '../core/crypto/provider.js';
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
  /**
   * The X25519 service: lives until `port` closes (it holds its worker that long) and answers
   * each {@link ServiceRequest} received on `port` with a {@link ServiceReply} on it: batches of
   * fresh key pairs (at most {@link MAX_GENERATE} a time), and DH operations with those pairs
   * or with static keys. The caller can read replies synchronously with `receiveMessageOnPort`
   * even while its event loop is kept busy. It spares the caller's thread every scalar
   * multiplication of a handshake.
   */
  'x25519.service': { input: { provider: CryptoProviderName; port: MessagePort }; output: { served: number } };
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

/**
 * What the `x25519.service` is asked: `n` fresh key pairs, one DH, or to forget pairs it handed
 * out (their handshakes are over). Forgets are batched: they ride on the next `gen`, or go alone
 * when many wait.
 */
export type ServiceRequest =
  | { t: 'gen'; n: number; forget?: Uint8Array[] }
  | { t: 'dh'; id: number; secret: Uint8Array; pub: Uint8Array; remote: Uint8Array }
  | { t: 'forget'; secrets: Uint8Array[] };

/** A batch of key pairs: secret || public of each (64 bytes apiece), and each pair's native handle (none when the provider keeps none). */
export interface KeyBatch {
  t: 'keys';
  pairs: Uint8Array;
  handles: unknown[];
}

/** What the `x25519.service` answers. */
export type ServiceReply = KeyBatch | { t: 'dh'; id: number; shared: Uint8Array } | { t: 'dh'; id: number; error: PlainError };

/** Most key pairs one `x25519.service` request makes. */
export const MAX_GENERATE = 1024;
/** Pairs the service remembers having handed out (beyond these, a DH imports the secret again). */
const ISSUED_KEYS = 4096;

type Handlers = { [K in TaskName]: (input: TaskInput<K>) => TaskOutput<K> | Promise<TaskOutput<K>> };

/** How the service keys the pairs it handed out. */
function secretId(secret: Uint8Array): string {
  return asBuffer(secret).toString('base64url');
}

function generateBatch(p: CryptoProvider, count: number, issued: BoundedMap<string, X25519KeyPair>): KeyBatch {
  const pairs = new Uint8Array(count * 64);
  const handles: unknown[] = [];
  for (let i = 0; i < count; i++) {
    const pair = p.x25519Generate();
    pairs.set(pair.secretKey, i * 64);
    pairs.set(pair.publicKey, i * 64 + 32);
    const handle = p.x25519Handle?.(pair);
    if (handle !== undefined) handles.push(handle);
    issued.set(secretId(pair.secretKey), pair);
  }
  return { t: 'keys', pairs, handles: handles.length === count ? handles : [] };
}

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
  'x25519.service': ({ provider, port }) => {
    if (!(port instanceof MessagePort)) throw new HandshakeMisuse('x25519.service needs a MessagePort');
    const p = cryptoProvider(provider);
    // Pairs handed out, by secret, so that a DH with one finds its native handle again.
    const issued = new BoundedMap<string, X25519KeyPair>(ISSUED_KEYS);
    let served = 0;
    return new Promise((resolve) => {
      port.on('message', (request: ServiceRequest) => {
        served++;
        if (request.t === 'forget' || request.t === 'gen') {
          const secrets = request.t === 'forget' ? request.secrets : request.forget;
          if (Array.isArray(secrets)) for (const secret of secrets) if (secret instanceof Uint8Array) issued.delete(secretId(secret));
          if (request.t === 'forget') return;
          const count = Number.isInteger(request.n) ? Math.min(Math.max(request.n, 1), MAX_GENERATE) : 1;
          const batch = generateBatch(p, count, issued);
          port.postMessage(batch, [batch.pairs.buffer as ArrayBuffer]);
          return;
        }
        let reply: ServiceReply;
        try {
          const id = secretId(request.secret);
          const own = issued.get(id) ?? { secretKey: request.secret, publicKey: request.pub };
          reply = { t: 'dh', id: request.id, shared: p.x25519DH(own, request.remote) };
        } catch (err) {
          reply = { t: 'dh', id: request.id, error: failure(err).error };
        }
        port.postMessage(reply);
      });
      port.once('close', () => {
        issued.clear();
        resolve({ served });
      });
    });
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

/**
 * Run one task on this thread; errors become plain values. Every task answers synchronously
 * but the long-lived `x25519.service`, whose reply comes as a promise when it ends.
 */
export function runTask<K extends TaskName>(request: TaskRequest<K>): TaskReply<K> | Promise<TaskReply<K>> {
  try {
    const handler = HANDLERS[request.name] as (input: TaskInput<K>) => TaskOutput<K> | Promise<TaskOutput<K>>;
    if (handler === undefined) throw new InternalError(`unknown task ${String(request.name)}`);
    const output = handler(request.input);
    if (output instanceof Promise) return output.then((o) => ({ ok: true as const, output: o }), failure);
    return { ok: true, output };
  } catch (err) {
    return failure(err);
  }
}

function failure(err: unknown): { ok: false; error: PlainError } {
  if (err instanceof TcommsError) return { ok: false, error: err.toPlain() };
  return { ok: false, error: { name: 'InternalError', message: err instanceof Error ? err.message : String(err), kind: 'internal' } };
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
 * What to transfer (not copy) with a task's input: inbound frames, which the transport owns,
 * and a task's reply port. Plaintexts given to `write()` belong to the caller and are copied,
 * never detached.
 */
export function transferablesOf(request: TaskRequest): (ArrayBuffer | MessagePort)[] {
  const out = new Set<ArrayBuffer>();
  const add = (b: Uint8Array) => {
    // Only whole, unshared buffers can be moved without breaking other views.
    if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer && b.byteLength > 4096) out.add(b.buffer);
  };
  const input = request.input as { frames?: Uint8Array[]; port?: MessagePort };
  input.frames?.forEach(add);
  return input.port === undefined ? [...out] : [...out, input.port];
}
