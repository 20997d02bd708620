// Microsoft's own client against joinchat: Microsoft 365 Agents Playground
// (the pinned npm release scripts/playground-test unpacked into .playground/)
// talks to `joinchat sandbox --playground`, and Debian's Chromium drives the
// Playground's own web page: `help` → the help answer; the join command →
// the card → Join → "You joined", the member added in the simulated Graph,
// and the bot's notice in the Playground's group chat (the world's deal room);
// there, an @mention → the shared card → Show my view → the viewer's own view.
// Every wait is bounded. Screenshots and logs land in test-artifacts/playground/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { launchBrowser } from "../e2e/sandbox.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const ARTIFACTS = path.join(ROOT, "test-artifacts", "playground");
const BINARY = process.env.JOINCHAT_BIN || path.join(ROOT, "target", "debug", "joinchat");
const PLAYGROUND_CLI = process.env.PLAYGROUND_CLI;
const PLAYGROUND_VERSION = process.env.PLAYGROUND_VERSION;
const DEAL_ROOM = { id: "19:contoso-coffee-expansion@thread.v2", topic: "Contoso Coffee expansion — deal room" };
const ENTIRE_HISTORY = "0001-01-01T00:00:00Z";
const START_TIMEOUT_MS = 60_000;
const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

const run = { children: [], browser: undefined, dir: undefined };

/**
 * Spawns `command` in a process group of its own (so stopping it stops
 * whatever it started), and resolves once `ready` matches its stdout.
 */
function startProcess(name, command, args, options, ready) {
  const child = spawn(command, args, { ...options, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const output = { stdout: "", stderr: "" };
  run.children.push({ name, child, output });
  child.stderr.on("data", (chunk) => (output.stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${name} was not ready within ${START_TIMEOUT_MS} ms:\n${output.stdout}\n${output.stderr}`));
    }, START_TIMEOUT_MS);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${name}: ${error.message}`));
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was ready:\n${output.stdout}\n${output.stderr}`));
    });
    child.stdout.on("data", (chunk) => {
      output.stdout += chunk;
      const match = output.stdout.match(ready);
      if (match) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve({ match, output, child });
      }
    });
  });
}

/** Stops the process group `child` leads: SIGTERM, then SIGKILL after 5 s. */
function stop(child) {
  const signal = (name) => {
    try {
      process.kill(-child.pid, name);
    } catch {
      // Already gone.
    }
  };
  if (child.exitCode !== null || child.signalCode !== null) {
    signal("SIGKILL");
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const force = setTimeout(() => signal("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(force);
      signal("SIGKILL");
      resolve();
    });
    signal("SIGTERM");
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
}

/** strace, when this machine has a working one, records every connect() the Playground makes. */
function straceWorks() {
  const probe = spawnSync("strace", ["-f", "-qq", "-e", "trace=connect", "-o", "/dev/null", "true"], { timeout: 10_000 });
  return probe.status === 0;
}

const world = {};

/**
 * The Playground's own page in a fresh browser context, once it has loaded
 * the mock tenant and reached the bot. The page asks a CDN for fonts: every
 * request off loopback is aborted (and listed in `blocked`).
 */
async function openPlayground() {
  const context = await run.browser.newContext({ viewport: { width: 1400, height: 900 } });
  const blocked = [];
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (LOOPBACK.has(url.hostname)) return route.continue();
    blocked.push(url.origin);
    return route.abort();
  });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  await page.goto(world.playgroundUrl);
  await page.getByText("Configuration file is loaded from").first().waitFor();
  await page.getByText("Connected.", { exact: true }).first().waitFor();
  return { page, context, blocked };
}

before(async () => {
  assert.ok(PLAYGROUND_CLI && existsSync(PLAYGROUND_CLI), "run through scripts/playground-test, which unpacks the Playground");
  run.dir = mkdtempSync(path.join(tmpdir(), "joinchat-playground-"));
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG || "info" };
  delete env.JOINCHAT_REDIS_URL;
  delete env.JOINCHAT_APP_PASSWORD;
  const sandbox = await startProcess(
    "joinchat sandbox --playground",
    BINARY,
    ["sandbox", "--playground", "--playground-user", "alex", "--listen", "127.0.0.1:0", "--cloud-listen", "127.0.0.1:0"],
    { cwd: run.dir, env },
    /Ctrl-C/,
  );
  world.sandbox = sandbox;
  world.printed = sandbox.output.stdout;
  world.bot = world.printed.match(/^\s*bot:\s+(http:\/\/\S+)/m)[1];
  world.cloud = world.printed.match(/^\s*cloud:\s+(http:\/\/\S+)/m)[1];

  const port = await freePort();
  const playgroundEnv = {
    ...process.env,
    TEAMSAPPTESTER_BROWSER: "none",
    APPLICATION_INSIGHTS_NO_STATSBEAT: "true",
  };
  const args = [PLAYGROUND_CLI, "start", "-e", world.bot, "-c", "msteams", "--disable-telemetry", "-p", String(port)];
  world.strace = straceWorks() ? path.join(run.dir, "connect.strace") : undefined;
  const [command, commandArgs] = world.strace
    ? ["strace", ["-f", "-qq", "-e", "trace=connect", "-o", world.strace, process.execPath, ...args]]
    : [process.execPath, args];
  const playground = await startProcess("Agents Playground", command, commandArgs, { cwd: run.dir, env: playgroundEnv }, /Listening on (\d+)/);
  world.playground = playground;
  world.playgroundUrl = `http://localhost:${playground.match[1]}`;
  run.browser = await launchBrowser();
});

after(async () => {
  await run.browser?.close();
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const { name, child, output } of run.children.reverse()) {
    await stop(child);
    const file = name.replace(/\W+/g, "-").replace(/^-|-$/g, "");
    writeFileSync(path.join(ARTIFACTS, `${file}.log`), `${output.stdout}\n--- stderr ---\n${output.stderr}`);
  }
  if (run.dir) rmSync(run.dir, { recursive: true, force: true });
});

test("the sandbox wrote the Playground's mock tenant with the world's people", () => {
  assert.match(world.printed, /ANONYMOUS PLAYGROUND MODE/);
  assert.ok(world.printed.includes(`@microsoft/m365agentsplayground@${PLAYGROUND_VERSION}`), "it names the pinned release");
  const yaml = readFileSync(path.join(run.dir, ".m365agentsplayground.yml"), "utf8");
  assert.match(yaml, /^# Generated by `joinchat sandbox --playground`/);
  assert.match(yaml, /currentUser:\n {2}id: "29:[^"]+"\n {2}name: "Alex Wu"/);
  assert.match(yaml, /groupChat:\n {2}id: "19:contoso-coffee-expansion@thread\.v2"/);
  assert.match(world.sandbox.output.stderr, /WARN.*ANONYMOUS PLAYGROUND MODE/, "the log says so loudly");
  assert.match(world.playground.output.stdout, /Listening on/);
});

test("in Microsoft's own client: help, then join chat → Join → You joined", { timeout: 120_000 }, async () => {
  const { page, context, blocked } = await openPlayground();
  const composer = page.locator('[data-lexical-editor="true"]');
  const send = async (text) => {
    await composer.click();
    await page.keyboard.type(text);
    await page.keyboard.press("Enter");
  };
  await screenshot(page, "playground-01-opened-as-alex");
  assert.ok(await page.getByText("Alex Wu").first().isVisible(), "the Playground's current user is Alex Wu");

  await send("help");
  await page.getByText("I show the Teams chats connected to your Dynamics 365 records").first().waitFor();
  await screenshot(page, "playground-02-help");

  await send("join chat for lead Contoso Coffee expansion");
  await page.getByText("Hover over to join this chat").first().waitFor();
  const card = page.locator(".ac-adaptiveCard").last();
  const dealRoom = card
    .locator(".ac-container")
    .filter({ hasText: DEAL_ROOM.topic })
    .filter({ has: page.getByRole("button", { name: "Join", exact: true }) })
    .last();
  await screenshot(page, "playground-03-card-with-join");
  await dealRoom.getByRole("button", { name: "Join", exact: true }).click();
  await page.getByText("You joined").first().waitFor({ timeout: 30_000 });
  await screenshot(page, "playground-04-you-joined");

  // The simulated Graph added alex with the entire history.
  const chat = await (await fetch(`${world.cloud}/_sandbox/chats/${encodeURIComponent(DEAL_ROOM.id)}`)).json();
  const alex = chat.members.find((m) => m.user === "alex");
  assert.equal(alex?.visible_history_start, ENTIRE_HISTORY, JSON.stringify(chat));
  const calls = await (await fetch(`${world.cloud}/_sandbox/calls`)).json();
  const add = calls.find((c) => c.service === "graph" && c.method === "POST" && c.path === `/v1.0/chats/${DEAL_ROOM.id}/members`);
  assert.equal(add?.status, 201, JSON.stringify(calls));
  assert.ok(!calls.some((c) => c.service === "connector"), "the bot answered the Playground, not the cloud's Connector");

  // The Playground's group chat is the world's deal room: the notice is there.
  await page.getByRole("treeitem", { name: DEAL_ROOM.topic }).click();
  await page.getByText("Alex Wu joined the chat").first().waitFor({ timeout: 20_000 });
  await screenshot(page, "playground-05-notice-in-the-group-chat");

  assert.ok(blocked.every((origin) => origin.startsWith("https://res-1.cdn.office.net")), `only the font CDN was asked for: ${blocked}`);
  await context.close();
});

test("in the Playground's group chat, an @mention gets the shared card and Show my view the viewer's own", { timeout: 90_000 }, async () => {
  // Runs after the join above: alex is now a member of the deal room.
  const { page, context } = await openPlayground();
  await page.getByRole("treeitem", { name: DEAL_ROOM.topic }).click();
  // Bots in group chats hear only what @mentions them; the Playground's composer offers the mention.
  await page.locator('[data-lexical-editor="true"]').click();
  await page.keyboard.type("@joinch");
  await page.getByText("joinchat", { exact: true }).last().click();
  await page.keyboard.type(" join chat for lead Contoso Coffee expansion");
  await page.keyboard.press("Enter");
  const show = page.getByRole("button", { name: "Show my view" }).last();
  await show.waitFor();
  const shared = page.locator(".ac-adaptiveCard").last();
  assert.ok(!(await shared.innerText()).includes(DEAL_ROOM.topic), "the shared card names no chat of the record");
  await screenshot(page, "playground-06-group-chat-shared-card");
  await show.click();
  await page.getByText("You're a member").first().waitFor({ timeout: 30_000 });
  await screenshot(page, "playground-07-group-chat-my-view");
  await context.close();
});

test("the Playground made no connection off this machine", { skip: straceWorks() ? false : "no working strace here" }, async () => {
  // Stop it first so strace has written everything.
  const entry = run.children.find((c) => c.name === "Agents Playground");
  await stop(entry.child);
  const connects = readFileSync(world.strace, "utf8")
    .split("\n")
    .filter((line) => line.includes("connect("));
  const remote = connects.filter(
    (line) => !/AF_UNIX|AF_NETLINK|inet_addr\("127\.|inet_pton\(AF_INET6, "::1"|sin6_addr=inet_pton\(AF_INET6, "::1"\)|"::ffff:127\./.test(line),
  );
  writeFileSync(path.join(ARTIFACTS, "playground-connects.txt"), connects.join("\n"));
  assert.ok(connects.length > 0, "strace saw the Playground connect to the bot");
  assert.deepEqual(remote, [], "every connect() went to loopback");
});
