/** Delays for polling a post until moderation decides it: quick at first, then slower, capped. */
export function backoffDelays(first = 500, factor = 2, cap = 8000): () => number {
  let next = first;
  return () => {
    const delay = next;
    next = Math.min(cap, Math.round(next * factor));
    return delay;
  };
}

/** Retry-After (seconds) from a response header, as milliseconds; null when absent or not a number. */
export function retryAfterMs(header: string | null): number | null {
  if (!header) return null;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : null;
}
