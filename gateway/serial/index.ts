export { SerialBridge, type BridgeOptions, type BridgeStats, type BridgeEvents } from './bridge.ts';
export { BridgeSet, portSpec, startGatewayBridges, summary, type PortSpec, type SerialPortConfig } from './run.ts';
export { LineDecoder, type DecodedLine, type LineFormat, type LineDecoderOptions } from './decode.ts';
export { parseKv, applyFieldMap, coerceValues } from './kv.ts';
export { BoundedLineParser } from './line-parser.ts';
export { listPorts, type PortInfo } from './list.ts';
export { registerSerialMetrics } from './metrics.ts';
