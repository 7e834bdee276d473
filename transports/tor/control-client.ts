/**
 * A client of Tor's control port (control-spec): PROTOCOLINFO, AUTHENTICATE (none, cookie,
 * SAFECOOKIE, hashed password), GETINFO, GETCONF, SETEVENTS, ADD_ONION, DEL_ONION, asynchronous
 * events, and reconnection. Commands are pipelined and answered in order; each has a timeout,
 * and a timed-out command closes the connection (a late reply would otherwise answer the next
 * command). Onion services and event subscriptions made through the client are restored after
 * a reconnection, because Tor removes a controller's non-detached services when it disconnects.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { TcommsError, TimeoutError } from '../../core/errors.js';
import {
  addOnionCommand,
  COOKIE_LENGTH,
  commandLine,
  ControlReplyParser,
  keyword,
  parseArguments,
  quoted,
  safeCookieClientHash,
  safeCookieServerHash,
  serverHashMatches,
  splitKeyValue,
  TorAuthenticationFailed,
  TorCommandFailed,
  TorControlProtocolError,
  type AddOnionCommand,
  type ControlReply,
} from '../../protocols/tor-control/index.js';
import { connectTcp, DialDeadline } from '../deadline.js';

/** How to authenticate; `auto` (the default) picks from what PROTOCOLINFO offers. */
export type TorAuth =
  | { method: 'auto'; password?: string; cookieFile?: string }
  | { method: 'none' }
  | { method: 'cookie'; cookieFile?: string }
  | { method: 'safecookie'; cookieFile?: string }
  | { method: 'password'; password: string };

/** Construction options of the Tor control client. */
export interface TorControlInit {
  host: string;
  port: number;
  auth?: TorAuth;
  /** Connect and authenticate within this many ms (default 10 000). */
  connectTimeoutMs?: number;
  /** Each command's reply within this many ms (default 10 000). */
  commandTimeoutMs?: number;
  /** Commands waiting for a reply at most (default 64); more are refused at once. */
  maxPending?: number;
  /** Reconnect after an unexpected disconnection (default: off). */
  reconnect?: { attempts: number; initialDelayMs?: number; maxDelayMs?: number };
}

/** What PROTOCOLINFO says. */
export interface ProtocolInfo {
  methods: string[];
  cookieFile: string | undefined;
  torVersion: string | undefined;
}

/** An asynchronous event (status 650). */
export interface TorEvent {
  /** The event name (`HS_DESC`, `STATUS_CLIENT`, ...). */
  name: string;
  /** The first line's text after the name. */
  text: string;
  reply: ControlReply;
}

/** The result of ADD_ONION. */
export interface OnionService {
  serviceId: string;
  /** `ED25519-V3:<base64>` when Tor made the key and `DiscardPK` was not given. */
  privateKey: string | undefined;
}

/** The control connection is closed (or reconnecting); the command was not sent. */
export class TorControlClosed extends TcommsError {
  readonly kind = 'transport' as const;
}

/** Too many commands are waiting for replies. */
export class TorControlBusy extends TcommsError {
  readonly kind = 'transport' as const;
}

/** A command got no reply in time; the connection was closed. */
export class TorCommandTimeout extends TimeoutError {}

/** The command word of a command line (for errors and timeouts). */
function commandName(line: string): string {
  return line.split(' ', 1)[0]!.trim();
}

interface Pending {
  name: string;
  resolve(reply: ControlReply): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** Events of the Tor control client. */
export interface TorControlEvents {
  event: [TorEvent];
  disconnected: [Error | undefined];
  reconnected: [];
  /** Reconnection gave up; the client is closed. */
  closed: [Error | undefined];
}

/** Tor control-port client: authentication, pipelined commands with timeouts, events, reconnection. */
export class TorControlClient extends EventEmitter<TorControlEvents> {
  readonly #init: Required<Pick<TorControlInit, 'connectTimeoutMs' | 'commandTimeoutMs' | 'maxPending'>> & TorControlInit;
  #socket: Socket | undefined;
  #parser = new ControlReplyParser();
  readonly #pending: Pending[] = [];
  #closed = false;
  #events: string[] = [];
  /** Services this client added, with what it takes to add them again. */
  readonly #onions = new Map<string, AddOnionCommand>();
  #protocolInfo: ProtocolInfo | undefined;
  /** The current connection is authenticated: losing it is a disconnection, not a failed connect. */
  #established = false;

  private constructor(init: TorControlInit) {
    super();
    this.#init = { connectTimeoutMs: 10_000, commandTimeoutMs: 10_000, maxPending: 64, ...init };
  }

  /** Connects and authenticates. */
  static async connect(init: TorControlInit): Promise<TorControlClient> {
    const client = new TorControlClient(init);
    await client.#open();
    return client;
  }

  /** What PROTOCOLINFO said at the last (re)connection. */
  get protocolInfo(): ProtocolInfo | undefined {
    return this.#protocolInfo;
  }

  get connected(): boolean {
    return this.#socket !== undefined && !this.#socket.destroyed;
  }

  async #open(): Promise<void> {
    const address = `${this.#init.host}:${this.#init.port}`;
    const deadline = new DialDeadline(`tor control ${address}`, {}, this.#init.connectTimeoutMs);
    try {
      const socket = await connectTcp({ host: this.#init.host, port: this.#init.port }, deadline);
      this.#attach(socket);
      const onDeadline = () => socket.destroy(deadline.reason);
      deadline.signal.addEventListener('abort', onDeadline, { once: true });
      try {
        this.#protocolInfo = await this.#readProtocolInfo();
        await this.#authenticate(this.#init.auth ?? { method: 'auto' }, this.#protocolInfo);
        this.#established = true;
      } catch (err) {
        this.#detach(err as Error, false);
        throw deadline.reason ?? err;
      } finally {
        deadline.signal.removeEventListener('abort', onDeadline);
      }
    } finally {
      deadline.done();
    }
  }

  #attach(socket: Socket): void {
    this.#socket = socket;
    this.#parser = new ControlReplyParser();
    socket.on('data', (data: Buffer) => {
      let replies: ControlReply[];
      try {
        replies = this.#parser.push(data);
      } catch (err) {
        this.#detach(err as Error, true);
        return;
      }
      for (const reply of replies) this.#dispatch(reply);
    });
    socket.on('error', () => {});
    // Dialed sockets are half-open capable: Tor's FIN ends the session as much as a close does.
    const lost = () => this.#detach(new TorControlClosed('the Tor control connection closed'), true);
    socket.on('end', lost);
    socket.on('close', lost);
  }

  #dispatch(reply: ControlReply): void {
    if (reply.status === 650) {
      const text = reply.lines[0]!.text;
      const space = text.indexOf(' ');
      this.emit('event', { name: space < 0 ? text : text.slice(0, space), text: space < 0 ? '' : text.slice(space + 1), reply });
      return;
    }
    const pending = this.#pending.shift();
    if (!pending) {
      this.#detach(new TorControlProtocolError(`a ${reply.status} reply to no command`), true);
      return;
    }
    clearTimeout(pending.timer);
    pending.resolve(reply);
  }

  /** Drops the connection, fails every waiting command, and reconnects if configured. */
  #detach(reason: Error, unexpected: boolean): void {
    const socket = this.#socket;
    if (!socket) return;
    this.#socket = undefined;
    const wasEstablished = this.#established;
    this.#established = false;
    socket.removeAllListeners('data');
    socket.removeAllListeners('end');
    socket.removeAllListeners('close');
    socket.destroy();
    for (const p of this.#pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(reason);
    }
    if (!unexpected || this.#closed || !wasEstablished) return;
    this.emit('disconnected', reason);
    void this.#reconnect(reason);
  }

  async #reconnect(reason: Error): Promise<void> {
    const plan = this.#init.reconnect;
    if (!plan || plan.attempts <= 0) {
      this.#closed = true;
      this.emit('closed', reason);
      return;
    }
    let delay = plan.initialDelayMs ?? 500;
    let last: Error = reason;
    for (let attempt = 0; attempt < plan.attempts && !this.#closed; attempt++) {
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, plan.maxDelayMs ?? 10_000);
      if (this.#closed) return;
      try {
        await this.#open();
        if (this.#events.length) await this.setEvents(this.#events);
        for (const [serviceId, cmd] of [...this.#onions]) {
          const again = await this.#addOnion(cmd);
          if (again.serviceId !== serviceId) throw new TorControlProtocolError(`onion ${serviceId} came back as ${again.serviceId}`);
        }
        this.emit('reconnected');
        return;
      } catch (err) {
        last = err as Error;
        if (this.#socket) this.#detach(last, false);
      }
    }
    this.#closed = true;
    this.emit('closed', last);
  }

  /** Sends one command line and resolves with its reply (any status). */
  command(line: string, name = commandName(line)): Promise<ControlReply> {
    const socket = this.#socket;
    if (this.#closed || !socket || socket.destroyed) return Promise.reject(new TorControlClosed(`cannot send ${name}: the Tor control connection is closed`));
    if (this.#pending.length >= this.#init.maxPending) return Promise.reject(new TorControlBusy(`${this.#pending.length} Tor control commands are waiting`));
    return new Promise<ControlReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#detach(new TorCommandTimeout(`${name}: no reply from Tor within ${this.#init.commandTimeoutMs} ms`), true);
      }, this.#init.commandTimeoutMs);
      this.#pending.push({ name, resolve, reject, timer });
      socket.write(line.endsWith('\r\n') ? line : commandLine(line));
    });
  }

  /** Sends a command and requires a 250 reply. */
  async #ok(line: string, name?: string): Promise<ControlReply> {
    const reply = await this.command(line, name);
    if (reply.status !== 250) {
      throw new TorCommandFailed(name ?? commandName(line), reply.status, reply.lines.map((l) => l.text).join(' / '));
    }
    return reply;
  }

  async #readProtocolInfo(): Promise<ProtocolInfo> {
    const reply = await this.#ok(commandLine('PROTOCOLINFO', '1'));
    let methods: string[] | undefined;
    let cookieFile: string | undefined;
    let torVersion: string | undefined;
    for (const line of reply.lines) {
      const args = parseArguments(line.text);
      if (args.positional[0] === 'AUTH') {
        methods = (args.keywords.get('METHODS') ?? '').split(',').filter(Boolean);
        cookieFile = args.keywords.get('COOKIEFILE');
      } else if (args.positional[0] === 'VERSION') torVersion = args.keywords.get('Tor');
    }
    if (!methods) throw new TorControlProtocolError('PROTOCOLINFO has no AUTH line');
    return { methods, cookieFile, torVersion };
  }

  async #readCookie(path: string | undefined): Promise<Buffer> {
    if (!path) throw new TorAuthenticationFailed('Tor named no cookie file and none was configured');
    let cookie: Buffer;
    try {
      cookie = await readFile(path);
    } catch (cause) {
      throw new TorAuthenticationFailed(`cannot read the Tor cookie file ${path}`, { cause });
    }
    if (cookie.length !== COOKIE_LENGTH) throw new TorAuthenticationFailed(`the Tor cookie file ${path} is ${cookie.length} bytes, not ${COOKIE_LENGTH}`);
    return cookie;
  }

  async #authenticate(auth: TorAuth, info: ProtocolInfo): Promise<void> {
    let chosen = auth;
    if (auth.method === 'auto') {
      const offers = new Set(info.methods);
      if (offers.has('NULL')) chosen = { method: 'none' };
      else if (offers.has('SAFECOOKIE')) chosen = { method: 'safecookie', ...(auth.cookieFile ? { cookieFile: auth.cookieFile } : {}) };
      else if (offers.has('COOKIE')) chosen = { method: 'cookie', ...(auth.cookieFile ? { cookieFile: auth.cookieFile } : {}) };
      else if (offers.has('HASHEDPASSWORD') && auth.password !== undefined) chosen = { method: 'password', password: auth.password };
      else throw new TorAuthenticationFailed(`no usable authentication method among ${info.methods.join(',') || 'none'}`);
    }
    let line = '';
    switch (chosen.method) {
      case 'none':
        line = commandLine('AUTHENTICATE');
        break;
      case 'password':
        line = commandLine('AUTHENTICATE', quoted(chosen.password));
        break;
      case 'cookie': {
        const cookie = await this.#readCookie(chosen.cookieFile ?? info.cookieFile);
        line = commandLine('AUTHENTICATE', cookie.toString('hex'));
        break;
      }
      case 'safecookie': {
        const cookie = await this.#readCookie(chosen.cookieFile ?? info.cookieFile);
        const clientNonce = randomBytes(32);
        const challenge = await this.#ok(commandLine('AUTHCHALLENGE', 'SAFECOOKIE', clientNonce.toString('hex')));
        const args = parseArguments(challenge.lines[0]!.text);
        const serverHash = Buffer.from(args.keywords.get('SERVERHASH') ?? '', 'hex');
        const serverNonce = Buffer.from(args.keywords.get('SERVERNONCE') ?? '', 'hex');
        if (args.positional[0] !== 'AUTHCHALLENGE' || serverHash.length !== 32 || serverNonce.length !== 32) {
          throw new TorControlProtocolError('malformed AUTHCHALLENGE reply');
        }
        if (!serverHashMatches(safeCookieServerHash(cookie, clientNonce, serverNonce), serverHash)) {
          throw new TorAuthenticationFailed('the control port does not know the cookie (SAFECOOKIE server hash mismatch)');
        }
        line = commandLine('AUTHENTICATE', safeCookieClientHash(cookie, clientNonce, serverNonce).toString('hex'));
        break;
      }
    }
    const reply = await this.command(line, 'AUTHENTICATE');
    if (reply.status !== 250) throw new TorAuthenticationFailed(`Tor refused ${chosen.method} authentication: ${reply.status} ${reply.lines[0]?.text ?? ''}`);
  }

  /** GETINFO: one value per key (data blocks included). */
  async getInfo(...keys: string[]): Promise<Map<string, string>> {
    const reply = await this.#ok(commandLine('GETINFO', ...keys.map((k) => keyword(k, 'GETINFO key'))));
    const out = new Map<string, string>();
    for (const line of reply.lines) {
      if (line.separator === ' ' && line.text === 'OK') continue;
      const [key, value] = line.separator === '+' ? [line.text.replace(/=$/, ''), line.data ?? ''] : splitKeyValue(line.text);
      out.set(key, value ?? '');
    }
    return out;
  }

  /** GETCONF: the value of each key, `undefined` for a default; a key set several times keeps its last value. */
  async getConf(...keys: string[]): Promise<Map<string, string | undefined>> {
    const reply = await this.#ok(commandLine('GETCONF', ...keys.map((k) => keyword(k, 'GETCONF key'))));
    const out = new Map<string, string | undefined>();
    for (const line of reply.lines) {
      const [key, value] = splitKeyValue(line.text);
      out.set(key, value);
    }
    return out;
  }

  /** SETEVENTS: subscribes to exactly these events (remembered across reconnections). */
  async setEvents(events: string[]): Promise<void> {
    await this.#ok(commandLine('SETEVENTS', ...events.map((e) => keyword(e, 'event'))));
    this.#events = [...events];
  }

  async #addOnion(cmd: AddOnionCommand): Promise<OnionService> {
    const reply = await this.#ok(addOnionCommand(cmd), 'ADD_ONION');
    let serviceId: string | undefined;
    let privateKey: string | undefined;
    for (const line of reply.lines) {
      const [key, value] = splitKeyValue(line.text);
      if (key === 'ServiceID') serviceId = value;
      else if (key === 'PrivateKey') privateKey = value;
    }
    if (!serviceId || !/^[a-z2-7]{56}$/.test(serviceId)) throw new TorControlProtocolError('ADD_ONION reply has no valid ServiceID');
    return { serviceId, privateKey };
  }

  /** Adds events to the subscription (SETEVENTS with the union of old and new). */
  async subscribe(events: string[]): Promise<void> {
    const all = [...new Set([...this.#events, ...events])];
    if (all.length !== this.#events.length) await this.setEvents(all);
  }

  /**
   * ADD_ONION. Unless `Detach` is given the service lives as long as this client's control
   * connection, and is added again (same key) after a reconnection.
   */
  async addOnion(cmd: AddOnionCommand): Promise<OnionService> {
    const service = await this.#addOnion(cmd);
    const detached = cmd.flags?.includes('Detach') ?? false;
    const key = cmd.key.kind === 'saved' ? cmd.key.key : service.privateKey;
    if (!detached && key !== undefined) {
      this.#onions.set(service.serviceId, { ...cmd, key: { kind: 'saved', key }, flags: (cmd.flags ?? []).filter((f) => f !== 'DiscardPK') });
    }
    return service;
  }

  /** DEL_ONION. */
  async delOnion(serviceId: string): Promise<void> {
    this.#onions.delete(serviceId);
    await this.#ok(commandLine('DEL_ONION', keyword(serviceId, 'service id')));
  }

  /** Closes the connection (QUIT is not needed: Tor cleans up on close). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#detach(new TorControlClosed('the Tor control client was closed'), false);
  }
}
