export * from './call.js';
export * from './pools.js';
export * from './proxy.js';
export * from './rpc-client.events.js';
export * from './rpc-client.machine.js';
export * from './rpc-client.logic.js';
