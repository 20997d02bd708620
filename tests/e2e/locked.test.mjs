// The reader's story, switching identity, and the page's manners: the locked
// card with its cause, per-person transcripts, no renderer warnings, keyboard
// use and a narrow window.

import { test } from "node:test";
import assert from "node:assert/strict";

import { becomeUser, openConsole, sandboxPerFile, say, screenshot } from "./sandbox.mjs";

const world = sandboxPerFile();

test("a reader sees the chat locked with the read-only cause", { timeout: 60_000 }, async () => {
  const page = await openConsole(world.browser, world.sandbox);
  await becomeUser(page, "jo");
  await page.locator("#current-identity", { hasText: "Jo Park" }).waitFor();
  const transcript = await say(page, "jo", "join chat for lead Contoso Coffee expansion");
  const card = transcript.locator(".ac-adaptiveCard").last();
  await card.getByText("The chat is locked").first().waitFor();
  await card.getByText(/read-only/).first().waitFor();
  await card.getByRole("button", { name: "Ask a member to add you" }).first().waitFor();
  assert.equal(await card.getByRole("button", { name: "Join", exact: true }).count(), 0);
  await screenshot(page, "locked-01-reader-sees-locked");

  assert.deepEqual(await page.evaluate(() => window.consoleRenderWarnings), []);
  assert.deepEqual(page.errors, []);
});

test("switching identity switches the transcript and the identity shown", { timeout: 60_000 }, async () => {
  const page = await openConsole(world.browser, world.sandbox);
  await becomeUser(page, "alex");
  await say(page, "alex", "help");
  const alexSaid = page.locator('.transcript[data-user="alex"] .from-user', { hasText: "help" });
  await alexSaid.waitFor();
  await screenshot(page, "identity-01-alex");

  await becomeUser(page, "jo");
  await page.locator("#current-identity", { hasText: "Jo Park" }).waitFor();
  assert.equal(await page.locator('.person[data-user="jo"]').getAttribute("aria-pressed"), "true");
  assert.equal(await page.locator('.person[data-user="alex"]').getAttribute("aria-pressed"), "false");
  assert.equal(await alexSaid.isVisible(), false, "alex's transcript is hidden while being jo");
  await say(page, "jo", "chats for lead Contoso Coffee expansion");
  await screenshot(page, "identity-02-jo");

  await becomeUser(page, "alex");
  await page.locator("#current-identity", { hasText: "Alex Wu" }).waitFor();
  assert.equal(await alexSaid.isVisible(), true, "alex's transcript is back");
  const joSaid = page.locator('.transcript[data-user="jo"] .from-user', { hasText: "chats for lead" });
  assert.equal(await joSaid.isVisible(), false);
  await screenshot(page, "identity-03-alex-again");

  assert.deepEqual(await page.evaluate(() => window.consoleRenderWarnings), []);
  assert.deepEqual(page.errors, []);
});

test("the page works from the keyboard and fits a narrow window", { timeout: 60_000 }, async () => {
  const page = await openConsole(world.browser, world.sandbox, { width: 390, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);

  // Every control has a name a screen reader can say.
  const unnamed = await page.evaluate(() =>
    [...document.querySelectorAll("button, input, [role=tab]")]
      .filter((node) => !(node.getAttribute("aria-label") || node.textContent.trim() || node.labels?.length))
      .map((node) => node.outerHTML));
  assert.deepEqual(unnamed, []);

  // Tab to a person and pick them with Enter, then type with the keyboard only.
  await page.locator('.person[data-user="sam"]').focus();
  await page.keyboard.press("Enter");
  await page.locator("#current-identity", { hasText: "Sam Rivera" }).waitFor();
  await page.locator('#composer[data-ready="true"]').waitFor();
  await page.locator("#message").focus();
  await page.keyboard.type("help");
  await page.keyboard.press("Enter");
  await page.locator('.transcript[data-user="sam"] .from-bot').first().waitFor({ timeout: 30_000 });
  await screenshot(page, "narrow-01-sam-from-the-keyboard");

  assert.deepEqual(page.errors, []);
});
