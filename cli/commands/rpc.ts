/**
 * `tcomms rpc --to PUBKEYHEX@MULTIADDR --service PROTOCOL_ID --method NAME [--request JSON]`:
 * dials the peer, makes one call to a service the binary knows (`cli/rpc-services.ts`) and
 * prints the response, or each item of a stream, in protobuf's JSON mapping (with `--json`, one
 * object per line). Exit 0 when the call ended Ok; 1 with one line naming the status otherwise
 * (or the transport's error).
 */
import { fromJson, toJson, type JsonValue } from '@bufbuild/protobuf';
import { NodeIdentity } from '../../core/keys.js';
import { CommsBuilder } from '../../node/index.js';
import { rpcServiceDefinition } from '../../actors/rpc-server/services.js';
import { RpcError, type RpcMethodDefinition } from '../../protocols/rpc/index.js';
import { intOption, parseArgs, UsageError } from '../args.js';
import { NETWORK_OPTIONS, parsePeerArg, protocolOptions, transportsFrom } from '../options.js';
import { KNOWN_RPC_SERVICES, knownRpcService } from '../rpc-services.js';

const SPEC = { ...NETWORK_OPTIONS, to: 'string', service: 'string', method: 'string', request: 'string', deadline: 'string', json: 'flag' } as const;

/** Runs `tcomms rpc`. */
export async function rpcCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, SPEC);
  for (const required of ['to', 'service', 'method'] as const) if (!args.options[required]) throw new UsageError(`--${required} is required`);
  const to = parsePeerArg(args.options.to as string, 'to');
  const service = knownRpcService(args.options.service as string);
  const known = KNOWN_RPC_SERVICES.map((s) => rpcServiceDefinition(s).protocol).join(', ');
  if (!service) throw new UsageError(`--service: no known service at ${JSON.stringify(args.options.service)} (known: ${known})`);
  const definition = rpcServiceDefinition(service);
  const name = args.options.method as string;
  const method = [...definition.methods.values()].find((m) => m.name === name || m.localName === name);
  if (!method) throw new UsageError(`--method: ${definition.typeName} has no method ${JSON.stringify(name)} (methods: ${[...definition.methods.values()].map((m) => m.name).join(', ')})`);
  const request = parseRequest(method, (args.options.request as string | undefined) ?? '{}');
  const deadlineMs = intOption(args.options.deadline as string | undefined, 'deadline', 1, 2 ** 31 - 1, 120_000);
  const json = args.options.json === true;
  const { networkByte, pattern } = protocolOptions(args);
  const builder = new CommsBuilder()
    .withNodeIdentity(NodeIdentity.generate())
    .withNetworkByte(networkByte)
    .withNoisePattern(pattern)
    .withUserAgent('tcomms-cli/0.1.0')
    .withMessaging({ enabled: false })
    .withDialPolicy({ rounds: 1 })
    .withTimeouts({ dialAttemptMs: 20_000, closeGraceMs: 1_000 });
  for (const t of transportsFrom(args)) builder.withTransport(t);
  const node = builder.build();
  await node.start();
  const print = (message: unknown) => {
    const value = toJson(method.output, message as never);
    process.stdout.write(`${json ? JSON.stringify(value) : JSON.stringify(value, null, 2)}\n`);
  };
  try {
    await node.addPeer(to.publicKey, [to.address]);
    const client = (await node.rpc(to.publicKey, service, { deadlineMs })) as unknown as Record<string, (request: unknown) => unknown>;
    const call = client[method.localName]!;
    if (method.kind === 'unary') print(await call(request));
    else for await (const item of call(request) as AsyncIterable<unknown>) print(item);
    return 0;
  } catch (err) {
    if (!(err instanceof RpcError)) throw err;
    process.stderr.write(`tcomms rpc: status ${err.statusName} (${err.status})${err.message ? `: ${err.message}` : ''}\n`);
    return 1;
  } finally {
    await node.stop();
  }
}

/** The request from its JSON mapping (a `UsageError` with the reason otherwise). */
function parseRequest(method: RpcMethodDefinition, text: string): unknown {
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (err) {
    throw new UsageError(`--request is not JSON: ${(err as Error).message}`);
  }
  try {
    return fromJson(method.input, value);
  } catch (err) {
    throw new UsageError(`--request is not a ${method.input.typeName}: ${(err as Error).message}`);
  }
}
