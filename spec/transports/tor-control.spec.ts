import { expect } from 'chai';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { onion3Problem } from '../../core/address.js';
import { TcommsError } from '../../core/errors.js';
import { TorAuthenticationFailed, TorCommandFailed, TorCommandInvalid, TorControlProtocolError } from '../../protocols/tor-control/index.js';
import { TorCommandTimeout, TorControlClient, TorControlClosed, type TorEvent } from '../../transports/tor/control-client.js';
import { requireProgram } from '../support/processes.js';
import { startTor, type TorDaemon } from '../support/tor.js';

const PASSWORD = 'correct horse "battery"';

function requireTor(this: Mocha.Context): void {
  requireProgram(this, 'tor');
}

/** A TCP relay in front of a port whose connections the test can cut. */
async function relay(port: number): Promise<{ port: number; server: Server; cut(): void }> {
  const live = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = connect({ host: '127.0.0.1', port });
    for (const s of [inbound, outbound]) {
      live.add(s);
      s.on('error', () => {});
      s.on('close', () => live.delete(s));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, server, cut: () => live.forEach((s) => s.destroy()) };
}

describe('Tor control client against a real tor (DisableNetwork 1)', function () {
  this.timeout(30_000);
  let tor: TorDaemon;
  let open: TorDaemon;
  before(async function () {
    requireTor.call(this);
    [tor, open] = await Promise.all([startTor({ password: PASSWORD }), startTor({ open: true })]);
  });
  after(async () => {
    await Promise.all([tor?.stop(), open?.stop()]);
  });

  const base = () => ({ host: tor.host, port: tor.controlPort });

  it('reads PROTOCOLINFO', async () => {
    const c = await TorControlClient.connect({ ...base(), auth: { method: 'safecookie' } });
    expect(c.protocolInfo!.methods).to.have.members(['COOKIE', 'SAFECOOKIE', 'HASHEDPASSWORD']);
    expect(c.protocolInfo!.cookieFile).to.equal(tor.cookieFile);
    expect(c.protocolInfo!.torVersion).to.match(/^\d+\.\d+\.\d+/);
    await c.close();
  });

  it('authenticates every way: none, cookie, SAFECOOKIE, hashed password, auto', async () => {
    const ways = [
      TorControlClient.connect({ host: open.host, port: open.controlPort, auth: { method: 'none' } }),
      TorControlClient.connect({ host: open.host, port: open.controlPort }),
      TorControlClient.connect({ ...base(), auth: { method: 'cookie' } }),
      TorControlClient.connect({ ...base(), auth: { method: 'safecookie' } }),
      TorControlClient.connect({ ...base(), auth: { method: 'password', password: PASSWORD } }),
      TorControlClient.connect({ ...base() }),
    ];
    for (const c of await Promise.all(ways)) {
      // Authenticated: GETINFO answers (before AUTHENTICATE it would close the connection).
      expect((await c.getInfo('version')).get('version')).to.match(/^\d+\.\d+/);
      await c.close();
    }
  });

  it('fails authentication with a typed error: wrong password, wrong cookie, no method', async () => {
    const wrongPassword = await TorControlClient.connect({ ...base(), auth: { method: 'password', password: 'nope' } }).catch((e: unknown) => e);
    expect(wrongPassword).to.be.instanceOf(TorAuthenticationFailed);
    const fake = join(tor.dir, 'fake_cookie');
    writeFileSync(fake, randomBytes(32));
    const wrongCookie = await TorControlClient.connect({ ...base(), auth: { method: 'cookie', cookieFile: fake } }).catch((e: unknown) => e);
    expect(wrongCookie).to.be.instanceOf(TorAuthenticationFailed);
    // SAFECOOKIE notices before sending anything that the server does not hold this cookie.
    const wrongSafe = await TorControlClient.connect({ ...base(), auth: { method: 'safecookie', cookieFile: fake } }).catch((e: unknown) => e);
    expect(wrongSafe).to.be.instanceOf(TorAuthenticationFailed);
    expect((wrongSafe as Error).message).to.match(/server hash mismatch/);
    writeFileSync(fake, randomBytes(5));
    const shortCookie = await TorControlClient.connect({ ...base(), auth: { method: 'cookie', cookieFile: fake } }).catch((e: unknown) => e);
    expect(shortCookie).to.be.instanceOf(TorAuthenticationFailed);
    expect((shortCookie as TorAuthenticationFailed).kind).to.equal('config');
  });

  it('GETINFO (values and data blocks) and GETCONF', async () => {
    const c = await TorControlClient.connect(base());
    const info = await c.getInfo('version', 'config-text', 'net/listeners/control');
    expect(info.get('version')).to.match(/^\d/);
    expect(info.get('config-text')).to.include('DisableNetwork 1');
    expect(info.get('net/listeners/control')).to.include(String(tor.controlPort));
    const conf = await c.getConf('DisableNetwork', 'SocksPort', 'CookieAuthentication');
    expect(conf.get('DisableNetwork')).to.equal('1');
    expect(conf.get('CookieAuthentication')).to.equal('1');
    expect(await c.getInfo('no-such-key').catch((e: unknown) => e)).to.be.instanceOf(TorCommandFailed);
    expect(await c.getInfo('version\r\nSIGNAL HALT').catch((e: unknown) => e)).to.be.instanceOf(TorCommandInvalid);
    await c.close();
  });

  it('creates and deletes onion services, new and from a saved key', async () => {
    const c = await TorControlClient.connect(base());
    const made = await c.addOnion({ key: { kind: 'new' }, ports: [{ virtualPort: 18141, target: '127.0.0.1:18141' }] });
    expect(onion3Problem(made.serviceId)).to.equal(undefined);
    expect(made.privateKey).to.match(/^ED25519-V3:[A-Za-z0-9+/]{86}==$/);
    expect((await c.getInfo('onions/current')).get('onions/current')).to.include(made.serviceId);
    await c.delOnion(made.serviceId);
    expect((await c.getInfo('onions/current')).get('onions/current') ?? '').to.not.include(made.serviceId);
    // The saved key gives the same service id.
    const again = await c.addOnion({ key: { kind: 'saved', key: made.privateKey! }, ports: [{ virtualPort: 80, target: '18141' }] });
    expect(again.serviceId).to.equal(made.serviceId);
    expect(again.privateKey).to.equal(undefined);
    const discarded = await c.addOnion({ key: { kind: 'new' }, flags: ['DiscardPK'], ports: [{ virtualPort: 80, target: '1' }] });
    expect(discarded.privateKey).to.equal(undefined);
    expect(await c.delOnion('a'.repeat(56)).catch((e: unknown) => e)).to.be.instanceOf(TorCommandFailed);
    await c.close();
  });

  it('delivers asynchronous events (multi-line CONF_CHANGED) between replies', async () => {
    const c = await TorControlClient.connect(base());
    await c.setEvents(['CONF_CHANGED']);
    const event = once(c, 'event') as Promise<[TorEvent]>;
    const reply = await c.command('SETCONF MaxClientCircuitsPending=40');
    expect(reply.status).to.equal(250);
    const [e] = await event;
    expect(e.name).to.equal('CONF_CHANGED');
    expect(e.reply.lines.map((l) => l.text)).to.include('MaxClientCircuitsPending=40');
    expect((await c.getConf('MaxClientCircuitsPending')).get('MaxClientCircuitsPending')).to.equal('40');
    await c.close();
  });

  it('reconnects after the connection drops: re-authenticates, restores events and onion services', async () => {
    const r = await relay(tor.controlPort);
    const c = await TorControlClient.connect({ host: '127.0.0.1', port: r.port, reconnect: { attempts: 5, initialDelayMs: 50 } });
    try {
      await c.setEvents(['CONF_CHANGED']);
      const service = await c.addOnion({ key: { kind: 'new' }, ports: [{ virtualPort: 1, target: '127.0.0.1:9' }] });
      const disconnected = once(c, 'disconnected');
      const reconnected = once(c, 'reconnected');
      r.cut();
      await disconnected;
      expect(await c.getInfo('version').catch((e: unknown) => e)).to.be.instanceOf(TorControlClosed);
      await reconnected;
      expect((await c.getInfo('onions/current')).get('onions/current')).to.include(service.serviceId);
      const event = once(c, 'event');
      await c.command('SETCONF MaxClientCircuitsPending=41');
      await event;
    } finally {
      await c.close();
      r.server.close();
    }
  });
});

/** A scripted control port: answers the handshake, then runs `after` on the socket. */
async function fakeControlPort(after: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    let stage = 0;
    socket.on('data', () => {
      if (stage === 0) socket.write('250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n');
      else if (stage === 1) {
        socket.write('250 OK\r\n');
        after(socket);
      }
      stage++;
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

describe('Tor control client against a hostile control port', function () {
  this.timeout(60_000);

  it('times out a command that gets no reply and closes the connection', async () => {
    const fake = await fakeControlPort(() => {});
    try {
      const c = await TorControlClient.connect({ host: '127.0.0.1', port: fake.port, commandTimeoutMs: 200 });
      expect(await c.getInfo('version').catch((e: unknown) => e)).to.be.instanceOf(TorCommandTimeout);
      expect(c.connected).to.equal(false);
      await c.close();
    } finally {
      fake.server.close();
    }
  });

  it('bounds the commands waiting for replies', async () => {
    const fake = await fakeControlPort(() => {});
    try {
      const c = await TorControlClient.connect({ host: '127.0.0.1', port: fake.port, commandTimeoutMs: 2000, maxPending: 4 });
      const waiting = Array.from({ length: 4 }, () => c.getInfo('version').catch((e: unknown) => e));
      expect(await c.getInfo('version').catch((e: unknown) => e)).to.have.property('name', 'TorControlBusy');
      await c.close();
      for (const w of await Promise.all(waiting)) expect(w).to.be.instanceOf(TorControlClosed);
    } finally {
      fake.server.close();
    }
  });

  it('random and malformed replies give typed errors, never a crash or a hang', async () => {
    let script: Uint8Array = new Uint8Array(0);
    const fake = await fakeControlPort((socket) => socket.once('data', () => socket.write(script)));
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ maxLength: 100 }),
            fc.array(fc.constantFrom('250 OK\r\n', '250-x=y\r\n', '250+d=\r\n', '.\r\n', '650 EV x\r\n', '515 no\r\n', '250 OK\n', '2\r\n', '\x00'), { maxLength: 6 }).map((p) => Buffer.from(p.join(''))),
          ),
          async (bytes) => {
            script = bytes;
            // Authentication (PROTOCOLINFO) already reads the script: a typed error from connect counts too.
            let c: TorControlClient | undefined;
            try {
              c = await TorControlClient.connect({ host: '127.0.0.1', port: fake.port, commandTimeoutMs: 50 });
              await c.getInfo('version');
            } catch (err) {
              if (!(err instanceof TcommsError)) throw err;
            } finally {
              await c?.close();
            }
          },
        ),
        { numRuns: 120 },
      );
    } finally {
      fake.server.close();
    }
  });

  it('a reply to no command is a protocol error that closes the connection', async () => {
    const fake = await fakeControlPort((socket) => socket.write('250 OK\r\n'));
    try {
      const c = await TorControlClient.connect({ host: '127.0.0.1', port: fake.port });
      const [reason] = (await once(c, 'closed')) as [Error];
      expect(reason).to.be.instanceOf(TorControlProtocolError);
    } finally {
      fake.server.close();
    }
  });
});
