import { variable } from './kit.ts';

/** Device kinds, models and devices: the filters every board shares, each narrowing the next. */
export const kindVar = variable({ name: 'kind', label: 'Kind', query: 'SHOW TAG VALUES WITH KEY = "kind"' });
export const modelVar = variable({ name: 'model', label: 'Model', query: 'SHOW TAG VALUES WITH KEY = "model" WHERE "kind" =~ /^$kind$/' });
export const deviceVar = variable({
  name: 'device',
  label: 'Device',
  multi: false,
  query: 'SHOW TAG VALUES WITH KEY = "device_id" WHERE "kind" =~ /^$kind$/ AND "model" =~ /^$model$/',
});
