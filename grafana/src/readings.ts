import { allReadings } from '../../protocol/kinds/index.ts';
import { countedField } from '../../core/influx/index.ts';

export interface BoardReading {
  measurement: string;
  /** A field every reading of this type has, to count readings with. */
  counted: string;
}

/**
 * The telemetry measurements (one per device kind and reading type), from the protocol
 * schemas: a new kind shows up on the fleet board without an edit here.
 */
export function telemetryReadings(): BoardReading[] {
  return allReadings()
    .filter((r) => r.channel === 'telemetry')
    .map((r) => ({ measurement: r.measurement, counted: countedField(r) }));
}
