import { defineConfig } from "vite";

// Preact's automatic JSX runtime; no framework plugin is needed for a small SPA.
export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: { target: "es2022", sourcemap: false, assetsInlineLimit: 0 },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
} as any);
