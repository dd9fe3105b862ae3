import { Duplex } from 'node:stream';

/**
 * Two connected in-memory streams, like the two ends of a socket (node 22 has
 * stream.duplexPair; node 20 does not). Closing one end closes the other.
 */
export function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const make = (other: () => Duplex) => new Duplex({
    read() {},
    write(chunk, _enc, cb) {
      const o = other();
      if (!o.destroyed) o.push(chunk);
      cb();
    },
    final(cb) {
      other().push(null);
      cb();
    },
    destroy(err, cb) {
      const o = other();
      if (!o.destroyed) o.destroy();
      cb(err);
    },
  });
  ends.push(make(() => ends[1]), make(() => ends[0]));
  return [ends[0], ends[1]];
}
