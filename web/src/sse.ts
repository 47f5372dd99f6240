/**
 * Server-Sent Events over fetch(): the notifications stream takes the bearer token in the
 * Authorization header only (never in the URL), which EventSource cannot send.
 */
export interface SseEvent { id: string | null; event: string | null; data: string }

/** An incremental parser of the text/event-stream format (CRLF, LF or CR line ends). */
export class SseParser {
  private buffer = "";
  private fields: { id: string | null; event: string | null; data: string[] } = { id: null, event: null, data: [] };
  lastEventId: string | null = null;

  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      // A lone CR at the end of the buffer may be the first half of CRLF: wait for more.
      if (match[0] === "\r" && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = this.line(line);
      if (event) out.push(event);
    }
    return out;
  }

  private line(line: string): SseEvent | null {
    if (line === "") {
      const f = this.fields;
      this.fields = { id: null, event: null, data: [] };
      if (f.id !== null) this.lastEventId = f.id;
      if (!f.data.length) return null;
      return { id: f.id, event: f.event, data: f.data.join("\n") };
    }
    if (line.startsWith(":")) return null; // heartbeat comment
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "data") this.fields.data.push(value);
    else if (name === "event") this.fields.event = value;
    else if (name === "id" && !value.includes("\0")) this.fields.id = value;
    return null;
  }
}

export interface StreamOptions {
  url: string;
  /** Called before each (re)connection: the current access token (it may have been refreshed). */
  token: () => Promise<string | null>;
  onEvent: (event: SseEvent) => void;
  onState?: (state: "connecting" | "open" | "closed") => void;
  fetchImpl?: typeof fetch;
}

/** Keeps a stream open, reconnecting with Last-Event-ID (no gap, no repeat) and back-off. */
export function openStream(options: StreamOptions): () => void {
  const controller = new AbortController();
  const doFetch = options.fetchImpl ?? fetch.bind(globalThis);
  let lastId: string | null = null;
  let delay = 500;
  (async () => {
    while (!controller.signal.aborted) {
      options.onState?.("connecting");
      try {
        const token = await options.token();
        if (!token) break;
        const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: "text/event-stream" };
        if (lastId) headers["Last-Event-ID"] = lastId;
        const response = await doFetch(options.url, { headers, signal: controller.signal, cache: "no-store" });
        if (response.ok && response.body) {
          options.onState?.("open");
          delay = 500;
          const parser = new SseParser();
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            for (const event of parser.push(value)) options.onEvent(event);
            if (parser.lastEventId) lastId = parser.lastEventId;
          }
        }
      } catch {
        if (controller.signal.aborted) break;
      }
      options.onState?.("closed");
      if (controller.signal.aborted) break;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(15_000, delay * 2);
    }
  })();
  return () => controller.abort();
}
