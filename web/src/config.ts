/** Runtime configuration: the services' base URLs come from /config.json, served next to index.html. */
export interface Config {
  forum: string;
  moderation: string;
  notifications: string;
  quick_exit_url: string;
}

const DEFAULT_EXIT = "https://www.google.com/";

export function parseConfig(raw: unknown): Config {
  if (!raw || typeof raw !== "object") throw new Error("config.json is not a JSON object");
  const value = raw as Record<string, unknown>;
  const url = (name: string): string => {
    const v = value[name];
    if (typeof v !== "string" || !/^https?:\/\/[^/]+/.test(v)) throw new Error(`config.json: ${name} must be an http(s) URL`);
    return v.replace(/\/+$/, "");
  };
  const exit = typeof value.quick_exit_url === "string" && /^https?:\/\//.test(value.quick_exit_url)
    ? value.quick_exit_url : DEFAULT_EXIT;
  return { forum: url("forum"), moderation: url("moderation"), notifications: url("notifications"), quick_exit_url: exit };
}

export async function loadConfig(): Promise<Config> {
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  return parseConfig(await response.json());
}
