/** Address checks shared by the transports: an address a transport cannot use fails at once. */
import type { Multiaddr } from '@multiformats/multiaddr';
import { InvalidAddress, parseAddress, type AddressKind, type AddressPurpose, type PeerAddress } from '../core/address.js';
import { UnsupportedAddress } from './errors.js';

/** Parses `address` for `purpose` and requires one of `kinds`, else throws `UnsupportedAddress`. */
export function supportedAddress<K extends AddressKind>(
  transport: string,
  address: Multiaddr,
  purpose: AddressPurpose,
  kinds: readonly K[],
): Extract<PeerAddress, { kind: K }> {
  let parsed: PeerAddress;
  try {
    parsed = parseAddress(address, { purpose, allowMemory: (kinds as readonly string[]).includes('memory') });
  } catch (err) {
    if (err instanceof InvalidAddress) throw new UnsupportedAddress(String(address), transport, err.reason);
    throw err;
  }
  if (!(kinds as readonly string[]).includes(parsed.kind)) {
    throw new UnsupportedAddress(String(address), transport, `/${parsed.kind} is not handled by this transport`);
  }
  return parsed as Extract<PeerAddress, { kind: K }>;
}

/** Whether `supportedAddress` would accept the address. */
export function isSupported(address: Multiaddr, purpose: AddressPurpose, kinds: readonly AddressKind[]): boolean {
  try {
    supportedAddress('', address, purpose, kinds);
    return true;
  } catch {
    return false;
  }
}
