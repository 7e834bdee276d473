/**
 * SAFECOOKIE authentication (control-spec section 3.24): the controller proves it can read the
 * cookie file, and checks that the server can too, without sending the cookie itself.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const SERVER_KEY = 'Tor safe cookie authentication server-to-controller hash';
const CLIENT_KEY = 'Tor safe cookie authentication controller-to-server hash';

/** The length of a Tor control auth cookie. */
export const COOKIE_LENGTH = 32;
/** Client and server nonces are 32 bytes. */
export const NONCE_LENGTH = 32;

function hmac(key: string, cookie: Uint8Array, clientNonce: Uint8Array, serverNonce: Uint8Array): Buffer {
  return createHmac('sha256', key).update(cookie).update(clientNonce).update(serverNonce).digest();
}

/** The hash a genuine server sends in its AUTHCHALLENGE reply. */
export function safeCookieServerHash(cookie: Uint8Array, clientNonce: Uint8Array, serverNonce: Uint8Array): Buffer {
  return hmac(SERVER_KEY, cookie, clientNonce, serverNonce);
}

/** The hash the controller sends in AUTHENTICATE. */
export function safeCookieClientHash(cookie: Uint8Array, clientNonce: Uint8Array, serverNonce: Uint8Array): Buffer {
  return hmac(CLIENT_KEY, cookie, clientNonce, serverNonce);
}

/** Constant-time check of the server's hash. */
export function serverHashMatches(expected: Uint8Array, received: Uint8Array): boolean {
  return expected.length === received.length && timingSafeEqual(expected, received);
}
