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
export const SUPPRESSION_REASONS = ['no-consent', 'owner-change', 'duplicate', 'cooldown', 'replaced', 'declined', 'service-open', 'frequency-cap'] as const;
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

/** What the policy knows of the run in progress, beyond the stored state. */
export interface RunContext {
  /** Devices on which a service rule fired in this run (whatever the owner's consent). */
  faults: ReadonlySet<string>;
}

/** Categories a fault on the device holds back: no upsell and no retention call while it is open. */
const HELD_BY_FAULT = new Set(['upsell', 'retention']);

/**
 * Decides at fire time, against the registry (consent, owner) and the stored state (earlier
 * triggers, their feedback, protective holds), whether a candidate may become a trigger.
 */
export function checkPolicy(c: Candidate, trigger: Trigger, state: StateStore, o: PolicyOptions, nowMs: number, run: RunContext = { faults: new Set() }): SuppressionReason | null {
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
  // A converted upgrade replaced this device: its fading use is no reason to call the owner.
  if (rule.category === 'retention' && replaced(state, device.id, device.owner)) return 'replaced';
  if (o.declineSuppressionDays > 0 && declined(state, trigger.offer.type, device.owner, nowMs - o.declineSuppressionDays * DAY_MS)) return 'declined';
  if (HELD_BY_FAULT.has(rule.category) && faultOpen(state, device.id, o, nowMs, run)) return 'service-open';
  if (rule.purpose === 'marketing' && o.frequencyCapMax > 0) {
    if (state.countOfOwner(device.owner, 'marketing', nowMs - o.frequencyCapDays * DAY_MS) >= o.frequencyCapMax) return 'frequency-cap';
  }
  return null;
}

/**
 * A fault is open on the device: a service rule fired on it in this run, a service trigger of it
 * has no closing outcome yet (open or accepted) within serviceOpenDays, or a fault was held on it
 * (detected without becoming a service trigger, e.g. without service consent) within that time.
 */
export function faultOpen(state: StateStore, deviceId: string, o: PolicyOptions, nowMs: number, run: RunContext): boolean {
  if (run.faults.has(deviceId)) return true;
  const sinceMs = nowMs - o.serviceOpenDays * DAY_MS;
  for (const rec of state.ofDevice(deviceId, sinceMs)) {
    if (rec.trigger.category === 'service' && (rec.status === 'open' || rec.status === 'accepted')) return true;
  }
  return state.holdsOfDevice(deviceId).some((h) => h.kind === 'fault' && Date.parse(h.at) >= sinceMs && Date.parse(h.at) <= nowMs);
}

/** An offer of this type declined by this owner (on any device) within the suppression time, by the server's clock. */
function declined(state: StateStore, offerType: string, owner: string, sinceMs: number): boolean {
  for (const rec of state.ofOwner(owner)) {
    if (rec.trigger.offer.type !== offerType) continue;
    for (const fb of rec.feedback) if (fb.outcome === 'declined' && feedbackTimeMs(fb) >= sinceMs) return true;
  }
  return false;
}

/** The owner converted a model upgrade offered for this device: it has been replaced. */
function replaced(state: StateStore, deviceId: string, owner: string): boolean {
  for (const rec of state.ofDevice(deviceId)) {
    if (rec.trigger.owner === owner && rec.trigger.offer.type === 'model-upgrade' && rec.feedback.some((f) => f.outcome === 'converted')) return true;
  }
  return false;
}

/** Plain words for a reason the policy held a candidate back. */
export function heldBackWords(reason: SuppressionReason, o: PolicyOptions): string {
  switch (reason) {
    case 'cooldown': return 'the same rule fired on this device recently (cooldown)';
    case 'replaced': return 'the owner bought the upgrade offered for this device: no check-in or retention call for the device it replaced';
    case 'declined': return `the owner declined an offer of this type within the last ${o.declineSuppressionDays} days`;
    case 'service-open': return 'a fault is open on this device: no offer and no retention call until it is handled';
    case 'frequency-cap': return `the owner had ${o.frequencyCapMax} marketing contact(s) within ${o.frequencyCapDays} days already (frequency cap)`;
    case 'no-consent': return 'the owner has not consented to this purpose';
    case 'owner-change': return "the usage behind it is the previous owner's";
    case 'duplicate': return 'the same trigger exists already';
  }
}
