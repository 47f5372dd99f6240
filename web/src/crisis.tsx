/** The crisis staff's live feed: loaded only by crisis staff and admins (dynamic import). */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { byUrgency, newArrivals } from "./escalations";
import { errorText } from "./member";
import type { Store } from "./store";
import { timeAgo } from "./text";

const OUTCOMES = ["resources_sent", "contacted", "emergency_services", "false_alarm", "no_contact", "other"];
const LIVE_TYPES = new Set(["crisis.escalation", "crisis.repage", "crisis.acknowledged"]);

let audio: AudioContext | null = null;

/** A short two-tone beep (WebAudio: no sound file to download). */
export function beep(): void {
  try {
    audio ??= new AudioContext();
    if (audio.state === "suspended") void audio.resume();
    const now = audio.currentTime;
    for (const [i, freq] of [880, 660].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.25, now + i * 0.18 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.18 + 0.16);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.18);
      osc.stop(now + i * 0.18 + 0.17);
    }
  } catch { /* no audio device: the visual alert still shows */ }
}

export function evidenceText(ev: any): string {
  if (ev.code === "moderator_escalation") return `Escalated by a moderator${ev.reason ? `: ${ev.reason}` : ""}`;
  return ev.evidence ? `“${ev.evidence}”` : ev.category ?? ev.code;
}

export function CrisisFeed({ store }: { store: Store }) {
  const [items, setItems] = useState<any[] | null>(null);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [announce, setAnnounce] = useState("");
  const [error, setError] = useState("");
  const [sound, setSound] = useState(true);
  const seen = useRef<Set<string> | null>(null);
  const load = useCallback(async () => {
    try {
      const [open, acknowledged] = await Promise.all([
        store.api.get("moderation", "/v1/escalations?status=open"),
        store.api.get("moderation", "/v1/escalations?status=acknowledged"),
      ]);
      const next = byUrgency([...open.items, ...acknowledged.items]);
      if (seen.current) {
        const arrived = newArrivals(seen.current, next);
        if (arrived.length) {
          setFresh((f) => new Set([...f, ...arrived]));
          const top = next.find((e) => arrived.includes(e.id));
          setAnnounce(`New ${top?.level ?? ""} escalation in ${top?.community ?? "a community"}.`);
          if (sound) beep();
        }
      }
      seen.current = new Set(next.map((e) => e.id));
      setItems(next);
      setError("");
    } catch (e) { setError(errorText(e)); }
  }, [sound]);
  useEffect(() => { void load(); }, [load]);
  useEffect(() => store.onLive((n) => { if (LIVE_TYPES.has(n.type)) void load(); }), [load]);
  useEffect(() => { const t = setInterval(load, 15000); return () => clearInterval(t); }, [load]);
  return (
    <section>
      <h1>Crisis escalations</h1>
      <p class="muted">Most urgent first. New escalations appear here as they arrive{store.streamState === "open" ? " (live)" : " (reconnecting…)"}.
        {" "}<label class="inline-check"><input type="checkbox" checked={sound} onChange={(e) => { setSound((e.target as HTMLInputElement).checked); beep(); }} /> Sound alert</label></p>
      <p class="sr-only" role="alert" aria-live="assertive">{announce}</p>
      {error && <p class="error" role="alert">{error}</p>}
      {items && !items.length && <p class="muted">No open escalations right now.</p>}
      <ol class="list">
        {items?.map((e) => <EscalationCard key={e.id} store={store} escalation={e} fresh={fresh.has(e.id)} onChange={load} />)}
      </ol>
    </section>
  );
}

function EscalationCard({ store, escalation: e, fresh, onChange }: { store: Store; escalation: any; fresh: boolean; onChange: () => void }) {
  const [detail, setDetail] = useState<any>(null);
  const [post, setPost] = useState<any>(null);
  const [note, setNote] = useState("");
  const [outcome, setOutcome] = useState("");
  const [outreach, setOutreach] = useState("");
  const [error, setError] = useState("");
  const [done, setDone] = useState("");
  const run = async (what: string, fn: () => Promise<any>) => {
    setError("");
    try { setDetail(await fn()); setDone(what); onChange(); } catch (err) { setError(errorText(err)); }
  };
  const open = async () => {
    try {
      const [d, p] = await Promise.all([store.api.get("moderation", `/v1/escalations/${e.id}`),
                                        store.api.get("forum", `/v1/posts/${e.post_id}`).catch(() => null)]);
      setDetail(d); setPost(p?.post ?? null);
    } catch (err) { setError(errorText(err)); }
  };
  const id = `esc-${e.id}`;
  return (
    <li class={`card escalation ${e.level} ${fresh ? "fresh" : ""} ${e.overdue ? "overdue" : ""}`} data-testid="escalation"
        data-post-id={e.post_id} data-status={e.status} aria-labelledby={id}>
      <h2 id={id}><span class={`badge level-${e.level}`}>{e.level}</span> {e.community}
        {e.overdue && <span class="badge bad">overdue</span>} {fresh && <span class="badge info">new</span>}</h2>
      <p class="muted">{e.status} · opened {timeAgo(e.opened_at)} · paged {e.page_count}× · tier {e.tier}</p>
      <ul aria-label="Why it was escalated">{[...new Set<string>(e.evidence.map(evidenceText))].map((text) => <li key={text}>{text}</li>)}</ul>
      {error && <p class="error" role="alert">{error}</p>}
      {done && <p role="status" class="ok-note">Done: {done}.</p>}
      <div class="actions">
        {e.status === "open" && <button type="button" onClick={() => run("acknowledged", () => store.api.post("moderation", `/v1/escalations/${e.id}/acknowledge`))}>Acknowledge</button>}
        {!post && <button type="button" class="link" onClick={open}>Open post and notes</button>}
      </div>
      {detail && (
        <div class="detail">
          {post && <blockquote class="body">{post.body}</blockquote>}
          <h3>Notes</h3>
          <ul>{detail.notes.map((n: any) => <li key={n.id}>{n.note} <span class="muted">· {timeAgo(n.created_at)}</span></li>)}</ul>
          <form onSubmit={(ev) => { ev.preventDefault(); void run("note added", () => store.api.post("moderation", `/v1/escalations/${e.id}/notes`, { note })).then(() => setNote("")); }}>
            <label for={`note-${e.id}`}>Add a note</label>
            <textarea id={`note-${e.id}`} rows={2} required value={note} onInput={(ev) => setNote((ev.target as HTMLTextAreaElement).value)} />
            <button type="submit">Add note</button>
          </form>
          <form onSubmit={(ev) => { ev.preventDefault(); void run("outreach sent", () => store.api.post("moderation", `/v1/escalations/${e.id}/outreach`, { message: outreach })).then(() => setOutreach("")); }}>
            <label for={`outreach-${e.id}`}>Private message to the author</label>
            <textarea id={`outreach-${e.id}`} rows={2} required value={outreach} onInput={(ev) => setOutreach((ev.target as HTMLTextAreaElement).value)} />
            <button type="submit">Send outreach</button>
          </form>
        </div>
      )}
      <form class="resolve" onSubmit={(ev) => { ev.preventDefault(); void run("resolved", () => store.api.post("moderation", `/v1/escalations/${e.id}/resolve`, { outcome })); }}>
        <label for={`outcome-${e.id}`}>Outcome</label>
        <select id={`outcome-${e.id}`} required value={outcome} onChange={(ev) => setOutcome((ev.target as HTMLSelectElement).value)}>
          <option value="">choose…</option>
          {OUTCOMES.map((o) => <option key={o} value={o}>{o.replace(/_/g, " ")}</option>)}
        </select>
        <button type="submit">Resolve</button>
      </form>
    </li>
  );
}
