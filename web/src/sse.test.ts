import { describe, expect, it } from "vitest";
import { openStream, SseParser } from "./sse";

describe("SseParser", () => {
  it("parses events split across chunks with CRLF line ends and skips heartbeats", () => {
    const p = new SseParser();
    expect(p.push("id: 7\r\nevent: post.held\r\nda")).toEqual([]);
    expect(p.push('ta: {"a":1}\r\n\r\n: ping\r\n\r\n')).toEqual([{ id: "7", event: "post.held", data: '{"a":1}' }]);
    expect(p.lastEventId).toBe("7");
    expect(p.push(": ping\r\n\r\n")).toEqual([]);
  });

  it("joins multi-line data and handles a CR split from its LF", () => {
    const p = new SseParser();
    expect(p.push("data: one\r")).toEqual([]);
    expect(p.push("\ndata: two\n\n")).toEqual([{ id: null, event: null, data: "one\ntwo" }]);
  });
});

describe("openStream", () => {
  it("sends the token in the Authorization header, never in the URL, and resumes with Last-Event-ID", async () => {
    const calls: { url: string; headers: Record<string, string> }[] = [];
    const bodies = ["id: 3\r\nevent: x\r\ndata: {}\r\n\r\n", "id: 4\r\nevent: x\r\ndata: {}\r\n\r\n"];
    const seen: string[] = [];
    let stop = () => {};
    const done = new Promise<void>((resolve) => {
      const fetchImpl = (async (url: string, init: RequestInit) => {
        calls.push({ url, headers: init.headers as Record<string, string> });
        const body = bodies.shift();
        if (!body) { resolve(); return new Promise(() => {}); }
        return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
      }) as unknown as typeof fetch;
      stop = openStream({ url: "http://n/v1/stream", token: async () => "tok", onEvent: (e) => seen.push(e.id!), fetchImpl });
    });
    await done;
    stop();
    expect(seen).toEqual(["3", "4"]);
    expect(calls[0].url).toBe("http://n/v1/stream");
    expect(calls.every((c) => !c.url.includes("tok"))).toBe(true);
    expect(calls[0].headers.Authorization).toBe("Bearer tok");
    expect(calls[0].headers["Last-Event-ID"]).toBeUndefined();
    expect(calls[1].headers["Last-Event-ID"]).toBe("3");
    expect(calls[2].headers["Last-Event-ID"]).toBe("4");
  });
});
