import { parseDeviceTopic, topics, TRIGGER_CATEGORIES, type TriggerCategory } from '../../protocol/topics.ts';

/** Who is on the other end of a connection. */
export type Identity =
  | { role: 'device'; id: string; kind: string; model: string }
  | { role: 'consumer'; id: string; categories: readonly TriggerCategory[] }
  | { role: 'analytics'; id: string }
  | { role: 'anonymous'; id: string };

export type PublishDecision =
  | { ok: true; reading: false }
  | { ok: true; reading: true; channel: 'telemetry' | 'events' }
  | { ok: false; reason: string };

const RESERVED_PREFIXES = ['devices/', 'triggers/', '$'];

/**
 * Topic rules of docs/device-protocol.md (Topics): a device publishes only under its own devices/{id}/ (retain
 * only on status) and subscribes only to its own rejected and commands/#; consumers subscribe
 * to triggers/{category}/… of the categories their purposes allow and nothing that carries
 * telemetry; anonymous clients (when enabled) have the
 * topic space outside devices/, triggers/ and $SYS to themselves.
 */
export function authorizePublish(who: Identity, topic: string, retain: boolean, payload: Buffer): PublishDecision {
  if (topic.startsWith('$')) return { ok: false, reason: `${topic}: topics starting with $ are reserved for the broker` };
  if (who.role === 'anonymous') {
    return RESERVED_PREFIXES.some((p) => topic.startsWith(p))
      ? { ok: false, reason: `${topic}: anonymous clients may not publish under devices/ or triggers/` }
      : { ok: true, reading: false };
  }
  if (who.role === 'consumer') return { ok: false, reason: `${topic}: consumers may only subscribe to triggers` };
  if (who.role === 'analytics') {
    // triggers/{category}/{ruleId}, never retained: a trigger is an event, not a state.
    const [root, category, ruleId, ...rest] = topic.split('/');
    const ok = root === 'triggers' && (TRIGGER_CATEGORIES as readonly string[]).includes(category) && /^[a-z0-9][a-z0-9-]{0,63}$/.test(ruleId ?? '') && rest.length === 0 && !retain;
    return ok ? { ok: true, reading: false } : { ok: false, reason: `${topic}: analytics publishes only on triggers/{category}/{ruleId}, not retained` };
  }
  const t = parseDeviceTopic(topic);
  if (!t || t.deviceId !== who.id) return { ok: false, reason: `${topic}: a device may publish only under devices/${who.id}/` };
  if (t.channel === 'status') {
    const p = payload.toString('utf8');
    if (p !== 'online' && p !== 'offline') return { ok: false, reason: `${topic}: status must be "online" or "offline"` };
    return { ok: true, reading: false };
  }
  if (retain) return { ok: false, reason: `${topic}: retain is allowed only on the status topic` };
  if (t.channel === 'telemetry' || t.channel === 'events') return { ok: true, reading: true, channel: t.channel };
  return { ok: false, reason: `${topic}: devices publish on telemetry, events or status only` };
}

/**
 * Whether a filter under triggers/ reaches only categories a consumer may receive: its second
 * level names one of them (`triggers/upsell/#`), or is a wildcard while the consumer may receive
 * every category (`triggers/#`, `triggers/+/x`). A filter that would reach another purpose's
 * triggers is refused at SUBSCRIBE, not silently narrowed.
 */
function triggerFilterAllowed(categories: readonly TriggerCategory[], filter: string): boolean {
  const [root, category] = filter.split('/');
  if (root !== 'triggers') return false;
  if (category === undefined || category === '#' || category === '+') return TRIGGER_CATEGORIES.every((c) => categories.includes(c));
  return (categories as readonly string[]).includes(category);
}

export function authorizeSubscribe(who: Identity, filter: string): boolean {
  if (who.role === 'anonymous') return !RESERVED_PREFIXES.some((p) => filter.startsWith(p)) || filter.startsWith('$SYS/');
  if (who.role === 'consumer') return triggerFilterAllowed(who.categories, filter);
  if (who.role === 'analytics') return filter.startsWith('triggers/');
  const own = `devices/${who.id}/`;
  if (filter === topics.rejected(who.id)) return true;
  // Wildcards are allowed only below the device's own commands/ level.
  return filter.startsWith(`${own}commands/`) || filter === `${own}commands`;
}

/**
 * The only $SYS topics an anonymous client receives: the broker's heartbeat and birth, which
 * carry its own id. Aedes also announces on $SYS every client that connects or disconnects
 * and every SUBSCRIBE and UNSUBSCRIBE (client ids and filters, so device ids); it cannot stop
 * doing so, since instances of a cluster learn of a client's takeover from those messages.
 */
const SYS_FOR_ANONYMOUS = /^\$SYS\/[^/]+\/(heartbeat|birth)$/;

/** Defence in depth: what may be delivered to whom, whatever it subscribed to. */
export function authorizeForward(who: Identity, topic: string): boolean {
  if (who.role === 'anonymous') {
    if (topic.startsWith('$')) return SYS_FOR_ANONYMOUS.test(topic);
    return !topic.startsWith('devices/') && !topic.startsWith('triggers/');
  }
  if (who.role === 'consumer') return topic.startsWith('triggers/') && (who.categories as readonly string[]).includes(topic.split('/')[1]);
  if (who.role === 'analytics') return topic.startsWith('triggers/');
  return topic.startsWith(`devices/${who.id}/`);
}
