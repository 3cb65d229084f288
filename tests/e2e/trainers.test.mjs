// End to end: trainer configs in the Plan view of the real window (docs/trainers.md). Import a real Axolotl
// config through the open dialog: the form takes its values and the report says what became of each key. Then
// export the plan as a DeepSpeed JSON through the save dialog. HEADROOM_TEST_PICKS answers both dialogs
// (WebDriver cannot drive a system dialog).

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { openApp } from "./webdriver.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const axolotl = join(here, "../fixtures/trainers/axolotl/examples/gemma2/qlora.yml");

let win;
let session;
let exportPath;

before(async () => {
  win = await openApp("trainers", {
    env: ({ home }) => {
      exportPath = join(home, "ds_config.json");
      return { HEADROOM_GPU_SOURCE: "fake:idle", HEADROOM_TEST_PICKS: [axolotl, exportPath].join(":") };
    },
  });
  session = win.session;
});

after(() => win?.close());

const js = (body, args = []) => session.execute(body, args);
const clickButton = (text) =>
  js(`[...document.querySelectorAll("button")].find((b) => b.textContent.trim() === arguments[0]).click()`, [text]);

describe("trainer configs in the Plan view", () => {
  it("imports an Axolotl config into the form and shows its report", async () => {
    await session.click(await session.find('[data-view="plan"]'));
    await session.find('[data-testid="batch"]');
    await clickButton("Import trainer config…");
    const mapped = await session.until(
      () => js(`return document.querySelector('[data-testid="import-mapped"]')?.textContent ?? null`),
      (t) => t !== null,
      "the import report",
    );
    assert.match(mapped, /lora_r → lora\.rank = 32/);
    assert.match(mapped, /base_model → model\.id = google\/gemma-2-9b/);
    const seq = await js(`return document.querySelector('[data-testid="sequence"]')?.value ?? null`);
    assert.equal(seq, "2048");
    assert.match(await js(`return document.querySelector('[data-testid="import-auto"]').textContent`), /bf16/);
    // The backend answers the imported plan: a verdict appears.
    await session.until(
      () => js(`return document.querySelector('[data-testid="verdict"]')?.textContent ?? null`),
      (t) => t !== null && t.length > 0,
      "a verdict for the imported plan",
    );
  });

  it("exports the plan as a DeepSpeed JSON where the save dialog chose", async () => {
    await clickButton("Export DeepSpeed config…");
    await session.until(
      () => js(`return document.querySelector('.hint[role="status"]')?.textContent ?? ""`),
      (t) => t.includes("Config saved to"),
      "the export's status",
    );
    const written = JSON.parse(readFileSync(exportPath, "utf8"));
    assert.equal(written.gradient_accumulation_steps, 4);
    assert.equal(written.train_micro_batch_size_per_gpu, 1);
    assert.equal(written.bf16.enabled, true);
  });
});
