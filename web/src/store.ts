/** App-wide state: config, API client, session, the live stream and the member's notices. */
import { Api } from "./api";
import type { Config } from "./config";
import { readSession, writeSession, type Session } from "./session";
import { openStream, type SseEvent } from "./sse";

export interface Notification {
  id: string; seq: number; type: string; category: string; data: any; created_at: string; read?: boolean;
}

type Listener = () => void;
type LiveListener = (n: Notification) => void;

export class Store {
  api: Api;
  unread = 0;
  /** support.resources / support.outreach notices shown at the top until dismissed. */
  support: Notification[] = [];
  /** The latest notification about each of the caller's posts (reasons, removal reason, message). */
  postNotices = new Map<string, Notification>();
  streamState: "connecting" | "open" | "closed" = "closed";
  private listeners = new Set<Listener>();
  private live = new Set<LiveListener>();
  private stopStream: (() => void) | null = null;
  private dismissed = new Set<string>();

  constructor(public config: Config, private storage: Storage) {
    this.api = new Api(config, {
      get: () => readSession(storage),
      set: (s) => { writeSession(storage, s); if (!s) this.changed(); },
    });
  }

  get session(): Session | null { return readSession(this.storage); }

  subscribe(fn: Listener): () => void { this.listeners.add(fn); return () => this.listeners.delete(fn); }
  onLive(fn: LiveListener): () => void { this.live.add(fn); return () => this.live.delete(fn); }
  changed(): void { for (const fn of this.listeners) fn(); }

  signIn(session: Session): void {
    writeSession(this.storage, session);
    this.start();
    this.changed();
  }

  signOut(): void {
    this.stop();
    this.api.endSession(this.session);  // the server forgets it too (fire and forget)
    writeSession(this.storage, null);
    this.support = [];
    this.postNotices.clear();
    this.unread = 0;
    this.changed();
  }

  /** Quick exit: forget everything in this tab and leave at once, without a history entry to come back to. */
  quickExit(): void {
    this.stop();
    try { this.api.endSession(this.session); } catch { /* leaving comes first */ }  // never awaited
    try { this.storage.clear(); } catch { /* storage may be unavailable */ }
    window.location.replace(this.config.quick_exit_url);
  }

  start(): void {
    if (this.stopStream || !this.session) return;
    this.stopStream = openStream({
      url: `${this.config.notifications}/v1/stream`,
      token: () => this.api.token(),
      onEvent: (e) => this.receive(e),
      onState: (state) => { this.streamState = state; this.changed(); },
    });
    void this.loadNotices();
  }

  stop(): void {
    this.stopStream?.();
    this.stopStream = null;
  }

  async loadNotices(): Promise<void> {
    try {
      const [count, list] = await Promise.all([
        this.api.get("notifications", "/v1/notifications/unread-count"),
        this.api.get("notifications", "/v1/notifications?limit=50"),
      ]);
      this.unread = count.unread;
      for (const n of [...(list.items as Notification[])].reverse()) this.note(n, !n.read);
      this.changed();
    } catch { /* the page still works; the stream will bring what is new */ }
  }

  async markAllRead(): Promise<void> {
    const result = await this.api.post("notifications", "/v1/notifications/read-all");
    this.unread = result.unread ?? 0;
    this.changed();
  }

  dismissSupport(id: string): void {
    this.dismissed.add(id);
    this.support = this.support.filter((n) => n.id !== id);
    void this.api.post("notifications", `/v1/notifications/${id}/read`).then((r) => { this.unread = r?.unread ?? this.unread; this.changed(); }).catch(() => {});
    this.changed();
  }

  private receive(event: SseEvent): void {
    let n: Notification;
    try { n = JSON.parse(event.data); } catch { return; }
    this.unread += 1;
    this.note(n, true);
    for (const fn of this.live) fn(n);
    this.changed();
  }

  private note(n: Notification, unread: boolean): void {
    if ((n.type === "support.resources" || n.type === "support.outreach") && unread && !this.dismissed.has(n.id)
        && !this.support.some((s) => s.id === n.id)) {
      this.support = [n, ...this.support];
    }
    const postId = n.data?.post_id;
    if (postId && n.type.startsWith("post.")) this.postNotices.set(postId, n);
  }
}
