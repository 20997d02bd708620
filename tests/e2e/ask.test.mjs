// The way forward from a locked chat, across two people: the reader asks the
// members to add her, a member clicks Add on the card in the group chat, and
// she is in the chat with the entire history.

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

test("a member adds a locked-out reader from the card in the group chat", { timeout: 90_000 }, async () => {
  const page = await openConsole(world.browser, world.sandbox);
  await becomeUser(page, "jo");
  const transcript = await say(page, "jo", "join chat for lead Contoso Coffee expansion");
  const dealRoom = chatInCard(page, transcript, DEAL_ROOM.topic, "Ask a member to add you");
  await dealRoom.getByRole("button", { name: "Ask a member to add you" }).click();
  await transcript.getByText("Request sent").waitFor();
  await screenshot(page, "ask-01-reader-asked");

  // The ask card shows up in the chat; a non-member cannot use it, a member can.
  const chat = chatPanel(page, DEAL_ROOM.id);
  const add = chat.getByRole("button", { name: "Add", exact: true });
  await add.waitFor({ timeout: 10_000 });
  await add.click();
  await chat.getByText("only its members can use its cards").waitFor();

  await becomeUser(page, "sam");
  await chat.getByRole("button", { name: "Add", exact: true }).click();
  const jo = chat.locator('.members li[data-user="jo"]');
  await jo.waitFor({ timeout: 10_000 });
  assert.equal(await jo.getAttribute("data-history"), ENTIRE_HISTORY);
  await chat.scrollIntoViewIfNeeded();
  await screenshot(page, "ask-02-member-added-her");

  assert.deepEqual(await page.evaluate(() => window.consoleRenderWarnings), []);
  assert.deepEqual(page.errors, []);
});
