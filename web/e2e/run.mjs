#!/usr/bin/env node
// Browser scenarios for Haven's web client, driven by playwright-core against Debian's Chromium.
// Started by tests/browser (pytest), which runs the services and serves web/dist; input comes as
// JSON in E2E_INPUT. The script prints `@@checkpoint <name>` and waits for a line on stdin when the
// test must act between steps, and `@@result <json>` at the end. No sleeps: only Playwright's waits.
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const input = JSON.parse(process.env.E2E_INPUT ?? "{}");
const scenario = process.argv[2];
const T = input.timeout_ms ?? 20000;
const shots = input.screenshots_dir;
mkdirSync(shots, { recursive: true });
const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();
const result = {};

async function checkpoint(name, data = {}) {
  console.log(`@@checkpoint ${name} ${JSON.stringify(data)}`);
  const { value } = await lines.next();
  return value ? JSON.parse(value) : {};
}

const browser = await chromium.launch({
  executablePath: input.chromium ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--disable-dev-shm-usage"],
});
const pages = [];

async function newPage({ dark = false, width = 1100, height = 900, bypassCSP = false } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme: dark ? "dark" : "light", bypassCSP });
  const page = await context.newPage();
  page.setDefaultTimeout(T);
  page.requests = [];
  page.on("request", (r) => page.requests.push(r.url()));
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  // A neutral page for quick exit (the machine has no internet).
  await context.route("https://www.google.com/**", (route) =>
    route.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><title>Google</title><p>Search</p>" }));
  pages.push(page);
  return page;
}

async function register(page, handle) {
  await page.goto(input.base_url);
  await page.getByRole("button", { name: "Create an account" }).click();
  await page.getByLabel("Handle").fill(handle);
  await page.getByLabel(/^Password/).fill(input.password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

async function login(page, handle) {
  await page.goto(input.base_url);
  await page.getByLabel("Handle").fill(handle);
  await page.getByLabel(/^Password/).fill(input.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

/** Starts a thread in the test community; returns the opening post's id once it is on screen. */
async function startThread(page, title, body) {
  await page.goto(`${input.base_url}#/c/${input.community}`);
  await page.getByLabel("Title").fill(title);
  await page.getByLabel("What's on your mind?").fill(body);
  await page.getByRole("button", { name: "Post", exact: true }).click();
  const post = page.getByTestId("post").filter({ hasText: body });
  await post.waitFor();
  return post.getAttribute("data-post-id");
}

const postCard = (page, id) => page.locator(`[data-testid=post][data-post-id="${id}"]`);
const hasStatus = (page, id, status) => page.locator(`[data-testid=post][data-post-id="${id}"][data-status="${status}"]`).waitFor();

async function axe(page, label) {
  await page.addScriptTag({ content: readFileSync(require.resolve("axe-core/axe.min.js"), "utf8") });
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
  const serious = found.filter((v) => v.impact === "serious" || v.impact === "critical");
  result.axe ??= {};
  result.axe[label] = { violations: found.length, serious };
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
  (result.screenshots ??= []).push(`${name}.png`);
}

const scenarios = {
  // 1. A member registers, posts and sees pending turn to published without a reload; another member sees it.
  async publish() {
    const a = await newPage();
    await register(a, input.handles.author);
    await a.evaluate(() => { window.__noReload = true; });
    const body = "Ninety days clean today. Thank you all for being here at 3 a.m.";
    const id = await startThread(a, "Ninety days", body);
    await hasStatus(a, id, "pending");
    result.pending_label = await postCard(a, id).getByTestId("status").textContent();
    await checkpoint("pending", { post_id: id });       // the test starts moderation now
    await hasStatus(a, id, "published");
    result.published_label = await postCard(a, id).getByTestId("status").textContent();
    result.no_reload = await a.evaluate(() => window.__noReload === true);
    const b = await newPage();
    await register(b, input.handles.reader);
    await b.goto(`${input.base_url}#/c/${input.community}`);
    await b.getByRole("link", { name: "Ninety days" }).click();
    await b.getByText(body).waitFor();
    result.reader_sees_it = true;
    const token = await a.evaluate(() => JSON.parse(sessionStorage.getItem("haven.session")).token);
    result.token_in_urls = [...a.requests, ...b.requests].filter((u) => u.includes(token) || /token=/i.test(u)).length;
    result.post_id = id;
  },

  // 2. A crisis post reaches a logged-in crisis worker's feed live; acknowledge, resolve; the author sees resources.
  async crisis() {
    const worker = await newPage();
    await login(worker, input.handles.crisis);
    await worker.getByRole("heading", { name: "Crisis escalations" }).waitFor();
    await worker.getByText("(live)").waitFor();
    await worker.evaluate(() => { window.__noReload = true; });
    const member = await newPage();
    await register(member, input.handles.author);
    const id = await startThread(member, "Tonight", input.crisis_text);
    const card = worker.locator(`[data-testid=escalation][data-post-id="${id}"]`);
    const started = Date.now();
    await card.waitFor();
    result.feed_ms_after_post_on_screen = Date.now() - started;
    result.new_badge = await card.getByText("new", { exact: true }).isVisible();
    result.announced = await worker.getByRole("alert").filter({ hasText: "New " }).textContent();
    result.level = await card.locator(".badge").first().textContent();
    await card.getByRole("button", { name: "Acknowledge" }).click();
    await worker.locator(`[data-testid=escalation][data-post-id="${id}"][data-status="acknowledged"]`).waitFor();
    await card.getByRole("button", { name: "Open post and notes" }).click();
    await card.getByLabel("Add a note").fill("Reached out via outreach; watching.");
    await card.getByRole("button", { name: "Add note" }).click();
    await card.getByText("Reached out via outreach; watching.").waitFor();
    await card.getByLabel("Private message to the author").fill("We're here with you tonight.");
    await card.getByRole("button", { name: "Send outreach" }).click();
    await card.getByText("Done: outreach sent.").waitFor();
    await card.getByLabel("Outcome").selectOption("resources_sent");
    await card.getByRole("button", { name: "Resolve" }).click();
    await card.waitFor({ state: "detached" });
    result.no_reload = await worker.evaluate(() => window.__noReload === true);
    const support = member.getByTestId("support").filter({ hasText: "not alone" });
    await support.waitFor();
    result.support_text = await support.textContent();
    await shot(member, "member-crisis-resources");
    result.post_id = id;
  },

  // 3. Held → approved from the queue (the author's view updates); removed → reason shown, appeal sent.
  async moderation() {
    const author = await newPage();
    await register(author, input.handles.author);
    await author.evaluate(() => { window.__noReload = true; });
    const held = await startThread(author, "A rough day", "you are an idiot");
    await hasStatus(author, held, "held");
    result.held_text = await postCard(author, held).getByRole("status").first().textContent();
    const mod = await newPage();
    await login(mod, input.handles.moderator);
    await mod.getByRole("heading", { name: "Review queue" }).waitFor();
    const row = mod.locator(`[data-testid=queue-item][data-post-id="${held}"]`);
    await row.getByRole("link").click();
    await mod.getByRole("button", { name: "Claim" }).click();
    await mod.getByText("You hold this item").waitFor();
    result.evidence_marked = await mod.getByTestId("item-body").locator("mark").count();
    // A second moderator gets a clear message while the claim is live.
    const other = await newPage();
    await login(other, input.handles.moderator2);
    await other.goto(`${input.base_url}${new URL(mod.url()).hash}`);
    await other.getByRole("button", { name: /Claim/ }).click();
    result.conflict_message = await other.getByRole("alert").filter({ hasText: "Another moderator" }).textContent();
    await mod.getByLabel("Action").selectOption("approve");
    await mod.getByRole("button", { name: "Apply" }).click();
    await mod.getByText("Done: approve.").waitFor();
    await hasStatus(author, held, "published");
    result.approved_live = await author.evaluate(() => window.__noReload === true);

    const removed = await startThread(author, "Another day", "you stupid loser");
    await hasStatus(author, removed, "held");
    await mod.goto(`${input.base_url}#/queue`);
    await mod.locator(`[data-testid=queue-item][data-post-id="${removed}"]`).getByRole("link").click();
    await mod.getByRole("button", { name: "Claim" }).click();
    await mod.getByText("You hold this item").waitFor();
    await mod.getByLabel("Action").selectOption("remove");
    await mod.getByLabel("Reason").selectOption("harassment");
    await mod.getByLabel(/Message to the author/).fill("Please keep it kind, even on hard days.");
    await mod.getByRole("button", { name: "Apply" }).click();
    await mod.getByText("Done: remove.").waitFor();
    await hasStatus(author, removed, "removed");
    const card = postCard(author, removed);
    await card.getByText(/for harassment/).waitFor();
    result.removed_text = await card.getByRole("status").first().textContent();
    await card.getByRole("button", { name: "Appeal" }).click();
    await card.getByLabel(/Why should we look again/).fill("I was quoting what someone said to me.");
    await card.getByRole("button", { name: "Send appeal" }).click();
    result.appeal_text = await card.getByText("Your appeal was sent").textContent();
    result.held_post_id = held;
    result.removed_post_id = removed;
  },

  // 4. axe-core on each role's main screen (light and dark); screenshots of each.
  async axe() {
    const roles = [
      ["member", input.handles.member, "#/c/" + input.community, "Start a thread"],
      ["moderator", input.handles.moderator, "#/queue", "Review queue"],
      ["crisis", input.handles.crisis, "#/crisis", "Crisis escalations"],
      ["admin-audit", input.handles.admin, "#/audit", "Audit log"],
    ];
    for (const dark of [false, true]) {
      for (const [label, handle, route, heading] of roles) {
        const page = await newPage({ dark, bypassCSP: true });
        await login(page, handle);
        await page.goto(`${input.base_url}${route}`);
        await page.getByRole("heading", { name: heading }).first().waitFor();
        if (label === "moderator") await page.getByTestId("queue-item").first().waitFor();
        if (label === "crisis") await page.getByTestId("escalation").first().waitFor();
        if (label === "member") await page.getByRole("link", { name: input.thread_title }).waitFor();
        await axe(page, `${label}${dark ? "-dark" : ""}`);
        await shot(page, `${label}${dark ? "-dark" : ""}`);
        if (label === "moderator" && !dark) {
          await page.getByTestId("queue-item").first().getByRole("link").click();
          await page.getByTestId("item-body").waitFor();
          await axe(page, "moderator-item");
          await shot(page, "moderator-item");
        }
        if (label === "member" && !dark) {
          await page.getByRole("link", { name: input.thread_title }).click();
          await page.getByTestId("post").first().waitFor();
          await axe(page, "member-thread");
          await shot(page, "member-thread");
          const narrow = await newPage({ width: 320, height: 640, bypassCSP: true });
          await login(narrow, handle);
          await narrow.goto(page.url());
          await narrow.getByTestId("post").first().waitFor();
          await axe(narrow, "member-320px");
          result.overflow_320 = await narrow.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
          await shot(narrow, "member-320px");
        }
      }
    }
    // Keyboard only: Tab reaches the quick exit control and Enter works from the login screen's form.
    const kb = await newPage();
    await kb.goto(input.base_url);
    const focused = [];
    for (let i = 0; i < 6; i++) {
      await kb.keyboard.press("Tab");
      focused.push(await kb.evaluate(() => document.activeElement?.textContent?.trim() || document.activeElement?.id || ""));
    }
    result.tab_order = focused;
  },

  // 5. Quick exit leaves at once; coming back shows the signed-out state.
  async quickexit() {
    const page = await newPage();
    await register(page, input.handles.author);
    await page.reload();
    await page.getByRole("button", { name: "Sign out" }).waitFor();   // the session survives a reload
    result.survives_reload = true;
    // The server must forget the session too: quick exit sends the logout without waiting for it.
    result.refresh_token = await page.evaluate(() => JSON.parse(sessionStorage.getItem("haven.session")).refresh_token);
    const logouts = [];
    page.on("request", (r) => { if (r.url().endsWith("/v1/auth/logout")) logouts.push({ method: r.method(), body: r.postData() }); });
    await page.getByRole("button", { name: "Quick exit" }).click();
    await page.waitForURL("https://www.google.com/**");
    result.left_to = page.url();
    result.logout_requests = logouts;
    await page.goto(input.base_url);
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    result.signed_out_after_return = (await page.getByRole("button", { name: "Sign out" }).count()) === 0;
    result.storage_after = await page.evaluate(() => sessionStorage.length);
  },
};

let code = 0;
try {
  if (!scenarios[scenario]) throw new Error(`unknown scenario ${scenario}`);
  await scenarios[scenario]();
  console.log(`@@result ${JSON.stringify(result)}`);
} catch (e) {
  code = 1;
  console.error(`scenario ${scenario} failed: ${e?.stack ?? e}`);
  for (const [i, page] of pages.entries()) {
    await page.screenshot({ path: join(shots, `failure-${scenario}-${i}.png`) }).catch(() => {});
  }
  console.log(`@@result ${JSON.stringify({ ...result, error: String(e?.message ?? e) })}`);
} finally {
  await browser.close();
  stdin.close();
}
process.exit(code);
