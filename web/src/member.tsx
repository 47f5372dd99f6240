import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api";
import { backoffDelays } from "./backoff";
import { go, useStore } from "./hooks";
import type { Notification, Store } from "./store";
import { describeStatus, noticeText, timeAgo, type PostStatus } from "./text";

export interface Post {
  id: string; thread_id: string; author_id: string; author: string; body: string; version: number;
  status: PostStatus; reasons: any[]; created_at: string; updated_at: string;
}

const REPORT_REASONS = ["harassment", "hate", "sourcing", "privacy", "self_harm", "spam", "misinformation", "other"];

export function errorText(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.status === 429) return `You're going a little fast. Please wait ${e.retryAfter ?? "a few"} seconds and try again.`;
    return e.message;
  }
  return "Something went wrong. Please try again.";
}

export function Communities({ store }: { store: Store }) {
  const [communities, setCommunities] = useState<any[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    store.api.get("forum", "/v1/communities").then((r) => setCommunities(r.communities)).catch((e) => setError(errorText(e)));
  }, []);
  return (
    <section>
      <h1>Communities</h1>
      {error && <p class="error" role="alert">{error}</p>}
      {!communities && !error && <p aria-busy="true">Loading…</p>}
      <ul class="list">
        {communities?.map((c) => (
          <li key={c.id} class="card">
            <a href={`#/c/${encodeURIComponent(c.slug)}`}><strong>{c.name}</strong></a>
            {c.description && <p class="muted">{c.description}</p>}
          </li>
        ))}
      </ul>
    </section>
  );
}

export function Community({ store, slug }: { store: Store; slug: string }) {
  const [threads, setThreads] = useState<any[] | null>(null);
  const [community, setCommunity] = useState<any>(null);
  const [error, setError] = useState("");
  const [title, setTitle] = useState("");
  const [body, setBody] = useState("");
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    store.api.get("forum", `/v1/communities/${encodeURIComponent(slug)}/threads`)
      .then((r) => setThreads(r.threads)).catch((e) => setError(errorText(e)));
    store.api.get("forum", "/v1/communities")
      .then((r) => setCommunity(r.communities.find((c: any) => c.slug === slug) ?? null)).catch(() => {});
  }, [slug]);
  const start = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const r = await store.api.post("forum", `/v1/communities/${encodeURIComponent(slug)}/threads`, { title, body });
      go(`/t/${r.thread.id}`);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <p><a href="#/">← Communities</a></p>
      <h1>{community?.name ?? slug.replace(/-/g, " ")}</h1>
      {community?.description && <p class="muted">{community.description}</p>}
      <form class="card compose" onSubmit={start} aria-labelledby="new-thread">
        <h2 id="new-thread">Start a thread</h2>
        <label for="thread-title">Title</label>
        <input id="thread-title" required maxLength={200} value={title} onInput={(e) => setTitle((e.target as HTMLInputElement).value)} />
        <label for="thread-body">What's on your mind?</label>
        <textarea id="thread-body" required maxLength={10000} rows={5} value={body}
                  onInput={(e) => setBody((e.target as HTMLTextAreaElement).value)} />
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>Post</button>
      </form>
      <h2>Threads</h2>
      {!threads && !error && <p aria-busy="true">Loading…</p>}
      {threads && !threads.length && <p class="muted">No threads yet. You could start the first one.</p>}
      <ul class="list">
        {threads?.map((t) => (
          <li key={t.id} class="card"><a href={`#/t/${t.id}`}>{t.title}</a> <span class="muted">· {timeAgo(t.created_at)}</span></li>
        ))}
      </ul>
    </section>
  );
}

export function Thread({ store, threadId }: { store: Store; threadId: string }) {
  const [thread, setThread] = useState<any>(null);
  const [posts, setPosts] = useState<Post[]>([]);
  const [error, setError] = useState("");
  const [reply, setReply] = useState("");
  const [busy, setBusy] = useState(false);
  const load = useCallback(() => store.api.get("forum", `/v1/threads/${threadId}`)
    .then((r) => { setThread(r.thread); setPosts(r.posts); setError(""); })
    .catch((e) => setError(errorText(e))), [threadId]);
  useEffect(() => { void load(); }, [load]);
  // Replies published in this thread arrive on the stream for its author; others see them on reload/poll.
  useEffect(() => store.onLive((n) => { if (n.data?.thread_id === threadId) void load(); }), [threadId]);
  const send = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const r = await store.api.post("forum", `/v1/threads/${threadId}/posts`, { body: reply });
      setPosts((p) => [...p, r.post]);
      setReply("");
      setError("");
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const update = (post: Post) => setPosts((p) => p.map((x) => (x.id === post.id ? post : x)));
  return (
    <section>
      <p>{thread && <a href={`#/c/${encodeURIComponent(thread.community)}`}>← {thread.community.replace(/-/g, " ")}</a>}</p>
      <h1>{thread?.title ?? "Thread"}</h1>
      {error && <p class="error" role="alert">{error}</p>}
      <ol class="list posts">
        {posts.map((p) => <li key={p.id}><PostCard store={store} post={p} onChange={update} /></li>)}
      </ol>
      {thread && (
        <form class="card compose" onSubmit={send}>
          <label for="reply">Reply</label>
          <textarea id="reply" required rows={3} maxLength={10000} value={reply}
                    onInput={(e) => setReply((e.target as HTMLTextAreaElement).value)} />
          <button type="submit" disabled={busy}>Send reply</button>
        </form>
      )}
    </section>
  );
}

/** Follows one of the caller's own posts until moderation decides it: the stream first, polling as back-up. */
function useWatchPost(store: Store, post: Post, onChange: (p: Post) => void) {
  const mine = post.author_id === store.session?.user.id;
  const current = useRef(post);
  current.current = post;
  useEffect(() => {
    if (!mine || post.status === "published") return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const delays = post.status === "pending" ? backoffDelays(500, 1.6, 5000) : backoffDelays(3000, 1.5, 20000);
    const refresh = async () => {
      try {
        const r = await store.api.get("forum", `/v1/posts/${post.id}`);
        if (!stopped && (r.post.status !== current.current.status || r.post.version !== current.current.version
                         || r.post.body !== current.current.body)) onChange(r.post);
      } catch { /* keep trying */ }
    };
    const tick = async () => {
      await refresh();
      if (!stopped) timer = setTimeout(tick, delays());
    };
    timer = setTimeout(tick, delays());
    const off = store.onLive((n) => { if (n.data?.post_id === post.id) void refresh(); });
    return () => { stopped = true; clearTimeout(timer); off(); };
  }, [post.id, post.status, post.version, mine]);
}

export function PostCard({ store, post, onChange }: { store: Store; post: Post; onChange: (p: Post) => void }) {
  useStore(store);
  useWatchPost(store, post, onChange);
  const mine = post.author_id === store.session?.user.id;
  const [mode, setMode] = useState<"" | "edit" | "report" | "appeal">("");
  const [text, setText] = useState("");
  const [reason, setReason] = useState("harassment");
  const [message, setMessage] = useState("");
  const [error, setError] = useState("");
  const notice: Notification | undefined = store.postNotices.get(post.id);
  const removal = post.status === "removed" && notice?.type === "post.removed" ? notice.data?.reason : null;
  const status = describeStatus(post.status, post.reasons, removal);
  const act = async (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      if (mode === "edit") {
        const r = await store.api.patch("forum", `/v1/posts/${post.id}`, { body: text });
        onChange(r.post);
        setMessage("Saved. We're checking the new version.");
      } else if (mode === "report") {
        const r = await store.api.post("forum", `/v1/posts/${post.id}/reports`, text ? { reason, note: text } : { reason });
        setMessage(r.duplicate ? "You had already reported this post." : "Thank you. A moderator will look at it.");
      } else if (mode === "appeal") {
        await store.api.post("forum", `/v1/posts/${post.id}/appeal`, text ? { note: text } : {});
        setMessage("Your appeal was sent. A moderator will look at the removal again.");
      }
      setMode("");
      setText("");
    } catch (err) {
      setError(err instanceof ApiError && err.status === 409 && mode === "appeal"
        ? "You have already appealed this removal." : errorText(err));
    }
  };
  return (
    <article class={`card post ${post.status}`} data-testid="post" data-post-id={post.id} data-status={post.status}
             aria-label={`Post by ${post.author}`}>
      <header>
        <strong>{post.author}</strong> <span class="muted">· {timeAgo(post.created_at)}{post.version > 1 && " · edited"}</span>
        {(mine || post.status !== "published") && (
          <span class={`badge ${status.tone}`} data-testid="status">{status.label}</span>
        )}
      </header>
      <p class="body">{post.body}</p>
      {mine && post.status !== "published" && (
        <p class={`status-note ${status.tone}`} role="status">{status.explanation}
          {post.status === "removed" && notice?.data?.message && <> Moderator's note: “{notice.data.message}”</>}</p>
      )}
      {message && <p role="status" class="muted">{message}</p>}
      {error && <p class="error" role="alert">{error}</p>}
      <div class="actions">
        {mine && post.status !== "removed" && <button type="button" class="link" onClick={() => { setMode("edit"); setText(post.body); }}>Edit</button>}
        {mine && post.status === "removed" && <button type="button" onClick={() => { setMode("appeal"); setText(""); }}>Appeal</button>}
        {!mine && <button type="button" class="link" onClick={() => { setMode("report"); setText(""); }}>Report</button>}
      </div>
      {mode && (
        <form class="inline" onSubmit={act}>
          {mode === "report" && (
            <>
              <label for={`reason-${post.id}`}>Why are you reporting this?</label>
              <select id={`reason-${post.id}`} value={reason} onChange={(e) => setReason((e.target as HTMLSelectElement).value)}>
                {REPORT_REASONS.map((r) => <option key={r} value={r}>{r.replace("_", " ")}</option>)}
              </select>
            </>
          )}
          <label for={`text-${post.id}`}>{mode === "edit" ? "Your post" : mode === "appeal" ? "Why should we look again? (optional)" : "Anything to add? (optional)"}</label>
          <textarea id={`text-${post.id}`} rows={3} required={mode === "edit"} value={text}
                    onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
          <button type="submit">{mode === "edit" ? "Save" : mode === "appeal" ? "Send appeal" : "Send report"}</button>
          <button type="button" class="link" onClick={() => setMode("")}>Cancel</button>
        </form>
      )}
    </article>
  );
}

export function Notifications({ store }: { store: Store }) {
  useStore(store);
  const [items, setItems] = useState<Notification[] | null>(null);
  const [error, setError] = useState("");
  const load = useCallback(() => store.api.get("notifications", "/v1/notifications?limit=50")
    .then((r) => setItems(r.items)).catch((e) => setError(errorText(e))), []);
  useEffect(() => { void load(); return store.onLive(() => void load()); }, []);
  return (
    <section>
      <h1>Notifications</h1>
      <p><button type="button" onClick={() => store.markAllRead().then(load)} disabled={!store.unread}>Mark all as read</button></p>
      {error && <p class="error" role="alert">{error}</p>}
      {items && !items.length && <p class="muted">Nothing yet.</p>}
      <ul class="list">
        {items?.map((n) => (
          <li key={n.id} class={`card notice ${n.read ? "" : "unread"}`}>
            <strong>{noticeText(n.type)}</strong> <span class="muted">· {timeAgo(n.created_at)}{!n.read && " · new"}</span>
            {n.data?.reason && <p>Reason: {n.data.reason}</p>}
            {n.data?.message && <p>{n.data.message}</p>}
            {n.data?.crisis_line && <p>{n.data.crisis_line}</p>}
          </li>
        ))}
      </ul>
    </section>
  );
}
