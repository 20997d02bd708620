// The writer's story in the browser: ask for a lead's chats, click Join, and
// see the card turn into "You joined" and the chat gain a member with the
// entire history and the bot's "joined the chat" notice.

import { test } from "node:test";
import assert from "node:assert/strict";

import {
  DEAL_ROOM,
  ENTIRE_HISTORY,
  becomeUser,
  chatInCard,
  chatPanel,
  openConsole,
  say,
  screenshot,
  sandboxPerFile,
} from "./sandbox.mjs";

const world = sandboxPerFile();

test("a writer joins a connected chat from the card and gets the entire history", { timeout: 90_000 }, async () => {
  const page = await openConsole(world.browser, world.sandbox);
  await screenshot(page, "join-01-console-opened");

  await becomeUser(page, "alex");
  await page.locator("#current-identity", { hasText: "Alex Wu" }).waitFor();
  const transcript = await say(page, "alex", "join chat for lead Contoso Coffee expansion");
  const card = transcript.locator(".ac-adaptiveCard").last();
  await card.getByText("Hover over to join this chat").first().waitFor();
  await screenshot(page, "join-02-card-with-join");

  // The card lists each connected chat in its own container; click this chat's Join.
  const dealRoom = chatInCard(page, card, DEAL_ROOM.topic, "Join");
  await dealRoom.getByRole("button", { name: "Join", exact: true }).click();
  await transcript.getByText("You joined").first().waitFor({ timeout: 30_000 });
  await screenshot(page, "join-03-card-says-you-joined");

  const chat = chatPanel(page, DEAL_ROOM.id);
  const alex = chat.locator('.members li[data-user="alex"]');
  await alex.waitFor({ timeout: 10_000 });
  assert.equal(await alex.getAttribute("data-history"), ENTIRE_HISTORY);
  assert.match(await alex.innerText(), /entire history/);

  // The bot's notice may follow the join by a few seconds.
  await chat
    .locator('.chat-message[data-kind="bot"]', { hasText: "Alex Wu joined the chat" })
    .waitFor({ timeout: 20_000 });
  await chat.scrollIntoViewIfNeeded();
  await screenshot(page, "join-04-chat-shows-alex-and-the-notice");

  // What the page shows is what the control API says.
  const view = await (await fetch(`${world.sandbox.url}/_sandbox/chats/${encodeURIComponent(DEAL_ROOM.id)}`)).json();
  const member = view.members.find((m) => m.user === "alex");
  assert.equal(member?.visible_history_start, ENTIRE_HISTORY);
  assert.ok(view.messages.some((m) => m.kind === "bot" && m.text.includes("Alex Wu joined the chat")));

  // The audit view shows the decision, by name.
  await page.getByRole("tab", { name: "Audit" }).click();
  const joined = page.locator('#audit-rows tr[data-action="join"][data-outcome="joined"]');
  await joined.first().waitFor({ timeout: 10_000 });
  assert.match(await joined.first().innerText(), /Alex Wu/);
  assert.match(await joined.first().innerText(), /Contoso Coffee expansion/);
  await screenshot(page, "join-05-audit-shows-the-join");

  assert.ok(await page.locator(".card-surface .ac-adaptiveCard").count() > 0, "cards were drawn by the renderer");
  assert.deepEqual(await page.evaluate(() => window.consoleRenderWarnings), []);
  assert.deepEqual(page.errors, []);
});

test("after a reload, the earlier card refreshes to the viewer's view, as Teams does", { timeout: 60_000 }, async () => {
  // Runs after the join above, in the same sandbox: alex is now a member of the deal room.
  const page = await openConsole(world.browser, world.sandbox);
  await becomeUser(page, "alex");
  const transcript = page.locator('.transcript[data-user="alex"]');
  await transcript.getByText("Earlier messages from joinchat").waitFor();
  const dealRoom = transcript
    .locator(".ac-container")
    .filter({ hasText: DEAL_ROOM.topic })
    .filter({ hasText: /You're a member|You joined/ })
    .last();
  await dealRoom.waitFor({ timeout: 15_000 });
  assert.equal(await dealRoom.getByRole("button", { name: "Join", exact: true }).count(), 0);
  await screenshot(page, "join-06-reloaded-card-refreshed");
  assert.deepEqual(await page.evaluate(() => window.consoleRenderWarnings), []);
  assert.deepEqual(page.errors, []);
});
