export { FaultTransport, type FaultTransportInit } from './fault-transport.js';
export { faultPlan, NO_STREAM_FAULTS, DEFAULT_FAULT_TIMINGS, STREAM_FAULT_KINDS, type FaultPlan, type FaultPlanInit, type StreamFaults, type StreamFaultKind, type DialFaults, type AcceptFaults } from './plan.js';
