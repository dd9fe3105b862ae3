// The simulator's public surface: plan a fleet, generate its readings, run it against a gateway.
export { planFleet, parseMix, dayFloor, DEFAULT_MIX, DEFAULT_FAULT_SHARE, type Fleet, type SimDevice, type Mix, type PlanOptions } from './fleet.ts';
export { DeviceSim, fleetSims, HISTORY_DAYS, type SimReading, type Expect } from './generate.ts';
export { batches, expectedOf, type Batch, type BatchOptions } from './batch.ts';
export { PERSONAS, PERSONA_DEFS, FAULTS, FAULT_RATE, SIM_KINDS, personaDef, type Persona, type PersonaDef, type Fault, type Kind } from './personas.ts';
export { manifestOf, writeManifest, readFleetFile, writeFleetFile, type Manifest, type ProvisionedFleet } from './manifest.ts';
export { formatSummary, type Figures } from './figures.ts';
export { SimClock } from './clock.ts';
export { provisionFleet, type ProvisionOptions } from './modes/provision.ts';
export { streamFleet, type StreamOptions } from './modes/stream.ts';
export { runLive, type LiveOptions, type LiveStatus } from './modes/live.ts';
export { benchFleet, dueReadings } from './modes/serial.ts';
export { simulatedReadings, formatLine, runSimSerial, type SimSerialOptions, type SimSerialResult } from './serial-lines.ts';
