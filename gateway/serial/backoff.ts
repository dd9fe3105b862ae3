/**
 * Reopen delays: doubling from minMs up to maxMs, each drawn between half and all of it
 * ("equal jitter"), so bridges on one USB hub that lost power do not retry in lockstep.
 */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
