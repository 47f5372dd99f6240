#!/usr/bin/env node
// Prints the gzipped size of the JavaScript each role loads, from the Vite build (web/dist).
// Members load only the entry chunk and what it imports statically; staff screens are
// dynamic import()s, counted only for the roles that open them. Goal: member < 100 KB.
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist");
const html = readFileSync(join(dist, "index.html"), "utf8");
const entry = html.match(/<script[^>]+src="\/?(assets\/[^"]+\.js)"/)?.[1];
if (!entry) { console.error("size: no entry script in dist/index.html (run npm run build)"); process.exit(1); }
const assets = readdirSync(join(dist, "assets"));
const gz = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;

// Static imports of a chunk (rolldown/rollup emit `import ... from "./x.js"`), followed transitively.
function closure(file, seen = new Set()) {
  if (seen.has(file)) return seen;
  seen.add(file);
  const code = readFileSync(join(dist, file), "utf8");
  for (const m of code.matchAll(/(?:^|[;\n}])\s*import\s*(?:[^"'()]*?from\s*)?["']\.\/([^"']+\.js)["']/g)) {
    closure(`assets/${m[1]}`, seen);
  }
  return seen;
}
const chunk = (name) => {
  const file = assets.find((a) => a.startsWith(`${name}-`) && a.endsWith(".js"));
  if (!file) throw new Error(`size: no ${name} chunk in dist/assets`);
  return `assets/${file}`;
};
const member = closure(entry);
const roles = {
  member: member,
  moderator: closure(chunk("moderator"), new Set(member)),
  crisis_staff: closure(chunk("crisis"), new Set(member)),
  admin: closure(chunk("crisis"), closure(chunk("moderator"), new Set(member))),
};
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const css = assets.filter((a) => a.endsWith(".css")).reduce((n, a) => n + gz(`assets/${a}`), 0);
console.log("gzipped JavaScript loaded per role (level 9):");
let failed = false;
for (const [role, files] of Object.entries(roles)) {
  const total = [...files].reduce((n, f) => n + gz(f), 0);
  const note = role === "member" ? (total < 100 * 1024 ? "  (goal < 100 KB: met)" : "  (goal < 100 KB: MISSED)") : "";
  if (role === "member" && total >= 100 * 1024) failed = true;
  console.log(`  ${role.padEnd(13)} ${kb(total).padStart(9)}  ${files.size} chunk(s)${note}`);
}
console.log(`  ${"css (all)".padEnd(13)} ${kb(css).padStart(9)}`);
process.exit(failed ? 1 : 0);
