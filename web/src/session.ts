/**
 * The signed-in session, kept in sessionStorage only: it survives a reload of the tab but not
 * closing it, and never goes into a URL, a cookie or a log line.
 */
export type Role = "member" | "moderator" | "crisis_staff" | "admin";

export interface User { id: string; handle: string; role: Role; created_at?: string }

export interface Session {
  user: User;
  token: string;
  refresh_token: string;
  /** Epoch milliseconds when the access token expires. */
  expires_at: number;
}

const KEY = "haven.session";

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
  clear(): void;
}

export function sessionFromResponse(body: any, now = Date.now()): Session {
  if (!body || typeof body.token !== "string" || typeof body.refresh_token !== "string" || !body.user) {
    throw new Error("unexpected session response");
  }
  const ttl = typeof body.expires_in === "number" ? body.expires_in : 300;
  return { user: body.user, token: body.token, refresh_token: body.refresh_token, expires_at: now + ttl * 1000 };
}

export function readSession(store: KeyValueStore): Session | null {
  const raw = store.getItem(KEY);
  if (!raw) return null;
  try {
    const s = JSON.parse(raw) as Session;
    if (typeof s.token === "string" && typeof s.refresh_token === "string" && s.user?.id) return s;
  } catch { /* fall through */ }
  store.removeItem(KEY);
  return null;
}

export function writeSession(store: KeyValueStore, session: Session | null): void {
  if (session) store.setItem(KEY, JSON.stringify(session));
  else store.removeItem(KEY);
}

/** True when the access token should be refreshed before use (less than 30 s left). */
export function needsRefresh(session: Session, now = Date.now()): boolean {
  return session.expires_at - now < 30_000;
}

export const STAFF_ROLES: readonly Role[] = ["moderator", "crisis_staff", "admin"];
