/** The moderators' console and the admins' audit log: loaded only by staff (dynamic import). */
import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiError, query } from "./api";
import { highlight } from "./highlight";
import { errorText } from "./member";
import type { Store } from "./store";
import { timeAgo } from "./text";

const REASON_FILTERS = ["", "crisis", "threat", "abuse", "safety_review", "automated_review_unavailable", "report", "appeal"];
const REMOVAL_REASONS = ["harassment", "hate", "sourcing", "privacy", "spam", "graphic_method_detail", "misinformation", "other"];
const ACTIONS = ["approve", "remove", "redact", "dismiss", "warn", "suspend", "escalate", "note"] as const;

export function Queue({ store, itemId }: { store: Store; itemId?: string }) {
  return itemId ? <Item store={store} itemId={itemId} /> : <QueueList store={store} />;
}

function QueueList({ store }: { store: Store }) {
  const [items, setItems] = useState<any[] | null>(null);
  const [status, setStatus] = useState("open");
  const [reason, setReason] = useState("");
  const [community, setCommunity] = useState("");
  const [error, setError] = useState("");
  const load = useCallback(() => store.api.get("moderation", `/v1/queue${query({ status, reason, community, limit: 100 })}`)
    .then((r) => { setItems(r.items); setError(""); }).catch((e) => setError(errorText(e))), [status, reason, community]);
  useEffect(() => { void load(); }, [load]);
  useEffect(() => store.onLive((n) => { if (n.type.startsWith("queue.")) void load(); }), [load]);
  return (
    <section>
      <h1>Review queue</h1>
      <form class="filters" onSubmit={(e) => { e.preventDefault(); void load(); }} aria-label="Filter the queue">
        <label>Status <select value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
          <option value="open">open</option><option value="resolved">resolved</option></select></label>
        <label>Reason <select value={reason} onChange={(e) => setReason((e.target as HTMLSelectElement).value)}>
          {REASON_FILTERS.map((r) => <option key={r} value={r}>{r || "any"}</option>)}</select></label>
        <label>Community <input value={community} placeholder="slug" onChange={(e) => setCommunity((e.target as HTMLInputElement).value)} /></label>
        <button type="submit">Refresh</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      {items && !items.length && <p class="muted">The queue is empty. Thank you.</p>}
      <table class="queue" aria-label="Queue items, highest priority first">
        <thead><tr><th scope="col">Priority</th><th scope="col">Reasons</th><th scope="col">Community</th><th scope="col">Age</th><th scope="col">State</th></tr></thead>
        <tbody>
          {items?.map((item) => (
            <tr key={item.id} class={item.overdue ? "overdue" : ""} data-testid="queue-item" data-post-id={item.post_id}>
              <td><a href={`#/queue/${item.id}`} aria-label={`Open item, priority ${item.priority}`}>{item.priority}</a></td>
              <td>{[...new Set(item.reasons.map((r: any) => r.level ? `${r.code} (${r.level})` : r.code))].join(", ")}</td>
              <td>{item.community}</td>
              <td>{timeAgo(item.created_at)}</td>
              <td>{item.overdue && <span class="badge bad">overdue</span>} {item.claimed_by && <span class="badge info">claimed</span>}
                {item.hidden_by_reports && <span class="badge warn">hidden by reports</span>} {item.resolution ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Item({ store, itemId }: { store: Store; itemId: string }) {
  const [item, setItem] = useState<any>(null);
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const [action, setAction] = useState<(typeof ACTIONS)[number]>("approve");
  const [reason, setReason] = useState("");
  const [message, setMessage] = useState("");
  const [redacted, setRedacted] = useState("");
  const [hours, setHours] = useState("24");
  const [level, setLevel] = useState("high");
  const me = store.session!.user.id;
  useEffect(() => {
    store.api.get("moderation", `/v1/queue/${itemId}`).then(setItem).catch((e) => setError(errorText(e)));
  }, [itemId]);
  const conflict = (e: unknown) => e instanceof ApiError && e.status === 409
    ? "Another moderator is reviewing this item right now. Their claim ends within 10 minutes; pick another item meanwhile."
    : errorText(e);
  const claim = async () => {
    setError(""); setNotice("");
    try { setItem(await store.api.post("moderation", `/v1/queue/${itemId}/claim`)); setNotice("You hold this item for 10 minutes."); }
    catch (e) { setError(conflict(e)); }
  };
  const act = async (e: Event) => {
    e.preventDefault();
    setError(""); setNotice("");
    const body: Record<string, unknown> = { action };
    if (reason) body.reason = reason;
    if (message) body.message = message;
    if (action === "redact") body.redacted_body = redacted;
    if (action === "suspend") body.duration_hours = Number(hours);
    if (action === "escalate") body.level = level;
    try {
      setItem(await store.api.post("moderation", `/v1/queue/${itemId}/actions`, body));
      setNotice(`Done: ${action}.`);
      setMessage("");
    } catch (err) { setError(conflict(err)); }
  };
  if (!item) return <section><p><a href="#/queue">← Queue</a></p>{error ? <p class="error" role="alert">{error}</p> : <p aria-busy="true">Loading…</p>}</section>;
  const evidence = [...item.signals.map((s: any) => s.evidence), ...item.reasons.map((r: any) => r.evidence)]
    .filter((x: unknown): x is string => typeof x === "string");
  const heldByMe = item.claimed_by === me && item.claimed_until && Date.parse(item.claimed_until) > Date.now();
  return (
    <section class="item">
      <p><a href="#/queue">← Queue</a></p>
      <h1>Item · priority {item.priority} {item.overdue && <span class="badge bad">overdue</span>}</h1>
      <p class="muted">{item.community} · {item.status}{item.resolution && ` (${item.resolution})`} · opened {timeAgo(item.created_at)}</p>
      {error && <p class="error" role="alert">{error}</p>}
      {notice && <p role="status" class="ok-note">{notice}</p>}
      <div class="grid">
        <div>
          <h2>Post{item.post?.title && `: ${item.post.title}`}</h2>
          <p class="body card" data-testid="item-body">{item.post ? highlight(item.post.body, evidence).map((s, i) =>
            s.mark ? <mark key={i}>{s.text}</mark> : <span key={i}>{s.text}</span>) : "(no copy of the post)"}</p>
          {item.history.length > 1 && (<details><summary>Edit history ({item.history.length} versions)</summary>
            <ol>{item.history.map((h: any) => <li key={h.version}>v{h.version}: {h.body}</li>)}</ol></details>)}
          <h2>Thread context</h2>
          {item.thread_context.length <= 1 && <p class="muted">The first post of its thread; no other posts yet.</p>}
          <ol class="context">{item.thread_context.map((p: any) => (
            <li key={p.post_id} class={p.post_id === item.post_id ? "this" : ""}>{p.post_id === item.post_id ? <strong>{p.body}</strong> : p.body}</li>))}</ol>
          <h2>Signals</h2>
          <ul>{item.signals.map((s: any, i: number) => <li key={i}>{s.category} {s.score.toFixed(2)} ({s.detector}): “{s.evidence}”</li>)}</ul>
          {item.decision && <p class="muted">Decision: {item.decision.outcome} · policy {item.decision.policy_version} · model {item.decision.model}</p>}
          <h2>Reports ({item.reports.length})</h2>
          <ul>{item.reports.map((r: any) => <li key={r.report_id}>{r.reason} · weight {r.weight}{r.note && `: ${r.note}`}{r.outcome && ` · ${r.outcome}`}</li>)}</ul>
          {item.appeals.length > 0 && (<><h2>Appeals</h2><ul>{item.appeals.map((a: any) =>
            <li key={a.appeal_id}>{a.note ?? "(no note)"} · contests {a.contested.removal?.reason ?? a.contested.decision?.outcome ?? "?"}</li>)}</ul></>)}
        </div>
        <aside>
          <h2>Author's record</h2>
          <dl class="record">
            <dt>First post</dt><dd>{item.author_record.first_post_at ? timeAgo(item.author_record.first_post_at) : "—"}</dd>
            <dt>Decisions</dt><dd>{Object.entries(item.author_record.decisions).map(([k, v]) => `${k}: ${v}`).join(", ") || "none"}</dd>
            <dt>Warnings</dt><dd>{item.author_record.warnings}</dd>
            <dt>Suspensions</dt><dd>{item.author_record.suspensions}{item.author_record.suspended_until && ` (until ${item.author_record.suspended_until})`}</dd>
          </dl>
          <h2>Notes</h2>
          <ul>{item.notes.map((n: any) => <li key={n.id}>{n.note} <span class="muted">· {timeAgo(n.created_at)}</span></li>)}</ul>
          <p><button type="button" onClick={claim}>{heldByMe ? "Renew claim" : "Claim"}</button>
            {item.claimed_by && !heldByMe && <span class="badge warn">claimed by someone else</span>}</p>
          <form class="card" onSubmit={act} aria-label="Act on this item">
            <label for="action">Action</label>
            <select id="action" value={action} onChange={(e) => { setAction((e.target as HTMLSelectElement).value as any); setReason(""); }}>
              {ACTIONS.map((a) => <option key={a} value={a}>{a}</option>)}
            </select>
            <label for="reason">Reason{action === "remove" ? "" : " (optional)"}</label>
            {action === "remove" ? (
              <select id="reason" required value={reason} onChange={(e) => setReason((e.target as HTMLSelectElement).value)}>
                <option value="">choose…</option>
                {REMOVAL_REASONS.map((r) => <option key={r} value={r}>{r.replace(/_/g, " ")}</option>)}
              </select>
            ) : <input id="reason" value={reason} maxLength={200} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />}
            {action === "redact" && (<><label for="redacted">Redacted text</label>
              <textarea id="redacted" required rows={3} value={redacted} onInput={(e) => setRedacted((e.target as HTMLTextAreaElement).value)} /></>)}
            {action === "suspend" && (<><label for="hours">Hours</label>
              <input id="hours" type="number" min="1" value={hours} onInput={(e) => setHours((e.target as HTMLInputElement).value)} /></>)}
            {action === "escalate" && (<><label for="level">Level</label>
              <select id="level" value={level} onChange={(e) => setLevel((e.target as HTMLSelectElement).value)}>
                <option value="watch">watch</option><option value="high">high</option><option value="imminent">imminent</option></select></>)}
            <label for="message">{action === "note" ? "Note" : "Message to the author (optional)"}</label>
            <textarea id="message" rows={2} required={action === "note"} value={message} onInput={(e) => setMessage((e.target as HTMLTextAreaElement).value)} />
            <button type="submit">Apply</button>
          </form>
        </aside>
      </div>
    </section>
  );
}

export function Audit({ store }: { store: Store }) {
  const [items, setItems] = useState<any[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [action, setAction] = useState("");
  const [subject, setSubject] = useState("");
  const [error, setError] = useState("");
  const load = async (more = false) => {
    try {
      const r = await store.api.get("moderation", `/v1/audit${query({ action, subject, limit: 100, cursor: more ? cursor : null })}`);
      setItems((old) => (more && old ? [...old, ...r.items] : r.items));
      setCursor(r.next_cursor);
      setError("");
    } catch (e) { setError(errorText(e)); }
  };
  useEffect(() => { void load(); }, []);
  return (
    <section>
      <h1>Audit log</h1>
      <form class="filters" onSubmit={(e) => { e.preventDefault(); void load(); }} aria-label="Filter the audit log">
        <label>Action <input value={action} placeholder="queue.remove" onInput={(e) => setAction((e.target as HTMLInputElement).value)} /></label>
        <label>Subject <input value={subject} placeholder="post:<id>" onInput={(e) => setSubject((e.target as HTMLInputElement).value)} /></label>
        <button type="submit">Search</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      <table aria-label="Audit entries, oldest first">
        <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Subject</th><th scope="col">Reason</th></tr></thead>
        <tbody>{items?.map((a) => (
          <tr key={a.id}><td>{new Date(a.at).toLocaleString()}</td><td>{a.actor_role}</td><td>{a.action}</td><td class="mono">{a.subject}</td><td>{a.reason ?? ""}</td></tr>))}</tbody>
      </table>
      {items && !items.length && <p class="muted">No entries match.</p>}
      {cursor && <button type="button" onClick={() => load(true)}>Load more</button>}
    </section>
  );
}

