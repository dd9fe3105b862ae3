import { setFlagsFromString } from 'node:v8';

/**
 * How far this process's JavaScript heaps (every thread's) may grow past what a full garbage
 * collection left live before the next one: V8's heap growing factor, as a percentage (50: to
 * 1.5× the live size). 0 leaves it to V8, whose factor follows the allocation rate and reaches
 * 4× on a machine with 2 GiB or more: under a burst of short-lived objects that outlive a young
 * collection, that is hundreds of MiB of garbage held before it is collected.
 *
 * V8 reads the factor each time it sets the next limit, so it applies from the next collection;
 * it is process-wide, like every V8 flag.
 */
export function setHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${Math.round(percent)}`);
}
