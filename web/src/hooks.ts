import { useEffect, useState } from "preact/hooks";
import type { Store } from "./store";

/** Re-render when the store changes. */
export function useStore(store: Store): void {
  const [, set] = useState(0);
  useEffect(() => store.subscribe(() => set((n) => n + 1)), [store]);
}

/** The current location hash as a route ("/t/<id>", "/queue", …). */
export function useRoute(): string {
  const [route, setRoute] = useState(readRoute());
  useEffect(() => {
    const on = () => setRoute(readRoute());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

/** The route in the address bar now (not as of the last render). */
export function readRoute(): string {
  return window.location.hash.replace(/^#/, "") || "/";
}

export function go(route: string): void {
  window.location.hash = route;
}
