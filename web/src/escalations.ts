/** The crisis feed's order: most urgent first (level, then overdue, then oldest). */
export interface EscalationLike { id: string; level: string; status: string; overdue: boolean; opened_at: string }

const LEVEL: Record<string, number> = { imminent: 3, high: 2, watch: 1 };
const STATUS: Record<string, number> = { open: 2, acknowledged: 1, resolved: 0 };

export function byUrgency<T extends EscalationLike>(items: T[]): T[] {
  return [...items].sort((a, b) =>
    (STATUS[b.status] ?? 0) - (STATUS[a.status] ?? 0)
    || (LEVEL[b.level] ?? 0) - (LEVEL[a.level] ?? 0)
    || Number(b.overdue) - Number(a.overdue)
    || Date.parse(a.opened_at) - Date.parse(b.opened_at));
}

/** Ids present in `next` but not in `seen`: the escalations that arrived since the last look. */
export function newArrivals(seen: Set<string>, next: EscalationLike[]): string[] {
  return next.filter((e) => !seen.has(e.id)).map((e) => e.id);
}
