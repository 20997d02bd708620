// A record changes hands in the console: assigned from the people panel, the
// sandbox's Dataverse calls the bot's webhook, and the new owner — who never
// talked to the bot — gets the offer card in a 1:1 chat the bot opened by
// installing its app, joins from it, and has the entire history.

import { test } from "node:test";
import assert from "node:assert/strict";

import {
  DEAL_ROOM,
  ENTIRE_HISTORY,
  chatInCard,
  chatPanel,
  openConsole,
  screenshot,
  sandboxPerFile,
} from "./sandbox.mjs";

const world = sandboxPerFile();
const EXPANSION = "lead/Contoso Coffee expansion";

async function worldNow() {
  return (await fetch(`${world.sandbox.url}/_sandbox/world`)).json();
}

/** The people panel's assign/share controls for one person, opened, with `record` chosen. */
async function handOverPanel(page, key, record) {
  const item = page.locator(`.person-item[data-user="${key}"]`);
  const details = item.locator("details.hand-over");
  if (!(await details.evaluate((node) => node.open))) await details.locator("summary").click();
  const [entity, name] = record.split("/");
  const select = details.getByLabel("Record");
  await select.selectOption({ label: `${entity} ${name}` });
  return details;
}

test("assigning a lead to someone who never talked to the bot brings them the offer card", { timeout: 90_000 }, async () => {
  const before = await worldNow();
  const jo = before.users.find((u) => u.key === "jo");
  assert.equal(jo.app_installed, false, "jo starts without the app");

  const page = await openConsole(world.browser, world.sandbox);
  const panel = await handOverPanel(page, "jo", EXPANSION);
  await screenshot(page, "offer-01-assign-chosen");
  await panel.getByRole("button", { name: "Assign", exact: true }).click();
  await page.locator("#status", { hasText: "Assigned lead Contoso Coffee expansion to Jo Park" }).waitFor({ timeout: 30_000 });

  // The console now shows Jo's chat, where the card arrived.
  await page.locator("#current-identity", { hasText: "Jo Park" }).waitFor();
  const transcript = page.locator('.transcript[data-user="jo"]');
  const card = transcript.locator(".ac-adaptiveCard", { hasText: "is now yours" }).last();
  await card.waitFor({ timeout: 20_000 });
  const heading = await card.innerText();
  assert.match(heading, /Lead Contoso Coffee expansion is now yours: it has \d+ connected chats?/);
  await screenshot(page, "offer-02-card-arrived");

  // The world changed as Dataverse would: Jo owns it, and the app is installed for her.
  const after = await worldNow();
  assert.equal(after.records.find((r) => r.name === "Contoso Coffee expansion").owner, "jo");
  assert.equal(after.users.find((u) => u.key === "jo").app_installed, true);
  // The people panel follows: Jo is shown as the owner.
  await page
    .locator('.person-item[data-user="jo"] .roles li', { hasText: "Contoso Coffee expansion" })
    .locator(".role-owner")
    .waitFor({ timeout: 10_000 });

  // Her own view of the deal room: Join, which adds her with the entire history.
  const dealRoom = chatInCard(page, card, DEAL_ROOM.topic, "Join");
  await dealRoom.getByRole("button", { name: "Join", exact: true }).click();
  await transcript.getByText("You joined").first().waitFor({ timeout: 30_000 });
  const member = chatPanel(page, DEAL_ROOM.id).locator('.members li[data-user="jo"]');
  await member.waitFor({ timeout: 10_000 });
  assert.equal(await member.getAttribute("data-history"), ENTIRE_HISTORY);
  await screenshot(page, "offer-03-joined-from-the-offer");

  assert.deepEqual(await page.evaluate(() => window.consoleRenderWarnings), []);
  assert.deepEqual(page.errors, []);
});

test("a read-only share sends nothing, and the console says so", { timeout: 60_000 }, async () => {
  const page = await openConsole(world.browser, world.sandbox);
  const panel = await handOverPanel(page, "lee", "lead/Contoso Coffee renewal");
  await panel.getByRole("button", { name: "Share: read only", exact: true }).click();
  await page
    .locator("#status", { hasText: "Shared lead Contoso Coffee renewal with Lee Morgan (read only): the bot sent nothing" })
    .waitFor({ timeout: 30_000 });
  const now = await worldNow();
  const renewal = now.records.find((r) => r.name === "Contoso Coffee renewal");
  assert.ok(renewal.read.includes("lee"), "the share happened");
  const lee = now.users.find((u) => u.key === "lee");
  assert.equal(lee.app_installed, false, "nobody installed the app to reach Lee");
  const posted = await (await fetch(`${world.sandbox.url}/_sandbox/conversations/${encodeURIComponent(lee.conversation_id)}/activities`)).json();
  assert.deepEqual(posted, [], "no card for a read-only share");
  // The panel's list of Lee's records follows the share.
  await page
    .locator('.person-item[data-user="lee"] .roles li', { hasText: "Contoso Coffee renewal" })
    .locator(".role-read")
    .waitFor({ timeout: 10_000 });
  await screenshot(page, "offer-04-read-share-silent");
  assert.deepEqual(page.errors, []);
});
