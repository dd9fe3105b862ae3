/** One filter of a SUBSCRIBE, as Aedes hands it to authorizeSubscribe and to its persistence. */
interface Sub {
  topic: string;
}

/** The part of an Aedes persistence that stores a persistent session's subscriptions. */
export interface SubscriptionStore {
  addSubscriptions(client: { id: string }, subs: Sub[]): Promise<unknown>;
}

/**
 * What each client holds, for `mqtt.maxSubscriptionsPerClient`, and which filters
 * authorizeSubscribe granted, so that only those are ever stored.
 */
export class SubscriptionLedger {
  private readonly held = new WeakMap<object, Set<string>>();
  private readonly granted = new WeakSet<Sub>();
  private readonly max: number;

  constructor(maxPerClient: number) {
    this.max = maxPerClient;
  }

  /**
   * Takes a place for `sub` if the client has one left; a filter it already holds needs none.
   * False: the client holds as many subscriptions as it may.
   */
  admit(client: object, sub: Sub): boolean {
    let held = this.held.get(client);
    if (!held) this.held.set(client, (held = new Set()));
    if (!held.has(sub.topic)) {
      if (held.size >= this.max) return false;
      held.add(sub.topic);
    }
    this.granted.add(sub);
    return true;
  }

  release(client: object, topics: string[]): void {
    const held = this.held.get(client);
    for (const t of topics) held?.delete(t);
  }

  /**
   * Makes `store` keep each SUBSCRIBE once, with only its granted filters.
   *
   * Aedes 1.2 (lib/handlers/subscribe.js, storeSubscriptions) calls addSubscriptions once per
   * granted filter of a persistent session's SUBSCRIBE, each time with every filter of the
   * packet, refused ones included. So n filters cost n stores of n filters (n² work on the
   * event loop: 10,000 filters held every connection for minutes), a refused filter is stored
   * anyway (and the session's offline queue then collects what it matches), and in cluster
   * mode the overlapping stores of one packet wait on one Redis broadcast, so SUBACK never came.
   *
   * The calls for one packet all get the same array, so the first starts the store and the
   * others share it. It runs a microtask later: authorizeSubscribe answers synchronously and
   * Aedes runs it for every filter of the packet in one loop, so by then each filter has been
   * decided. A filter not known as granted is never stored.
   */
  guard(store: SubscriptionStore): void {
    const add = store.addSubscriptions.bind(store);
    const pending = new WeakMap<Sub[], Promise<unknown>>();
    store.addSubscriptions = (client, subs) => {
      let p = pending.get(subs);
      if (!p) {
        p = Promise.resolve().then(() => {
          const granted = subs.filter((s) => this.granted.has(s));
          return granted.length > 0 ? add(client, granted) : client;
        });
        pending.set(subs, p);
      }
      return p;
    };
  }
}
