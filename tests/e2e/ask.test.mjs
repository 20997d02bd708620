// The way forward from a locked chat, across two people: the reader asks the
// members to add her, a member clicks Add on the card in the group chat, and
// she is in the chat with the entire history.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import {
  ENTIRE_HISTORY,
  becomeUser,
  chatPanel,
  launchBrowser,
  openConsole,
  say,
  screenshot,
  startSandbox,
} from "./sandbox.mjs";

const DEAL_ROOM = "19:contoso-coffee-expansion@thread.v2";
const DEAL_ROOM_TOPIC = "Contoso Coffee expansion — deal room";

let sandbox;
let browser;

before(async () => {
  sandbox = await startSandbox();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await sandbox?.stop();
});

test("a member adds a locked-out reader from the card in the group chat", { timeout: 90_000 }, async () => {
  const page = await openConsole(browser, sandbox);
  await becomeUser(page, "jo");
  const transcript = await say(page, "jo", "join chat for lead Contoso Coffee expansion");
  const dealRoom = transcript
    .locator(".ac-container")
    .filter({ hasText: DEAL_ROOM_TOPIC })
    .filter({ has: page.getByRole("button", { name: "Ask a member to add you" }) })
    .last();
  await dealRoom.getByRole("button", { name: "Ask a member to add you" }).click();
  await transcript.getByText("Request sent").waitFor();
  await screenshot(page, "ask-01-reader-asked");

  // The ask card shows up in the chat; a non-member cannot use it, a member can.
  const chat = chatPanel(page, DEAL_ROOM);
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
