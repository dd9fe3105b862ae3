import { feedbackTimeMs, type Trigger } from '../../protocol/trigger.ts';
import { DAY_MS } from '../detectors/index.ts';
import type { Rule } from '../rules.ts';
import type { StateStore } from '../store/state.ts';
import type { Candidate } from './evaluate.ts';

export interface PolicyOptions {
  frequencyCapMax: number;
  frequencyCapDays: number;
  declineSuppressionDays: number;
  serviceOpenDays: number;
}

/** Why a candidate did not become a trigger. */
export const SUPPRESSION_REASONS = ['no-consent', 'owner-change', 'duplicate', 'cooldown', 'declined', 'service-open', 'frequency-cap'] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

/**
 * The order candidates meet the policy in: service first (an open service trigger then blocks
 * upsell on its device in the same run), then marketing by rule priority (arbitration: the
 * frequency cap goes to the rule that matters most).
 */
export function policyOrder(a: Candidate, b: Candidate): number {
  const rank = (c: Candidate) => (c.rule.category === 'service' ? 0 : 1);
  return rank(a) - rank(b) || b.rule.priority - a.rule.priority || a.device.id.localeCompare(b.device.id);
}

/**
 * Decides at fire time, against the registry (consent, owner) and the stored state (earlier
 * triggers and their feedback), whether a candidate may become a trigger.
 */
export function checkPolicy(c: Candidate, trigger: Trigger, state: StateStore, o: PolicyOptions, nowMs: number): SuppressionReason | null {
  const { rule, device } = c;
  if (!(device.consent ?? []).includes(rule.purpose)) return 'no-consent';
  // The first owner owns the device's whole history; a resale starts a new one.
  const since = device.ownerSince ? Date.parse(device.ownerSince) : 0;
  const ownerSince = since > (device.registeredAt ? Date.parse(device.registeredAt) : 0) + 1_000 ? since : 0;
  // Usage of the previous owner says nothing about what the new one wants.
  if (rule.purpose === 'marketing' && c.windowFrom < ownerSince) return 'owner-change';
  if (state.get(trigger.id)) return 'duplicate';
  const sinceOwner = (ms: number) => Math.max(ms, ownerSince);
  if (rule.cooldownDays > 0) {
    for (const rec of state.ofDeviceRule(device.id, rule.id, sinceOwner(nowMs - rule.cooldownDays * DAY_MS))) {
      if (Date.parse(rec.trigger.createdAt) <= nowMs) return 'cooldown';
    }
  }
  if (o.declineSuppressionDays > 0 && declined(state, rule, device.id, device.owner, sinceOwner(nowMs - o.declineSuppressionDays * DAY_MS))) return 'declined';
  if (rule.category === 'upsell') {
    for (const rec of state.ofDevice(device.id, nowMs - o.serviceOpenDays * DAY_MS)) {
      if (rec.trigger.category === 'service' && (rec.status === 'open' || rec.status === 'accepted')) return 'service-open';
    }
  }
  if (rule.purpose === 'marketing' && o.frequencyCapMax > 0) {
    if (state.countOfOwner(device.owner, 'marketing', nowMs - o.frequencyCapDays * DAY_MS) >= o.frequencyCapMax) return 'frequency-cap';
  }
  return null;
}

/** A trigger of this rule, device and owner declined within the suppression time. */
function declined(state: StateStore, rule: Rule, deviceId: string, owner: string, sinceMs: number): boolean {
  for (const rec of state.ofDeviceRule(deviceId, rule.id)) {
    if (rec.trigger.owner !== owner) continue;
    for (const fb of rec.feedback) if (fb.outcome === 'declined' && feedbackTimeMs(fb) >= sinceMs) return true;
  }
  return false;
}
