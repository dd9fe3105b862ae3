import { device } from './device.ts';
import { fleet } from './fleet.ts';
import { health } from './health.ts';
import { product } from './product.ts';
import { triggers } from './triggers.ts';
import { usage } from './usage.ts';

export { DATASOURCE, SCHEMA_VERSION } from './kit.ts';

/** Every board, by the file name it is provisioned from. */
export const DASHBOARDS: Record<string, Record<string, unknown>> = {
  'fleet.json': fleet,
  'usage-patterns.json': usage,
  'device.json': device,
  'triggers.json': triggers,
  'gateway-health.json': health,
  'product-design.json': product,
};
