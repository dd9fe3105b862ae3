import type { Registry } from '../../core/registry/index.ts';
import type { Trigger } from '../../protocol/trigger.ts';

/** Why a stored trigger may no longer be delivered. */
export const DROP_REASONS = ['device-removed', 'owner-changed', 'consent-withdrawn'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/**
 * The grounds of a trigger as they are now, read again at each delivery attempt (the registry is
 * re-read when its file changed): the device is still registered, to the same owner, who still
 * consents to the trigger's purpose. A reason and its words when they are gone, else null.
 */
export async function recheck(registry: Registry, t: Trigger): Promise<{ reason: DropReason; words: string } | null> {
  await registry.refresh();
  const d = registry.device(t.deviceId);
  if (!d) return { reason: 'device-removed', words: `device ${t.deviceId} is no longer registered` };
  if (d.owner !== t.owner) return { reason: 'owner-changed', words: `device ${t.deviceId} has another owner since ${d.ownerSince}` };
  if (!d.consent.includes(t.purpose)) return { reason: 'consent-withdrawn', words: `the owner no longer consents to ${t.purpose}` };
  return null;
}
