/** The three services' public HTTP APIs, with the bearer token, one error shape and token refresh. */
import type { Config } from "./config";
import { needsRefresh, sessionFromResponse, type Session } from "./session";

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string, public field?: string,
              public retryAfter?: string | null) {
    super(message);
  }
}

export type Service = "forum" | "moderation" | "notifications";

export interface SessionHolder {
  get(): Session | null;
  set(session: Session | null): void;
}

export class Api {
  private refreshing: Promise<Session | null> | null = null;

  constructor(public config: Config, public session: SessionHolder, private fetchImpl: typeof fetch = fetch.bind(globalThis)) {}

  /** A valid access token, refreshed first when it is about to expire; null when signed out. */
  async token(): Promise<string | null> {
    const s = this.session.get();
    if (!s) return null;
    if (needsRefresh(s)) return (await this.refresh())?.token ?? null;
    return s.token;
  }

  refresh(): Promise<Session | null> {
    const current = this.session.get();
    if (!current) return Promise.resolve(null);
    this.refreshing ??= (async () => {
      try {
        const body = await this.call("forum", "POST", "/v1/auth/refresh", { refresh_token: current.refresh_token },
                                     { anonymous: true });
        const next = sessionFromResponse(body);
        this.session.set(next);
        return next;
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) this.session.set(null);
        return null;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  async call<T = any>(service: Service, method: string, path: string, body?: unknown,
                      options: { anonymous?: boolean; retried?: boolean } = {}): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (!options.anonymous) {
      const token = await this.token();
      if (!token) throw new ApiError(401, "unauthorized", "Please sign in again.");
      headers.Authorization = `Bearer ${token}`;
    }
    let response: Response;
    try {
      response = await this.fetchImpl(this.config[service] + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
      });
    } catch {
      throw new ApiError(0, "network", "Haven can't be reached right now. Check your connection and try again.");
    }
    if (response.status === 401 && !options.anonymous && !options.retried && (await this.refresh())) {
      return this.call(service, method, path, body, { ...options, retried: true });
    }
    const text = await response.text();
    const json = text ? safeJson(text) : null;
    if (!response.ok) {
      const error = json?.error ?? {};
      throw new ApiError(response.status, error.code ?? "error", error.message ?? `HTTP ${response.status}`,
                         error.field, response.headers.get("Retry-After"));
    }
    return json as T;
  }

  /**
   * End a session on the server without waiting (quick exit must never wait): a keepalive request
   * outlives the page, and as a simple CORS request (a text/plain body, no Authorization header) it
   * needs no preflight to finish first. The session's refresh token proves it (forum ends the whole
   * refresh-token family and its access tokens on every service). Never throws.
   */
  endSession(session: Session | null): void {
    if (!session) return;
    try {
      void Promise.resolve(this.fetchImpl(this.config.forum + "/v1/auth/logout", {
        method: "POST", keepalive: true, cache: "no-store", credentials: "omit",
        body: JSON.stringify({ refresh_token: session.refresh_token }),
      })).catch(() => undefined);
    } catch { /* the page is leaving anyway */ }
  }

  get<T = any>(service: Service, path: string) { return this.call<T>(service, "GET", path); }
  post<T = any>(service: Service, path: string, body: unknown = {}) { return this.call<T>(service, "POST", path, body); }
  patch<T = any>(service: Service, path: string, body: unknown) { return this.call<T>(service, "PATCH", path, body); }
}

function safeJson(text: string): any {
  try { return JSON.parse(text); } catch { return null; }
}

/** A query string from the non-empty values only. */
export function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}
