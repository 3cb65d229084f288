// End to end: the Presets view in the real window. Duplicate the built-in int4, give it a bad max_memory
// limit (the error shows next to the field), fix it, save, check the preview against the exported file, delete
// and undo; then a per-model config on it, with overrides that survive a reload, and the wizard.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KEYS, openApp } from "./webdriver.mjs";

let win;
let session;
let configDir;
/** Where the app's save dialog "chooses" to export (WebDriver cannot drive a system dialog). */
let exportPath;

before(async () => {
  win = await openApp("presets", {
    env: ({ home }) => {
      exportPath = join(home, "mine.bnb.json");
      return { HEADROOM_GPU_SOURCE: "fake:idle", HEADROOM_TEST_PICKS: exportPath };
    },
  });
  ({ session, configDir } = win);
});

after(() => win?.close());

const js = (body) => session.execute(body);
/** Empty an input the way a user selecting all and deleting would, then type into it for real. */
async function typeInto(css, text, index = 0) {
  await js(
    `const el = document.querySelectorAll(${JSON.stringify(css)})[${index}];
     el.focus(); el.value = ""; el.dispatchEvent(new Event("input", { bubbles: true }));`,
  );
  const ids = await session.findAll(css);
  await session.sendKeys(ids[index], text);
}
const textOf = (css) => js(`return document.querySelector(${JSON.stringify(css)})?.textContent ?? null`);
const userPresetFile = (name) => join(configDir, "presets", `${name}.json`);

describe("the Presets view", () => {
  it("lists the built-ins first, locked, and teaches how to make your own", async () => {
    await session.click(await session.find('[data-view="presets"]'));
    await session.find('[data-preset="int4"]');
    const names = await js(`return [...document.querySelectorAll("[data-preset]")].map((b) => b.textContent.trim())`);
    assert.deepEqual(names, ["fp32", "bf16", "fp16", "int8", "int4", "int4_double", "int4_offload", "cpu"]);
    const locked = await js(`return document.querySelectorAll('[data-preset] svg.lock[aria-label^="Built-in"]').length`);
    assert.equal(locked, 8);
    assert.match(await textOf(".list"), /Duplicate one to make your own/);
  });

  it("duplicates int4 into a user preset saved on disk", async () => {
    await session.click(await session.find('[data-preset="int4"]'));
    const bnb = await session.until(() => textOf('[data-preview="bnb"]'), (t) => t !== null, "int4 preview");
    assert.equal(JSON.parse(bnb).bnb_4bit_quant_type, "nf4");
    await session.click(await session.find('[data-action="duplicate"]'));
    await typeInto('[data-field="new-name"]', "mine" + KEYS.Enter);
    await session.until(
      () => js(`return document.querySelector('[data-preset="mine"]')?.getAttribute("aria-current") ?? null`),
      (v) => v === "true",
      "mine selected",
    );
    assert.ok(existsSync(userPresetFile("mine")));
    assert.equal(await js(`return document.querySelector('[data-preset="mine"] svg.lock')`), null);
  });

  it("shows a bad max_memory next to its field, then saves once it is fixed", async () => {
    const addDevice = await js(
      `const b = [...document.querySelectorAll("button")].find((b) => b.textContent.trim() === "Add a device"); b.click(); return !!b`,
    );
    assert.ok(addDevice);
    await typeInto('[data-field="max-memory-device"]', "0");
    await typeInto('[data-field="max-memory-limit"]', "10 apples");
    const error = await session.until(
      () => js(`return document.querySelector('[data-field="max-memory-limit"]').closest(".field").querySelector(".field-error")?.textContent ?? null`),
      (t) => t !== null,
      "max_memory error next to the field",
    );
    assert.match(error, /10 apples.*not a memory size/);
    assert.equal(await js(`return document.querySelector('[data-action="save"]').disabled`), true);

    await typeInto('[data-field="max-memory-limit"]', "10GiB");
    const gib = await session.until(() => textOf(".gib"), (t) => t === "= 10.00 GiB", "GiB beside the limit");
    assert.equal(gib, "= 10.00 GiB");
    assert.equal(await js(`return document.querySelector(".gib").title`), "10,737,418,240 bytes");
    await session.until(() => textOf('[data-preview="kwargs"]'), (t) => t?.includes('"10GiB"'), "kwargs preview");

    const shot = await session.screenshot();
    writeFileSync("/tmp/headroom-presets.png", Buffer.from(shot, "base64"));

    await session.click(await session.find('[data-action="save"]'));
    await session.until(() => textOf('.editor [role="status"]'), (t) => t?.includes("Saved."), "saved notice");
    const onDisk = JSON.parse(readFileSync(userPresetFile("mine"), "utf8"));
    assert.deepEqual(onDisk.data.load.max_memory, { 0: "10GiB" });
  });

  it("exports exactly the bnb JSON the preview shows", async () => {
    // The Export button opens the save dialog, which answers with the path HEADROOM_TEST_PICKS gave the app.
    const preview = await textOf('[data-preview="bnb"]');
    await session.click(await session.find('[data-action="export-bnb"]'));
    await session.until(() => textOf('.editor [role="status"]'), (t) => t?.includes(exportPath), "exported notice");
    assert.equal(readFileSync(exportPath, "utf8"), preview + "\n");
  });

  it("deletes the preset and brings it back with Undo", async () => {
    await session.click(await session.find('[data-action="delete"]'));
    await session.until(() => textOf('.editor [role="status"]'), (t) => t?.includes("Deleted mine."), "deleted notice");
    assert.equal(existsSync(userPresetFile("mine")), false);
    await session.click(await session.find('[data-action="undo"]'));
    await session.find('[data-preset="mine"]');
    assert.ok(existsSync(userPresetFile("mine")));
    const back = JSON.parse(readFileSync(userPresetFile("mine"), "utf8"));
    assert.deepEqual(back.data.load.max_memory, { 0: "10GiB" });
  });

  it("saves a per-model config on the user preset, checked by the backend", async () => {
    await session.click(await session.find('[data-action="new-config"]'));
    await typeInto('[data-field="model_id"]', "meta-llama/Llama-3.1-8B");
    await js(
      `const s = document.querySelector('.configs [data-field="preset"]');
       s.value = "mine"; s.dispatchEvent(new Event("change", { bubbles: true }));`,
    );
    await typeInto('[data-field="lora.rank"]', "0");
    const error = await session.until(
      () => js(`return document.querySelector('[data-field="lora.rank"]').closest("label").querySelector(".field-error")?.textContent ?? null`),
      (t) => t !== null,
      "rank error next to the field",
    );
    assert.match(error, /at least 1/);
    await typeInto('[data-field="lora.rank"]', "8");
    await session.until(
      () => js(`return document.querySelector('[data-action="save-config"]').disabled`),
      (d) => d === false,
      "save enabled",
    );
    await session.click(await session.find('[data-action="save-config"]'));
    await session.find('[data-config="meta-llama/Llama-3.1-8B"]');
    const file = join(configDir, "model-configs", "meta-llama--Llama-3.1-8B.json");
    const saved = JSON.parse(readFileSync(file, "utf8"));
    assert.equal(saved.data.preset, "mine");
    assert.equal(saved.data.method, "qlora");
    assert.equal(saved.data.lora.rank, 8);
    const shot = await session.screenshot();
    writeFileSync("/tmp/headroom-presets-config.png", Buffer.from(shot, "base64"));
  });

  it("overrides max_memory and a BitsAndBytesConfig field for one model, and they survive a reload", async () => {
    const id = "meta-llama/Llama-3.1-8B";
    await session.click(await session.find(`[data-config="${id}"]`));
    const override = (path) =>
      js(`document.querySelector('[data-override="${path}"] [data-action="override"]').click(); return true`);
    // "mine" limits GPU 0 to 10GiB; the override starts from the preset's rows, so change that one to 20GiB.
    assert.equal(await textOf('[data-inherited="overrides.max_memory"]'), "0: 10GiB");
    await override("overrides.max_memory");
    await session.find('.configs [data-field="override-max-memory-limit"]');
    await typeInto('.configs [data-field="override-max-memory-limit"]', "20GiB");
    await override("overrides.quantization.bnb_4bit_use_double_quant");
    await session.click(await session.find('[data-field="overrides.quantization.bnb_4bit_use_double_quant"]'));
    // The effective preset, rendered by the backend: mine's nf4 with double quantization on, 20GiB on GPU 0.
    const bnb = await session.until(
      () => textOf('[data-preview="config-bnb"]'),
      (t) => t !== null && JSON.parse(t).bnb_4bit_use_double_quant === true,
      "effective preview with the override",
    );
    assert.equal(JSON.parse(bnb).bnb_4bit_quant_type, "nf4");
    await session.until(() => textOf('[data-preview="config-kwargs"]'), (t) => t?.includes('"20GiB"'), "kwargs with 20GiB");
    assert.equal(await textOf('.configs .gib'), "= 20.00 GiB");
    writeFileSync("/tmp/headroom-presets-overrides.png", Buffer.from(await session.screenshot(), "base64"));
    await session.click(await session.find('[data-action="save-config"]'));
    // The notice still says "Config saved." from the first save, so wait for the file itself.
    const file = join(configDir, "model-configs", "meta-llama--Llama-3.1-8B.json");
    const overrides = await session.until(
      async () => JSON.parse(readFileSync(file, "utf8")).data.overrides,
      (o) => Object.keys(o ?? {}).length > 0,
      "the overrides on disk",
    );
    assert.deepEqual(overrides, { max_memory: { 0: "20GiB" }, quantization: { bnb_4bit_use_double_quant: true } });

    // A fresh page reads them back from disk: set, and the rest still inherited from mine.
    await js(`window.__beforeReload = true; setTimeout(() => location.reload(), 0); return true`);
    await session.until(
      () => js(`return window.__beforeReload === undefined && document.readyState === "complete"`),
      (fresh) => fresh === true,
      "the page reloaded",
    );
    await session.click(await session.find('[data-view="presets"]'));
    await session.click(await session.find(`[data-config="${id}"]`));
    await session.find('.configs [data-field="override-max-memory-limit"]');
    assert.equal(await js(`return document.querySelector('.configs [data-field="override-max-memory-limit"]').value`), "20GiB");
    assert.equal(await js(`return document.querySelector('.configs [data-field="override-max-memory-device"]').value`), "0");
    assert.equal(
      await js(`return document.querySelector('[data-field="overrides.quantization.bnb_4bit_use_double_quant"]').checked`),
      true,
    );
    assert.equal(await textOf('[data-inherited="overrides.quantization.bnb_4bit_quant_type"]'), "nf4");
    await session.until(
      () => textOf('[data-preview="config-bnb"]'),
      (t) => t !== null && JSON.parse(t).bnb_4bit_use_double_quant === true,
      "effective preview after the reload",
    );
  });

  it("walks the wizard to a saved config, with Back keeping the answers", async () => {
    await session.click(await session.find('[data-action="wizard"]'));
    await typeInto('[data-field="wizard-model"]', "llama-3.2-3b");
    await session.click(await session.find('[data-model="meta-llama/Llama-3.2-3B"]'));
    await session.click(await session.find('[data-action="wizard-next"]'));
    await session.find('[data-task="train"]');
    await session.click(await session.find('[data-action="wizard-back"]'));
    assert.equal(await js(`return document.querySelector('[data-model="meta-llama/Llama-3.2-3B"]').checked`), true);
    await session.click(await session.find('[data-action="wizard-next"]'));
    await session.click(await session.find('[data-action="wizard-next"]'));
    // This machine's GPUs (the fake source) come first, with the memory free right now.
    const machine = await session.until(
      () => js(`return [...document.querySelectorAll('[data-field="wizard-gpu"] option[value^="m:"]')].map((o) => o.textContent.trim())`),
      (o) => o.length > 0,
      "machine GPUs",
    );
    for (const label of machine) assert.match(label, /#\d+ · \d+\.\d\d GiB free of \d+\.\d\d GiB$/);
    assert.equal(await js(`return document.querySelector('[data-field="wizard-gpu"]').value`), "m:0");
    writeFileSync("/tmp/headroom-wizard-hardware.png", Buffer.from(await session.screenshot(), "base64"));
    await js(
      `const s = document.querySelector('[data-field="wizard-gpu"]');
       s.value = "c:H200"; s.dispatchEvent(new Event("change", { bubbles: true }));`,
    );
    await session.click(await session.find('[data-action="wizard-next"]'));
    await session.find("[data-row]");
    const rows = await js(
      `return [...document.querySelectorAll("[data-row]")].map((r) => ({
         preset: r.dataset.row,
         checked: r.querySelector("input").checked,
         peak: r.children[1].textContent.trim(),
         verdict: r.querySelector(".verdict").textContent.trim(),
       }))`,
    );
    // Every preset, the user's own "mine" included, each with an estimate from the backend; those that cannot
    // run this plan are hidden and counted.
    const hidden = Number((await js(`return document.querySelector("[data-hidden-rows]")?.dataset.hiddenRows ?? "0"`)) || 0);
    assert.equal(rows.length + hidden, 9);
    assert.ok(rows.some((r) => r.preset === "mine"));
    // Nothing is preselected: Save waits, and says why; the best (listed first) is one click away.
    assert.equal(rows.filter((r) => r.checked).length, 0);
    assert.equal(await js(`return document.querySelector('[data-action="wizard-save"]').disabled`), true);
    const best = rows[0];
    await session.click(await session.find(`[data-row="${best.preset}"] input`));
    assert.match(best.verdict, /^Fits \(\d+\.\d\d GiB free\)$/);
    assert.match(best.peak, /^\d+\.\d\d GiB$/);
    const shot = await session.screenshot();
    writeFileSync("/tmp/headroom-wizard.png", Buffer.from(shot, "base64"));
    const save = await session.find('[data-action="wizard-save"]');
    assert.equal((await session.text(save)).trim(), "Save as meta-llama/Llama-3.2-3B's config");
    await session.click(save);
    await session.find('[data-config="meta-llama/Llama-3.2-3B"]');
    const file = join(configDir, "model-configs", "meta-llama--Llama-3.2-3B.json");
    const saved = JSON.parse(readFileSync(file, "utf8"));
    assert.equal(saved.data.preset, best.preset);
    assert.equal(saved.data.method, "qlora");
  });
});
