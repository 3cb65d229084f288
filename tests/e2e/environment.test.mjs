// End to end: the Environment view in the real webview. A user profile meant for production sets
// CUDA_LAUNCH_BLOCKING=1; the doctor flags it and its fix button unsets it in the profile on disk.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openApp } from "./webdriver.mjs";

let win;
let session;
/** A user profile meant for production that leaks a debug switch. */
let profileFile;

before(async () => {
  win = await openApp("env", {
    prepare: ({ configDir }) => {
      profileFile = join(configDir, "profiles", "training.json");
      mkdirSync(join(configDir, "profiles"), { recursive: true });
      writeFileSync(
        profileFile,
        JSON.stringify({
          version: 1,
          data: {
            name: "training",
            description: "my training runs",
            purpose: "production",
            variables: [
              { name: "CUDA_LAUNCH_BLOCKING", value: "1" },
              { name: "TOKENIZERS_PARALLELISM", value: "false" },
            ],
          },
        }),
      );
    },
  });
  session = win.session;
});

after(() => win?.close());

const shot = async (name) => {
  if (process.env.HEADROOM_E2E_SHOTS) {
    writeFileSync(join(process.env.HEADROOM_E2E_SHOTS, name), Buffer.from(await session.screenshot(), "base64"));
  }
};

describe("the Environment view", () => {
  it("shows the built-in profiles locked, with what each variable does and costs", async () => {
    await session.click(await session.find('[data-view="environment"]'));
    const row = await session.find('[data-testid="profile"] tr[data-variable="CUDA_LAUNCH_BLOCKING"]');
    const text = await session.text(row);
    assert.match(text, /debug only/);
    assert.match(text, /unset/);
    assert.match(text, /CPU\/GPU overlap/);
    const names = await session.execute(
      `return [...document.querySelectorAll("[data-profile]")].map((b) => b.dataset.profile)`,
    );
    assert.deepEqual(names, ["production", "debug", "training"]);
  });

  it("flags a debug variable in a production profile and applies the fix", async () => {
    await session.click(await session.find('[data-profile="training"]'));
    await session.until(
      async () => session.text(await session.find("#profile-title")),
      (t) => t.includes("training"),
      "training selected",
    );
    await session.click(await session.find('[data-testid="doctor-check"]'));
    const finding = await session.find('[data-testid="findings"] [data-variable="CUDA_LAUNCH_BLOCKING"]');
    assert.equal(await session.attribute(finding, "data-severity"), "error");
    assert.match(await session.text(finding), /Error/);
    await new Promise((r) => setTimeout(r, 300));
    await shot("environment.png");
    const fix = await session.find('[data-testid="findings"] [data-variable="CUDA_LAUNCH_BLOCKING"] button.fix');
    assert.equal(await session.text(fix), "Unset CUDA_LAUNCH_BLOCKING in training");
    await session.click(fix);
    await session.until(
      () => session.execute(`return document.querySelector('[data-testid="findings"] [data-variable="CUDA_LAUNCH_BLOCKING"]') === null`),
      (gone) => gone === true,
      "the finding is gone after the fix",
    );
    const saved = JSON.parse(readFileSync(profileFile, "utf8"));
    const blocking = saved.data.variables.find((v) => v.name === "CUDA_LAUNCH_BLOCKING");
    assert.equal(blocking.value, null, "the profile on disk now unsets it");
    const cell = await session.text(await session.find('[data-testid="profile"] tr[data-variable="CUDA_LAUNCH_BLOCKING"]'));
    assert.match(cell, /unset/);
  });

  it("asks before switching profile or leaving the view drops unsaved edits", async () => {
    const button = (text) =>
      session.execute(
        `const b = [...document.querySelectorAll("button")].find((b) => b.textContent.trim() === arguments[0]);
         b.click();`,
        [text],
      );
    await button("Edit");
    await session.fill('input[name="profile-description"]', "edited, not saved");
    await session.click(await session.find('[data-profile="production"]'));
    const ask = await session.find('[role="alertdialog"]');
    assert.match(await session.text(ask), /training has unsaved changes/);
    await button("Keep editing");
    await session.until(
      () => session.execute(`return document.querySelector('[role="alertdialog"]') === null`),
      (gone) => gone === true,
      "the question is gone",
    );
    assert.equal(
      await session.execute(`return document.querySelector('input[name="profile-description"]').value`),
      "edited, not saved",
    );
    // Leaving the view asks too, and goes once the edits are discarded.
    await session.click(await session.find('[data-view="plan"]'));
    await session.find('[role="alertdialog"]');
    assert.equal(await session.attribute(await session.find('[data-view="environment"]'), "aria-selected"), "true");
    await button("Discard changes");
    await session.until(
      async () => session.attribute(await session.find('[data-view="plan"]'), "aria-selected"),
      (selected) => selected === "true",
      "the Plan view is shown",
    );
    const saved = JSON.parse(readFileSync(profileFile, "utf8"));
    assert.equal(saved.data.description, "my training runs", "nothing was saved");
  });
});
