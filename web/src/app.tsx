import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "./api";
import { go, readRoute, useRoute, useStore } from "./hooks";
import { Communities, Community, Notifications, Thread } from "./member";
import { sessionFromResponse, type Role } from "./session";
import type { Notification, Store } from "./store";

export function App({ store }: { store: Store }) {
  useStore(store);
  const session = store.session;
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>Skip to content</a>
      <header class="top">
        <a class="brand" href="#/">Haven</a>
        {session && <Nav store={store} role={session.user.role} />}
        <button type="button" class="quick-exit" onClick={() => store.quickExit()}
                title="Leave this site at once and clear this session">Quick exit</button>
      </header>
      <main id="main" tabIndex={-1}>
        {session ? <Signed store={store} /> : <Auth store={store} />}
      </main>
    </>
  );
}

function Nav({ store, role }: { store: Store; role: Role }) {
  const staff = role !== "member";
  return (
    <nav aria-label="Main">
      <a href="#/">Forum</a>
      {(role === "moderator" || role === "admin") && <a href="#/queue">Queue</a>}
      {(role === "crisis_staff" || role === "admin") && <a href="#/crisis">Crisis</a>}
      {role === "admin" && <a href="#/audit">Audit</a>}
      <a href="#/notifications" class="bell" aria-label={`Notifications, ${store.unread} unread`}>
        Notifications {store.unread > 0 && <span class="count" data-testid="unread">{store.unread}</span>}
      </a>
      <span class="who">{store.session?.user.handle}{staff && ` (${role.replace("_", " ")})`}</span>
      <button type="button" class="link" onClick={() => { store.signOut(); go("/"); }}>Sign out</button>
    </nav>
  );
}

function homeFor(role: Role): string {
  if (role === "moderator") return "/queue";
  if (role === "crisis_staff") return "/crisis";
  if (role === "admin") return "/queue";
  return "/";
}

function Signed({ store }: { store: Store }) {
  const route = useRoute();
  const role = store.session!.user.role;
  useEffect(() => {
    // Effects run after paint: re-read the address bar, so a route opened meanwhile (a link, a
    // bookmark, the user's own click) is never replaced by the staff home.
    if (route === "/" && readRoute() === "/" && role !== "member" && !sessionStorage.getItem("haven.home")) {
      sessionStorage.setItem("haven.home", "1");
      go(homeFor(role));
    }
  }, [route, role]);
  let page;
  const [, first, id] = route.split("/");
  if (first === "c" && id) page = <Community store={store} slug={decodeURIComponent(id)} />;
  else if (first === "t" && id) page = <Thread store={store} threadId={id} />;
  else if (first === "notifications") page = <Notifications store={store} />;
  else if (first === "queue") page = <Lazy key="queue" name="queue" load={() => import("./moderator").then((m) => m.Queue)} props={{ store, itemId: id }} />;
  else if (first === "audit") page = <Lazy key="audit" name="audit" load={() => import("./moderator").then((m) => m.Audit)} props={{ store }} />;
  else if (first === "crisis") page = <Lazy key="crisis" name="crisis" load={() => import("./crisis").then((m) => m.CrisisFeed)} props={{ store }} />;
  else page = <Communities store={store} />;
  return (
    <>
      <SupportNotices store={store} />
      {page}
    </>
  );
}

/** Loads a staff screen's code only when it is opened, so members never download it. */
function Lazy({ name, load, props }: { name: string; load: () => Promise<ComponentType<any>>; props: any }) {
  const [Component, setComponent] = useState<ComponentType<any> | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    load().then((c) => setComponent(() => c)).catch(() => setError("This screen could not be loaded. Reload to try again."));
  }, [name]);
  if (error) return <p role="alert">{error}</p>;
  return Component ? <Component {...props} /> : <p aria-busy="true">Loading…</p>;
}

/** The crisis-resources message: at once, at the top, kindly, until the member puts it away. */
function SupportNotices({ store }: { store: Store }) {
  if (!store.support.length) return null;
  return (
    <>
      {store.support.map((n: Notification) => (
        <section class="support" role="alert" aria-labelledby={`s-${n.id}`} key={n.id} data-testid="support">
          {n.type === "support.resources" ? (
            <>
              <h2 id={`s-${n.id}`}>You're not alone. We're here with you.</h2>
              <p>{n.data.message}</p>
              <p class="line"><strong>{n.data.crisis_line}</strong></p>
              {n.data.emergency && <p class="emergency"><strong>{n.data.emergency}</strong></p>}
            </>
          ) : (
            <>
              <h2 id={`s-${n.id}`}>A message from our support team</h2>
              <p>{n.data.message}</p>
            </>
          )}
          <button type="button" onClick={() => store.dismissSupport(n.id)}>Thank you, I've read this</button>
        </section>
      ))}
    </>
  );
}

function Auth({ store }: { store: Store }) {
  const [mode, setMode] = useState<"login" | "register">("login");
  const [handle, setHandle] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const body = await store.api.call("forum", "POST", mode === "login" ? "/v1/auth/login" : "/v1/auth/register",
                                        { handle, password }, { anonymous: true });
      sessionStorage.removeItem("haven.home");
      store.signIn(sessionFromResponse(body));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "Something went wrong. Please try again.");
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="auth card">
      <h1>{mode === "login" ? "Welcome back" : "Join Haven"}</h1>
      <p class="muted">A peer-support community for people in recovery and the people who love them.
        {mode === "register" && " You only need a handle and a password: no real name, no e-mail."}</p>
      <form onSubmit={submit}>
        <label for="handle">Handle</label>
        <input id="handle" name="handle" autoComplete="username" required value={handle}
               onInput={(e) => setHandle((e.target as HTMLInputElement).value)} />
        <label for="password">Password{mode === "register" && " (at least 10 characters)"}</label>
        <input id="password" name="password" type="password" required
               autoComplete={mode === "login" ? "current-password" : "new-password"} value={password}
               onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>{mode === "login" ? "Sign in" : "Create account"}</button>
      </form>
      <p>
        {mode === "login" ? "New here? " : "Already have an account? "}
        <button type="button" class="link" onClick={() => { setMode(mode === "login" ? "register" : "login"); setError(""); }}>
          {mode === "login" ? "Create an account" : "Sign in"}
        </button>
      </p>
    </section>
  );
}
