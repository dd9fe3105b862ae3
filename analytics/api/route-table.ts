import type { FastifyInstance } from 'fastify';

/** A route as registered: its method and its full path pattern (`/api/triggers/:id`). */
export interface RouteEntry {
  method: string;
  url: string;
}

const tables = new WeakMap<FastifyInstance, RouteEntry[]>();

/**
 * Records every route registered on `app` from now on, its plugins' included (fastify's
 * onRoute hook reaches the contexts registered after it). Call it before anything else.
 */
export function recordRoutes(app: FastifyInstance): void {
  const table: RouteEntry[] = [];
  tables.set(app, table);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) table.push({ method, url: r.url });
  });
}

/** Every route of an app set up with recordRoutes(), in the order they were registered. */
export function routesOf(app: FastifyInstance): readonly RouteEntry[] {
  const table = tables.get(app);
  if (!table) throw new Error('routesOf: recordRoutes() was not called on this app');
  return table;
}
