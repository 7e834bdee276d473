/**
 * The bans in force, in memory, for the checks that run on every inbound connection: by the
 * peer's Ed25519 public key, and by its X25519 form (the Noise static key), so that a banned
 * peer can be recognised right after the Noise handshake, before anything of ours is sent
 * (PROTOCOL.md section 2: the static key is all the responder knows of the peer by then).
 *
 * The peer store holds the authoritative bans; the peer manager keeps this index in step with
 * its facts (`peer.banned`, `peer.unbanned`), and the node loads it from the store at start.
 */
import { toHex } from '../core/bytes.js';
import { x25519PublicOf, type PublicKey } from '../core/keys.js';

/** Bans indexed at most: an attacker who earns many bans with fresh keys grows it only this far. */
export const MAX_INDEXED_BANS = 65_536;

/** An index of bans in force (see the module comment). */
export class BanList {
  /** Ed25519 public key hex -> until when (ms), and its X25519 form (hex). */
  readonly #byKey = new Map<string, { until: number; noiseKey: string }>();
  /** X25519 form hex -> Ed25519 public key hex. */
  readonly #byNoiseKey = new Map<string, string>();

  constructor(readonly max = MAX_INDEXED_BANS) {}

  /** Bans indexed now (some may have expired; they are dropped as they are looked up). */
  get size(): number {
    return this.#byKey.size;
  }

  /** Records a ban until `until` (ms). Over the bound, the ban that ends soonest is dropped from the index. */
  ban(publicKey: PublicKey, until: number): void {
    const key = toHex(publicKey);
    if (!this.#byKey.has(key) && this.#byKey.size >= this.max) this.#evictSoonest();
    const noiseKey = this.#byKey.get(key)?.noiseKey ?? toHex(x25519PublicOf(publicKey));
    this.#byKey.set(key, { until, noiseKey });
    this.#byNoiseKey.set(noiseKey, key);
  }

  /** Forgets a ban (lifted or expired). */
  unban(publicKey: PublicKey): void {
    this.#forget(toHex(publicKey));
  }

  /** True while `publicKey` is banned at `now` (ms). */
  isBanned(publicKey: PublicKey, now: number): boolean {
    return this.#inForce(toHex(publicKey), now);
  }

  /** True while the peer whose Noise static key (X25519) is `noiseKey` is banned at `now` (ms). */
  isBannedNoiseKey(noiseKey: Uint8Array, now: number): boolean {
    if (this.#byKey.size === 0) return false;
    const key = this.#byNoiseKey.get(toHex(noiseKey));
    return key !== undefined && this.#inForce(key, now);
  }

  #inForce(key: string, now: number): boolean {
    const until = this.#byKey.get(key)?.until;
    if (until === undefined) return false;
    if (until > now) return true;
    this.#forget(key);
    return false;
  }

  #forget(key: string): void {
    const entry = this.#byKey.get(key);
    if (!entry) return;
    this.#byKey.delete(key);
    this.#byNoiseKey.delete(entry.noiseKey);
  }

  #evictSoonest(): void {
    let soonest: string | undefined;
    let at = Infinity;
    for (const [key, { until }] of this.#byKey) {
      if (until < at) {
        at = until;
        soonest = key;
      }
    }
    if (soonest !== undefined) this.#forget(soonest);
  }
}
