// The simulator's public surface: plan a fleet, generate its readings, run it against a gateway.
export { planFleet, parseMix, dayFloor, DEFAULT_MIX, DEFAULT_FAULT_SHARE, episodesOf, personaOn, activeAt, ownerAt, type Fleet, type SimDevice, type Mix, type PlanOptions, type Episode } from './fleet.ts';
export { PROFILES, DEFAULT_PROFILE, DEFAULT_NOISE, parseProfile, parseNoise, type Profile, type NoiseSettings } from './profile.ts';
export { simulatedFleet, simulatedHistory, type SimulatedFleetOptions } from './history.ts';
export { DeviceSim, fleetSims, truthOf, HISTORY_DAYS, type SimReading, type Expect, type TruthSpan } from './generate.ts';
export { batches, expectedOf, type Batch, type BatchOptions } from './batch.ts';
export { PERSONAS, PERSONA_DEFS, FAULTS, FAULT_RATE, SIM_KINDS, personaDef, type Persona, type PersonaDef, type Fault, type Kind } from './personas.ts';
export { manifestOf, writeManifest, readFleetFile, writeFleetFile, type Manifest, type ManifestEntry, type ProvisionedFleet } from './manifest.ts';
export { formatSummary, type Figures } from './figures.ts';
export { SimClock } from './clock.ts';
export { provisionFleet, type ProvisionOptions } from './modes/provision.ts';
export { streamFleet, type StreamOptions } from './modes/stream.ts';
export { LiveFleet, type LiveOptions, type LiveStatus } from './modes/live.ts';
export { benchFleet, dueReadings } from './modes/serial.ts';
export { simulatedReadings, formatLine, runSimSerial, type SimSerialOptions, type SimSerialResult } from './serial-lines.ts';
