// What every browser test needs: a `joinchat sandbox` of its own (a subprocess
// on free ports, demo world, in-process store), Debian's Chromium driven by
// playwright-core, and screenshots of each step in test-artifacts/e2e/.

import { spawn } from "node:child_process";
import { after, before } from "node:test";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(path.join(ROOT, "crates", "joinchat-sandbox", "console", "package.json"));
const { chromium } = require("playwright-core");

export const ARTIFACTS = path.join(ROOT, "test-artifacts", "e2e");
export const ENTIRE_HISTORY = "0001-01-01T00:00:00Z";
/** The demo world's deal room, connected to the lead "Contoso Coffee expansion". */
export const DEAL_ROOM = { id: "19:contoso-coffee-expansion@thread.v2", topic: "Contoso Coffee expansion — deal room" };
const START_TIMEOUT_MS = 60_000;

const BINARY =
  process.env.JOINCHAT_BIN ||
  path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, "target"), "debug", "joinchat");

/** Starts `joinchat sandbox` on free ports; resolves once it printed the cloud's URL. */
export function startSandbox() {
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" };
  // The store is the in-process one: each test file owns a fresh world.
  delete env.JOINCHAT_REDIS_URL;
  const child = spawn(
    BINARY,
    ["sandbox", "--listen", "127.0.0.1:0", "--cloud-listen", "127.0.0.1:0"],
    { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGTERM");
      reject(new Error(`joinchat sandbox printed no cloud URL within ${START_TIMEOUT_MS} ms:\n${stdout}\n${stderr}`));
    }, START_TIMEOUT_MS);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${BINARY}: ${error.message} (run scripts/e2e, which builds it)`));
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`joinchat sandbox exited with ${code} before it was ready:\n${stdout}\n${stderr}`));
    });
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const match = stdout.match(/^\s*cloud:\s+(http:\/\/\S+)/m);
      if (match) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve({
          url: match[1],
          logs: () => stderr,
          stop: () => stopChild(child),
        });
      }
    });
  });
}

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/**
 * One sandbox and one browser for the test file that calls this: started
 * before its tests, stopped after them. Read `.sandbox` and `.browser` inside tests.
 */
export function sandboxPerFile() {
  const shared = { sandbox: undefined, browser: undefined };
  before(async () => {
    shared.sandbox = await startSandbox();
    shared.browser = await launchBrowser();
  });
  after(async () => {
    await shared.browser?.close();
    await shared.sandbox?.stop();
  });
  return shared;
}

/** Debian's Chromium, never a downloaded browser. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
    timeout: 30_000,
  });
}

/**
 * A console page at 1280×800 (or `viewport`), ready once the world is loaded.
 * Page errors are collected in `page.errors` so tests can assert there are none.
 */
export async function openConsole(browser, sandbox, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(error.message));
  await page.goto(`${sandbox.url}/console`);
  await page.locator('body[data-ready="true"]').waitFor();
  return page;
}

/** Saves a screenshot of the page as test-artifacts/e2e/<name>.png. */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: false });
}

/** Becomes `key` by clicking their card in the people list; resolves when their chat is ready. */
export async function becomeUser(page, key) {
  await page.locator(`.person[data-user="${key}"]`).click();
  await page.locator(`.transcript[data-user="${key}"]`).waitFor();
  await page.locator('#composer[data-ready="true"]').waitFor();
}

/** Types a command to the bot and waits for the bot's answer to appear in the transcript. */
export async function say(page, key, text) {
  const transcript = page.locator(`.transcript[data-user="${key}"]`);
  const before = await transcript.locator(".from-bot, .note").count();
  await page.locator("#message").fill(text);
  await page.locator("#message").press("Enter");
  await transcript.locator(".from-bot, .note").nth(before).waitFor({ timeout: 30_000 });
  return transcript;
}

/** The chat panel's view of one group chat. */
export function chatPanel(page, chatId) {
  return page.locator(`.chat[data-chat-id="${chatId}"]`);
}

/**
 * The part of a rendered card about one chat (its container, found by topic)
 * that offers `button` — the innermost such container.
 */
export function chatInCard(page, card, topic, button) {
  return card
    .locator(".ac-container")
    .filter({ hasText: topic })
    .filter({ has: page.getByRole("button", { name: button, exact: true }) })
    .last();
}
