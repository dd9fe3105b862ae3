import type { OwnerReport } from '../../protocol/owner-report.ts';

const day = (t: string) => t.slice(0, 10);
const list = (xs: readonly string[]) => (xs.length ? xs.join(', ') : 'none');

const DELIVERY: Record<string, string> = { delivered: 'delivered', pending: 'waiting to be delivered', dead: 'could not be delivered', dropped: 'not delivered' };

/** The owner report in words, for the owner or the person answering their request. */
export function formatOwnerReport(r: OwnerReport): string {
  const out: string[] = [];
  out.push(`What is held about owner ${r.owner} (as of ${r.generatedAt})`, '');
  out.push(`Devices (${r.devices.length})`);
  if (r.devices.length === 0) out.push('  none registered to this owner now');
  for (const d of r.devices) {
    out.push(`  ${d.id}: ${d.kind} ${d.modelName ? `${d.modelName} (${d.model})` : d.model}, yours since ${day(d.ownerSince)}; consent: ${list(d.consent)}`);
    if (d.dataError) out.push(`    ${d.dataError}`);
    else if (d.data.length === 0) out.push('    no readings stored');
    for (const m of d.data) out.push(`    ${m.measurement}: ${m.points} readings${m.from && m.to ? `, ${day(m.from)} to ${day(m.to)}` : ''}`);
    const roll = Object.entries(d.rollups);
    if (roll.length) out.push(`    summaries computed from them: ${roll.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  }
  out.push('', `What was inferred (${r.triggers.length} trigger${r.triggers.length === 1 ? '' : 's'})`);
  if (r.triggers.length === 0) out.push('  nothing');
  for (const t of r.triggers) {
    out.push(`  ${day(t.createdAt)} ${t.category} on ${t.deviceId}: ${t.offer.label ?? t.offer.type}${t.offer.target ? ` (${t.offer.target})` : ''} [${t.ruleId}, needs ${t.purpose} consent]${t.sensitive ? ' SENSITIVE' : ''}`);
    out.push(`    why: ${t.explanation}`);
    const fb = t.feedback.map((f) => `${f.outcome} on ${day(f.at)}`);
    out.push(`    status: ${t.status}${fb.length ? ` (${fb.join(', ')})` : ''}; ${Object.entries(t.delivery).map(([sink, s]) => `${sink} ${DELIVERY[s.state] ?? s.state}${s.reason ? ` (${s.reason})` : ''}`).join(', ') || 'not sent anywhere: for people, through the inbox'}`);
  }
  out.push('', `What was held back, and why (${r.held.length})`);
  if (r.held.length === 0) out.push('  nothing');
  for (const h of r.held) {
    out.push(`  ${day(h.at)} ${h.kind === 'fault' ? 'fault' : h.category} on ${h.deviceId} [${h.ruleId}]: ${h.detail}`);
    out.push(`    seen: ${h.summary}`);
  }
  out.push('', `Consent changes (${r.consentHistory.length})`);
  if (r.consentHistory.length === 0) out.push('  none recorded');
  for (const c of r.consentHistory) out.push(`  ${c.at} ${c.deviceId}: ${list(c.consent)} (from ${c.source}, by ${c.actor})`);
  out.push('', ...r.notes.map((n) => `Note: ${n}`));
  return out.join('\n');
}
