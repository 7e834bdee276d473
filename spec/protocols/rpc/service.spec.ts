/** defineRpcService: the method table from a generated service, and the definitions section 8 refuses. */
import { create, createFileRegistry, setExtension } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, MethodOptionsSchema, ServiceOptionsSchema } from '@bufbuild/protobuf/wkt';
import { expect } from 'chai';
import { GetInfoResponseSchema, NodeInfo } from '../../../proto/gen/tcomms/info/v1/info_pb.js';
import { method as methodOption, protocol as protocolOption } from '../../../proto/gen/tcomms/rpc/options_pb.js';
import { RpcProtocolError, RpcServiceInvalid, defineRpcService, type AnyRpcService } from '../../../protocols/rpc/index.js';
import { hex, toHexString } from '../../support/vectors.js';
import { INFO } from './support.js';

interface TestMethod {
  name: string;
  number?: number;
  clientStreaming?: boolean;
  serverStreaming?: boolean;
}

/** A service built at run time, with the options set as a .proto file would set them. */
function testService(protocol: string | undefined, methods: TestMethod[]): AnyRpcService {
  const serviceOptions = create(ServiceOptionsSchema);
  if (protocol !== undefined) setExtension(serviceOptions, protocolOption, protocol);
  const file = create(FileDescriptorProtoSchema, {
    name: 'test/service.proto',
    package: 'test',
    syntax: 'proto3',
    messageType: [{ name: 'M' }],
    service: [
      {
        name: 'Svc',
        options: serviceOptions,
        method: methods.map((m) => {
          const options = create(MethodOptionsSchema);
          if (m.number !== undefined) setExtension(options, methodOption, m.number);
          return { name: m.name, inputType: '.test.M', outputType: '.test.M', clientStreaming: m.clientStreaming ?? false, serverStreaming: m.serverStreaming ?? false, options };
        }),
      },
    ],
  });
  return createFileRegistry(file, () => undefined).getService('test.Svc') as unknown as AnyRpcService;
}

describe('rpc: service definitions', () => {
  it('NodeInfo: protocol id, numbers, kinds, and strict codecs', () => {
    const def = defineRpcService(NodeInfo);
    expect(def.protocol).to.equal('/tcomms/info/1');
    expect(def.typeName).to.equal('tcomms.info.v1.NodeInfo');
    expect(def.methods.get(1)).to.equal(def.byName.getInfo);
    expect(def.methods.get(2)).to.equal(def.byName.listConnections);
    expect(def.byName.getInfo).to.deep.include({ number: 1, name: 'GetInfo', localName: 'getInfo', kind: 'unary', input: NodeInfo.method.getInfo.input, output: GetInfoResponseSchema });
    const bytes = def.byName.getInfo.encodeResponse({ ...INFO });
    expect(toHexString(def.byName.getInfo.encodeResponse(def.byName.getInfo.decodeResponse(bytes)))).to.equal(toHexString(bytes));
    expect(toHexString(def.byName.listConnections.encodeRequest({ limit: 5 }))).to.equal('0805');
    expect(def.byName.listConnections.decodeRequest(hex('0805')).limit).to.equal(5);
    expect(() => def.byName.listConnections.decodeRequest(hex('0a00'))).to.throw(RpcProtocolError, /wire type/);
    expect(() => def.byName.getInfo.decodeResponse(hex('1a01ff'))).to.throw(RpcProtocolError); // invalid UTF-8 in a string
  });

  it('a valid run-time service: 50-byte protocol id, unary and server-streaming methods', () => {
    const id = '/' + 'x'.repeat(49);
    const def = defineRpcService(testService(id, [
      { name: 'A', number: 7 },
      { name: 'B', number: 0xffffffff, serverStreaming: true },
    ]));
    expect(def.protocol).to.equal(id);
    expect([...def.methods].map(([n, m]) => [n, m.localName, m.kind])).to.deep.equal([
      [7, 'a', 'unary'],
      [0xffffffff, 'b', 'server_streaming'],
    ]);
  });

  const invalid: Array<[string, string | undefined, TestMethod[], RegExp]> = [
    ['no protocol option', undefined, [{ name: 'A', number: 1 }], /no \(tcomms.rpc.protocol\)/],
    ['an empty protocol id', '', [{ name: 'A', number: 1 }], /0 bytes/],
    ['a protocol id of 51 bytes', '/' + 'x'.repeat(50), [{ name: 'A', number: 1 }], /51 bytes/],
    ['a method without a number', '/t/1', [{ name: 'A' }], /A has no \(tcomms.rpc.method\)/],
    ['method number 0', '/t/1', [{ name: 'A', number: 0 }], /number 0/],
    ['two methods with one number', '/t/1', [{ name: 'A', number: 3 }, { name: 'B', number: 3 }], /A and B have the same number 3/],
    ['client streaming', '/t/1', [{ name: 'A', number: 1, clientStreaming: true }], /client_streaming/],
    ['bidi streaming', '/t/1', [{ name: 'A', number: 1, clientStreaming: true, serverStreaming: true }], /bidi_streaming/],
  ];
  for (const [what, protocol, methods, message] of invalid) {
    it(`refuses ${what}`, () => {
      const err = (() => {
        try {
          defineRpcService(testService(protocol, methods));
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).to.be.instanceOf(RpcServiceInvalid);
      expect((err as RpcServiceInvalid).kind).to.equal('config');
      expect((err as Error).message).to.match(message);
    });
  }
});
