/**
 * `protocols/rpc`: the frame decoder against a naive reference; the server and the client
 * session cores fed a peer's frames (the vectors' transcript and judgements, structured
 * requests and responses, their mutations, random bytes) with a shell that answers their
 * outputs as the real one does (admissions, handlers' results, timeouts, the peer's FIN).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { fromHex } from '../../core/bytes.js';
import { Prng } from '../../core/prng.js';
import { ConnectionInfoSchema, GetInfoResponseSchema, NodeInfo } from '../../proto/gen/tcomms/info/v1/info_pb.js';
import { RpcProtocolError, RpcFrameTooLarge } from '../../protocols/rpc/errors.js';
import { RpcFrameDecoder, encodeRpcFrame } from '../../protocols/rpc/frame.js';
import { KNOWN_RPC_FLAGS, MAX_RPC_FRAME_BYTES, RpcFlag } from '../../protocols/rpc/limits.js';
import { decodeRpcResponse, decodeRpcSessionReply, encodeRpcSession, encodeRpcSessionReply, rpcRequestFrame, rpcResponseFrame } from '../../protocols/rpc/messages.js';
import { RpcServerSession } from '../../protocols/rpc/server-session.js';
import { RpcClientSession } from '../../protocols/rpc/client-session.js';
import type { RpcClientOutput } from '../../protocols/rpc/client-io.js';
import type { RpcServerOutput } from '../../protocols/rpc/server-io.js';
import { defineRpcService } from '../../protocols/rpc/service.js';
import { RpcError, RpcStatus } from '../../protocols/rpc/status.js';
import { chunksOf, oracle, typed, type FuzzCase, type FuzzTarget } from '../harness.js';
import { caseFrom, cutsAt, unchangedSeed, type Seed } from '../mutate.js';
import { loadVectors } from '../vectors.js';
import { concatAll, offsets, sameBytes, u32Frame } from './util.js';

interface Step {
  from: 'client' | 'server';
  frame?: string;
}
const v = loadVectors<{
  transcript: { steps: Step[]; server_bytes: string };
  node_info: Array<{ message: string; protobuf: string }>;
  server_judgements: Array<{ frame: string; session_state: string; what: string }>;
  client_judgements: Array<{ frame: string; awaiting: string; request_id: number; what: string }>;
  handshake_judgements: Array<{ frame: string; what: string }>;
  responses: Array<{ frame: string; name: string }>;
}>('tcomms-rpc.json');

const service = defineRpcService(NodeInfo);
const INFO = fromBinary(GetInfoResponseSchema, fromHex(v.node_info.find((e) => e.message === 'GetInfoResponse')!.protobuf));
const CONNECTIONS = v.node_info.filter((e) => e.message === 'ConnectionInfo').map((e) => fromBinary(ConnectionInfoSchema, fromHex(e.protobuf)));
const SESSION_FRAME = encodeRpcFrame(encodeRpcSession([1]));
const ACCEPTED_FRAME = encodeRpcFrame(encodeRpcSessionReply({ accepted: 1 }));
const GETINFO_CALL = rpcRequestFrame({ requestId: 1, method: 1, deadlineMs: 120_000 });
const PING = rpcRequestFrame({ requestId: 0, flags: RpcFlag.ACK });
const frameBytes = (from: 'client' | 'server') => v.transcript.steps.filter((s) => s.from === from && s.frame !== undefined && s.frame !== '').map((s) => fromHex(s.frame!));

/** A seed made of whole frames; its frame starts are where the shell pauses to answer. */
interface FramesSeed extends Seed {
  starts: number[];
  /** Client seeds: the commands to give between frames. */
  script?: string;
}

function framesSeed(name: string, frames: Uint8Array[], script?: string): FramesSeed {
  const starts = offsets(frames);
  return { name, bytes: concatAll(frames), starts, lengthFields: starts.map((offset) => ({ offset, size: 4 as const })), ...(script === undefined ? {} : { script }) };
}

// ---- the frame decoder ------------------------------------------------------------------------

function referenceFrames(bytes: Uint8Array, max: number): { frames: Uint8Array[]; error: number | undefined; atBoundary: boolean } {
  const frames: Uint8Array[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (bytes.length - at >= 4) {
    const length = view.getUint32(at, false);
    if (length > max) return { frames, error: length, atBoundary: false };
    if (bytes.length - at - 4 < length) break;
    frames.push(bytes.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return { frames, error: undefined, atBoundary: at === bytes.length };
}

/** The RPC frame decoder target. */
export const rpcFramesTarget: FuzzTarget = {
  name: 'rpc-frames',
  covers: 'RpcFrameDecoder: frames, the 4 MiB bound, what a returned frame keeps alive',
  generate(rng) {
    const max = rng.pick([0, 10, 300, MAX_RPC_FRAME_BYTES]);
    const frames = Array.from({ length: rng.range(0, 6) }, () => u32Frame(rng.bytes(Math.min(max, rng.int(rng.pick([1, 20, 400]))))));
    return caseFrom(rng, [framesSeed('frames', frames), framesSeed('transcript', frameBytes('server'))], { max });
  },
  run(c: FuzzCase) {
    const max = c.params.max as number;
    const expected = referenceFrames(c.bytes, max);
    const decoder = new RpcFrameDecoder(max);
    const got: Uint8Array[] = [];
    let error: RpcFrameTooLarge | undefined;
    outer: for (const chunk of chunksOf(c.bytes, c.cuts)) {
      try {
        for (const frame of decoder.decode(chunk)) {
          // A view only when it is at least half its chunk; otherwise a copy of exactly its size.
          if (frame.buffer === chunk.buffer) oracle(2 * frame.length >= chunk.length, () => `a ${frame.length}-byte frame keeps a ${chunk.length}-byte chunk alive`);
          else oracle(frame.byteOffset === 0 && frame.buffer.byteLength === frame.length, 'a copied frame is not exactly its size');
          got.push(frame.slice());
        }
      } catch (err) {
        error = typed<RpcFrameTooLarge>(err, [RpcFrameTooLarge]);
        break outer;
      }
      oracle(decoder.buffered <= max + 3, () => `${decoder.buffered} bytes buffered`);
    }
    const same = (n: number) => got.length === n && got.every((f, i) => sameBytes(f, expected.frames[i]!));
    if (expected.error !== undefined) {
      oracle(error?.length === expected.error && error.report, () => `expected RpcFrameTooLarge(${expected.error}), got ${error?.message ?? 'none'}`);
      oracle(same(expected.frames.length), 'the frames before the error differ from the reference');
      return 'error:RpcFrameTooLarge';
    }
    oracle(error === undefined && same(expected.frames.length), 'the frames differ from the reference');
    oracle(decoder.atBoundary === expected.atBoundary, 'atBoundary differs from the reference');
    return expected.atBoundary ? 'frames' : 'partial';
  },
};

// ---- the server session ------------------------------------------------------------------------

const SERVER_SEEDS: FramesSeed[] = [
  framesSeed('transcript', frameBytes('client')),
  ...v.server_judgements.map((j) => framesSeed(j.what, [SESSION_FRAME, ...(j.session_state === 'in_call' ? [GETINFO_CALL] : []), fromHex(j.frame), PING])),
];

function structuredRequests(rng: Prng): FramesSeed {
  const frames = [SESSION_FRAME];
  for (let i = rng.range(1, 8); i > 0; i--) {
    frames.push(
      rpcRequestFrame({
        requestId: rng.pick([0, 1, 2, 3, rng.next()]),
        flags: rng.pick([0, 0, 0, RpcFlag.FIN, RpcFlag.ACK, 3, 4, rng.int(256)]),
        method: rng.pick([0, 1, 2, 2, 99]),
        deadlineMs: rng.pick([0, 999, 1000, 120_000, 2 ** 53, 2n ** 64n - 1n]),
        payload: rng.chance(0.5) ? new Uint8Array(0) : rng.pick([Uint8Array.of(8, 1), Uint8Array.of(0x0a), rng.bytes(rng.int(20))]),
      }),
    );
  }
  return framesSeed('structured requests', frames);
}

function serverOutputs(outputs: readonly RpcServerOutput[], state: { handshaken: boolean; active: { call: number; requestId: number } | undefined; over: boolean }): void {
  for (const o of outputs) {
    oracle(!state.over, () => `output ${o.kind} after the session ended`);
    if (o.kind === 'send') {
      for (const frame of new RpcFrameDecoder().decode(o.bytes)) {
        if (!state.handshaken) {
          decodeRpcSessionReply(frame);
          state.handshaken = true;
          continue;
        }
        const res = decodeRpcResponse(frame);
        oracle((res.flags & ~KNOWN_RPC_FLAGS) === 0 && res.flags !== (RpcFlag.FIN | RpcFlag.ACK), () => `the server wrote flags ${res.flags}`);
        if (state.active !== undefined && res.requestId === state.active.requestId && (res.flags & RpcFlag.FIN) !== 0) state.active = undefined;
      }
    } else if (o.kind === 'start-call') {
      oracle(state.active === undefined, 'a call started while another was in flight');
      oracle(o.requestId !== 0 && o.deadlineMs >= 1000, () => `a call with request_id ${o.requestId} and deadline ${o.deadlineMs}`);
      state.active = { call: o.call, requestId: o.requestId };
    } else if (o.kind === 'stop-call') {
      oracle(state.active?.call === o.call, 'a stop of a call that is not in flight');
      state.active = undefined;
    } else if (o.kind === 'reset') {
      typed(o.error, [RpcProtocolError, Error]);
      state.over = true;
    } else if (o.kind === 'report') {
      oracle(o.error instanceof RpcFrameTooLarge, 'a report of something else than a frame over 4 MiB');
    }
  }
}

function runServer(c: FuzzCase): string {
  const seed = unchangedSeed(c, SERVER_SEEDS);
  const rng = new Prng(c.params.driver as number);
  const session = new RpcServerSession({ methods: service.methods, nowMs: 0 });
  const state = { handshaken: false, active: undefined as { call: number; requestId: number } | undefined, over: false };
  let now = 0;
  const handle = (input: Parameters<RpcServerSession['handle']>[0]) => {
    const out = session.handle(input, now);
    serverOutputs(out, state);
    for (const o of out) {
      if (o.kind === 'admission') handle({ kind: 'admit', decision: c.params.admit === true ? 'accept' : rng.pick(['accept', 'accept', 'no-sessions', 'no-service'] as const) });
      if (o.kind !== 'start-call' || rng.chance(c.params.answer === true ? 0 : 0.2)) continue;
      const call = o.call;
      if (!c.params.answer && rng.chance(0.15)) handle({ kind: 'fail', call, error: rng.chance(0.5) ? new RpcError(RpcStatus.NotFound, 'no such thing') : new Error('boom') });
      else if (o.method.kind === 'unary') handle({ kind: 'result', call, value: c.params.answer !== true && rng.chance(0.05) ? { publicKey: 'not bytes' } : INFO });
      else {
        const limit = (o.request as { limit: number }).limit;
        for (const info of CONNECTIONS.slice(0, limit === 0 ? undefined : limit)) handle({ kind: 'item', call, value: info });
        handle({ kind: 'end', call });
      }
    }
  };
  for (const unit of chunksOf(c.bytes, c.cuts)) {
    handle({ kind: 'bytes', data: unit });
    oracle(session.buffered <= MAX_RPC_FRAME_BYTES + 3, () => `${session.buffered} bytes buffered`);
    if (c.params.timeouts === true && rng.chance(0.1)) {
      now = Math.max(now, session.nextTimeout() ?? now);
      handle({ kind: 'timeout' });
    }
    if (session.state === 'closed') break;
  }
  const end = c.params.end as string;
  handle({ kind: end === 'fin' ? 'remote-fin' : end === 'reset' ? 'remote-reset' : 'close' });
  const aligned = seed !== undefined && seed.starts.every((s) => s === 0 || c.cuts.includes(s));
  if (aligned && seed.name === 'transcript' && c.params.admit === true && c.params.answer === true && c.params.timeouts !== true) {
    oracle(!state.over, 'the valid transcript was reset');
  }
  // A session that ended holds no call: the handler was told to stop, or the call was answered.
  if (session.state === 'closed') oracle(session.activeCall === undefined, 'a closed session still has a call');
  return `${session.state}${state.over ? ':reset' : ''}`;
}

/** The RPC server session target. */
export const rpcServerTarget: FuzzTarget = {
  name: 'rpc-server',
  covers: 'RpcServerSession: handshake, admission, calls, cancels, pings, timeouts, the peer FIN',
  generate(rng) {
    const seeds = [...SERVER_SEEDS, structuredRequests(rng)];
    return caseFrom(
      rng,
      seeds,
      { driver: rng.next(), admit: rng.chance(0.8), answer: rng.chance(0.5), timeouts: rng.chance(0.3), end: rng.pick(['fin', 'fin', 'reset', 'close']) },
      { cuts: (bytes, seed) => cutsAt(rng, (seed as FramesSeed | undefined)?.starts ?? [], bytes.length, 0.9) },
    );
  },
  run: runServer,
};

// ---- the client session ------------------------------------------------------------------------

const TRANSCRIPT_SCRIPT = 'ping unary:1:120000 stream:2:120000: ping unary:1:999 unary:99:120000 unary:1:120000:0a stream:2:120000:0801';

const CLIENT_SEEDS: FramesSeed[] = [
  framesSeed('transcript', frameBytes('server'), TRANSCRIPT_SCRIPT),
  ...v.client_judgements.map((j) => framesSeed(j.what, [ACCEPTED_FRAME, fromHex(j.frame)], j.awaiting === 'ping' ? 'ping' : j.awaiting === 'unary' ? 'unary:1:120000' : 'stream:2:120000')),
  ...v.handshake_judgements.map((j) => framesSeed(j.what, [fromHex(j.frame), rpcResponseFrame({ requestId: 0, flags: RpcFlag.ACK })], 'ping')),
];

function structuredResponses(rng: Prng): FramesSeed {
  const frames = [ACCEPTED_FRAME];
  for (let i = rng.range(1, 8); i > 0; i--) {
    frames.push(
      rpcResponseFrame({
        requestId: rng.pick([0, 1, 1, 2, rng.next()]),
        status: rng.pick([0, 0, 1, 5, 42]),
        flags: rng.pick([0, RpcFlag.FIN, RpcFlag.FIN, RpcFlag.ACK, 3, 4]),
        payload: rng.chance(0.5) ? new Uint8Array(0) : rng.bytes(rng.int(30)),
      }),
    );
  }
  return framesSeed('structured responses', frames, 'unary:1:120000 stream:2:120000 ping unary:1:5000');
}

function runClient(c: FuzzCase): string {
  const seed = unchangedSeed(c, CLIENT_SEEDS);
  const rng = new Prng(c.params.driver as number);
  const script = String(c.params.script).split(' ').filter((s) => s !== '');
  const session = new RpcClientSession();
  let now = 0;
  let pending: number | undefined;
  let accepted = 0;
  let over = false;
  const log: string[] = [];
  const handle = (input: Parameters<RpcClientSession['handle']>[0]) => {
    for (const o of session.handle(input, now) as RpcClientOutput[]) {
      oracle(!over, () => `output ${o.kind} after the session ended`);
      log.push(o.kind);
      switch (o.kind) {
        case 'accepted':
          oracle(++accepted === 1, 'accepted twice');
          break;
        case 'item':
          oracle(o.requestId === pending, 'an item of a call that is not in flight');
          break;
        case 'response':
        case 'end':
        case 'failed':
          oracle(o.requestId === pending, () => `${o.kind} of ${o.requestId} while ${pending} is in flight`);
          pending = undefined;
          break;
        case 'pong':
          oracle(pending === 0, 'a pong without a ping');
          pending = undefined;
          break;
        case 'reset':
          over = true;
          break;
      }
    }
  };
  const command = () => {
    const next = script.shift() ?? (c.params.extra === true ? rng.pick(['ping', 'unary:1:120000', 'stream:2:120000', 'close']) : 'close');
    if (next === 'ping') {
      handle({ kind: 'ping' });
      pending = 0;
    } else if (next === 'close') handle({ kind: 'close' });
    else {
      const [kind, method, deadline, payload] = next.split(':');
      const m = service.methods.get(Number(method));
      handle({ kind: 'call', method: Number(method), methodKind: kind === 'stream' ? 'server_streaming' : 'unary', deadlineMs: Number(deadline), payload: fromHex(payload ?? ''), ...(m ? { decodeResponse: m.decodeResponse } : {}) });
      pending = session.requestId;
    }
  };
  handle({ kind: 'start' });
  for (const unit of chunksOf(c.bytes, c.cuts)) {
    if (session.state === 'idle') command();
    else if (c.params.cancel === true && (session.state === 'inCall' || session.state === 'streaming') && rng.chance(0.2)) handle({ kind: 'cancel' });
    if (session.state === 'closed' || session.state === 'closing') break;
    handle({ kind: 'bytes', data: unit });
    oracle(session.buffered <= MAX_RPC_FRAME_BYTES + 3, () => `${session.buffered} bytes buffered`);
    if (c.params.timeouts === true && rng.chance(0.1)) {
      now = Math.max(now, session.nextTimeout() ?? now);
      handle({ kind: 'timeout' });
    }
  }
  if (session.state === 'idle') handle({ kind: 'close' });
  handle({ kind: c.params.end === 'reset' ? 'remote-reset' : 'remote-fin' });
  oracle(session.state === 'closed', () => `the session is ${session.state} after the peer's end`);
  oracle(pending === undefined, () => `call ${pending} was never answered nor failed`);
  const aligned = seed !== undefined && seed.starts.every((s) => s === 0 || c.cuts.includes(s));
  if (aligned && c.params.timeouts !== true && c.params.cancel !== true && seed.name === 'transcript') {
    oracle(!over && log.join(' ') === 'send accepted send pong send response send item item end send pong send failed send failed send failed send item end close', () => `the transcript gave ${log.join(' ')}`);
  }
  return `${over ? 'reset' : 'closed'}:${log.filter((k) => k !== 'send').slice(-2).join(',')}`;
}

/** The RPC client session target. */
export const rpcClientTarget: FuzzTarget = {
  name: 'rpc-client',
  covers: 'RpcClientSession: handshake reply, unary and stream answers, pings, cancels, timeouts',
  generate(rng) {
    const seeds = [...CLIENT_SEEDS, structuredResponses(rng)];
    const c = caseFrom(
      rng,
      seeds,
      { driver: rng.next(), cancel: rng.chance(0.2), timeouts: rng.chance(0.2), extra: rng.chance(0.3), end: rng.pick(['fin', 'reset']) },
      { cuts: (bytes, seed) => cutsAt(rng, (seed as FramesSeed | undefined)?.starts ?? [], bytes.length, 0.95) },
    );
    const index = c.params.seed as number;
    return { ...c, params: { ...c.params, script: seeds[index]?.script ?? 'unary:1:120000 stream:2:120000 ping' } };
  },
  run: runClient,
};
