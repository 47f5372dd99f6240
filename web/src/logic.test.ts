import { describe, expect, it } from "vitest";
import { Api, ApiError, query } from "./api";
import { backoffDelays, retryAfterMs } from "./backoff";
import { parseConfig } from "./config";
import { byUrgency, newArrivals } from "./escalations";
import { highlight } from "./highlight";
import { needsRefresh, readSession, sessionFromResponse, writeSession, type KeyValueStore, type Session } from "./session";
import { describeStatus } from "./text";

class MemoryStore implements KeyValueStore {
  data = new Map<string, string>();
  getItem(k: string) { return this.data.get(k) ?? null; }
  setItem(k: string, v: string) { this.data.set(k, v); }
  removeItem(k: string) { this.data.delete(k); }
  clear() { this.data.clear(); }
}

const config = parseConfig({ forum: "http://f/", moderation: "http://m", notifications: "http://n" });

describe("config", () => {
  it("reads the base URLs at run time and refuses anything else", () => {
    expect(config.forum).toBe("http://f");
    expect(config.quick_exit_url).toBe("https://www.google.com/");
    expect(() => parseConfig({ forum: "javascript:alert(1)", moderation: "http://m", notifications: "http://n" })).toThrow();
  });
});

describe("session", () => {
  it("round-trips through storage and drops a corrupt entry", () => {
    const store = new MemoryStore();
    const s = sessionFromResponse({ user: { id: "u", handle: "h", role: "member" }, token: "t", refresh_token: "r", expires_in: 900 }, 0);
    writeSession(store, s);
    expect(readSession(store)).toEqual(s);
    expect(s.expires_at).toBe(900_000);
    store.setItem("haven.session", "{nope");
    expect(readSession(store)).toBeNull();
    expect(store.data.size).toBe(0);
  });

  it("refreshes shortly before expiry", () => {
    const s = { expires_at: 100_000 } as Session;
    expect(needsRefresh(s, 50_000)).toBe(false);
    expect(needsRefresh(s, 80_000)).toBe(true);
  });
});

describe("Api", () => {
  const session = (): Session => ({ user: { id: "u", handle: "h", role: "member" }, token: "old", refresh_token: "r1", expires_at: Date.now() + 600_000 });

  it("refreshes once on a 401 and retries with the new token", async () => {
    let current: Session | null = session();
    const seen: string[] = [];
    const fetchImpl = (async (url: string, init: RequestInit) => {
      const auth = (init.headers as Record<string, string>).Authorization ?? "";
      seen.push(`${init.method} ${url} ${auth}`);
      if (url.endsWith("/v1/auth/refresh")) {
        return new Response(JSON.stringify({ user: current!.user, token: "new", refresh_token: "r2", expires_in: 900 }), { status: 200 });
      }
      if (auth === "Bearer old") return new Response(JSON.stringify({ error: { code: "unauthorized", message: "expired" } }), { status: 401 });
      return new Response(JSON.stringify({ ok: true }), { status: 200 });
    }) as unknown as typeof fetch;
    const api = new Api(config, { get: () => current, set: (s) => { current = s; } }, fetchImpl);
    expect(await api.get("forum", "/v1/communities")).toEqual({ ok: true });
    expect(current!.token).toBe("new");
    expect(current!.refresh_token).toBe("r2");
    expect(seen).toEqual(["GET http://f/v1/communities Bearer old", "POST http://f/v1/auth/refresh ", "GET http://f/v1/communities Bearer new"]);
  });

  it("turns the services' error shape into an ApiError with code, field and Retry-After", async () => {
    const fetchImpl = (async () => new Response(JSON.stringify({ error: { code: "rate_limited", message: "slow down", field: "body" } }),
      { status: 429, headers: { "Retry-After": "7" } })) as unknown as typeof fetch;
    const api = new Api(config, { get: session, set: () => {} }, fetchImpl);
    const error = await api.post("forum", "/v1/threads/x/posts", { body: "hi" }).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect([error.status, error.code, error.field, error.retryAfter]).toEqual([429, "rate_limited", "body", "7"]);
    expect(retryAfterMs(error.retryAfter)).toBe(7000);
  });

  it("ends the session on the server without waiting, as a keepalive request with no preflight", () => {
    const sent: { url: string; init: RequestInit }[] = [];
    const fetchImpl = ((url: string, init: RequestInit) => {
      sent.push({ url, init });
      return new Promise<Response>(() => {});  // never answers: signing out must not wait on it
    }) as unknown as typeof fetch;
    const api = new Api(config, { get: session, set: () => {} }, fetchImpl);
    expect(api.endSession(session())).toBeUndefined();  // returns at once
    expect(sent).toHaveLength(1);
    const { url, init } = sent[0];
    expect([url, init.method, init.keepalive]).toEqual(["http://f/v1/auth/logout", "POST", true]);
    expect(JSON.parse(init.body as string)).toEqual({ refresh_token: "r1" });
    expect(init.headers).toBeUndefined();  // no Authorization / JSON content type: a simple CORS request
    api.endSession(null);
    expect(sent).toHaveLength(1);
  });

  it("never throws while ending a session, even when the request cannot be sent", () => {
    const failing = (() => { throw new TypeError("offline"); }) as unknown as typeof fetch;
    const rejecting = (() => Promise.reject(new TypeError("offline"))) as unknown as typeof fetch;
    for (const fetchImpl of [failing, rejecting]) {
      const api = new Api(config, { get: session, set: () => {} }, fetchImpl);
      expect(() => api.endSession(session())).not.toThrow();
    }
  });

  it("builds query strings from non-empty values only", () => {
    expect(query({ status: "open", reason: "", community: null, limit: 50 })).toBe("?status=open&limit=50");
    expect(query({})).toBe("");
  });
});

describe("backoff", () => {
  it("grows and caps", () => {
    const next = backoffDelays(500, 2, 3000);
    expect([next(), next(), next(), next(), next()]).toEqual([500, 1000, 2000, 3000, 3000]);
  });
});

describe("post status", () => {
  it("is honest about pending, held (never naming the private crisis reason) and removed", () => {
    expect(describeStatus("pending").label).toMatch(/Checking/);
    const held = describeStatus("held", ["abuse", "crisis"]);
    expect(held.explanation).toMatch(/aimed at another person/);
    expect(held.explanation).not.toMatch(/crisis/);
    expect(describeStatus("removed", ["remove"], "harassment").explanation).toMatch(/for harassment.*appeal/);
  });
});

describe("highlight", () => {
  it("marks every occurrence of the evidence, case-insensitively, merging overlaps", () => {
    expect(highlight("You are an IDIOT, an idiot", ["idiot", "an idiot"])).toEqual([
      { text: "You are ", mark: false }, { text: "an IDIOT", mark: true }, { text: ", ", mark: false }, { text: "an idiot", mark: true },
    ]);
    expect(highlight("nothing here", ["x"])).toEqual([{ text: "nothing here", mark: false }]);
  });
});

describe("crisis feed order", () => {
  const e = (id: string, level: string, status = "open", overdue = false, opened_at = "2026-01-01T00:00:00Z") => ({ id, level, status, overdue, opened_at });
  it("puts open before acknowledged, imminent before high before watch, overdue and older first", () => {
    const sorted = byUrgency([e("w", "watch"), e("h2", "high", "open", false, "2026-01-01T00:05:00Z"), e("i-ack", "imminent", "acknowledged"),
                              e("h1", "high"), e("h-over", "high", "open", true, "2026-01-01T00:09:00Z"), e("i", "imminent")]);
    expect(sorted.map((x) => x.id)).toEqual(["i", "h-over", "h1", "h2", "w", "i-ack"]);
    expect(newArrivals(new Set(["i", "w"]), sorted)).toEqual(["h-over", "h1", "h2", "i-ack"]);
  });
});
