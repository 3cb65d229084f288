// End to end: the Runs view in the real webview. A small Python script prints a real PyTorch OOM message
// under fp16 and succeeds under int8 (tests/fixtures/launch/fake_train.py); the launcher relaunches it and the
// timeline shows fp16 ✗ → int8 ✓, the live log the second attempt's output, and the history the run.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { openApp } from "./webdriver.mjs";

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), "../fixtures/launch");
let win;
let session;
let home;

before(async () => {
  // FAKE_OOM_PRESETS is read by the script through the app's environment: die of OOM under fp16 only.
  win = await openApp("runs", { env: { FAKE_OOM_PRESETS: "fp16" } });
  ({ session, home } = win);
});

after(() => win?.close());

const shot = async (name) => {
  if (process.env.HEADROOM_E2E_SHOTS) {
    writeFileSync(join(process.env.HEADROOM_E2E_SHOTS, name), Buffer.from(await session.screenshot(), "base64"));
  }
};

/** Fill the Runs form's input named `name`. */
const fill = (name, value) => session.fill(`input[name="${name}"]`, value);

describe("the Runs view", () => {
  it("starts with an empty history that says what it is for", async () => {
    await session.click(await session.find('[data-view="runs"]'));
    await session.find('[data-testid="chain"] [data-chip="fp16"]');
    const chips = await session.execute(`return [...document.querySelectorAll("[data-chip]")].map((c) => c.dataset.chip)`);
    assert.deepEqual(chips, ["fp16", "int8", "int4", "int4_double", "int4_offload"]);
    assert.match(await session.text(await session.find("section.history")), /No runs yet/);
  });

  it("relaunches an OOM under fp16 with int8 and shows the attempts as a timeline", async () => {
    await fill("command", `python3 ${join(fixtures, "fake_train.py")} --epochs 1`);
    await fill("cwd", fixtures);
    await fill("model", "llama-8b");
    await session.click(await session.find('[data-testid="start"]'));
    await session.until(
      async () => session.text(await session.find('[data-testid="outcome"]')),
      (t) => t === "Succeeded",
      "the run succeeded",
      30000,
    );
    const attempts = await session.execute(
      `return [...document.querySelectorAll('[data-testid="live"] [data-testid="timeline"] [data-preset]')]
         .map((e) => e.dataset.preset + ":" + e.dataset.status)`,
    );
    assert.deepEqual(attempts, ["fp16:bad", "int8:ok"]);
    const timeline = await session.text(await session.find('[data-testid="live"] [data-testid="timeline"]'));
    assert.match(timeline, /OOM \(tried to allocate \d+\.\d\d GiB\)/);
    assert.match(timeline, /relaunch with int8/);
    assert.match(timeline, /measured peak: n\/a/);
    const log = await session.text(await session.find('[data-testid="log"]'));
    assert.match(log, /CUDA out of memory/);
    assert.match(log, /training with preset int8 \(attempt 1\)/);
    // No NVIDIA driver here: the live chart says so instead of drawing zeros.
    const memory = await session.find('[data-testid="memory-na"]');
    assert.match(await session.text(memory), /n\/a: no NVIDIA driver/);
    await shot("runs.png");
  });

  it("refuses an estimate for a model without a saved config, next to the batch size", async () => {
    await fill("command", `python3 ${join(fixtures, "fake_train.py")} --epochs 1`);
    await fill("model", "meta-llama/Llama-3.1-8B");
    await fill("batch_size", "2");
    await fill("sequence_length", "1024");
    await session.click(await session.find('[data-testid="start"]'));
    const field = await session.find('input[name="batch_size"][aria-invalid="true"]');
    assert.ok(field);
    const label = await session.execute(`return document.querySelector('input[name="batch_size"]').closest("label").textContent`);
    assert.match(label, /meta-llama\/Llama-3\.1-8B has no saved config/);
    await shot("runs-estimate-refused.png");
    await fill("batch_size", "");
    await fill("sequence_length", "");
    await fill("model", "llama-8b");
  });

  it("keeps the run in the history and reopens it", async () => {
    const row = await session.find('[data-testid="history"] tbody tr');
    assert.match(await session.text(row), /llama-8b/);
    assert.match(await session.text(row), /fp16 → int8/);
    await fill("history-filter", "qwen");
    await session.until(
      () => session.execute(`return document.querySelectorAll('[data-testid="history"] tbody tr').length`),
      (n) => n === 0,
      "filtered out",
    );
    await fill("history-filter", "llama");
    await session.click(await session.find('[data-testid="history"] tbody tr button'));
    const opened = await session.find('[data-testid="opened"] pre.log');
    await session.until(() => session.text(opened), (t) => /step 0 loss/.test(t), "the log of the last attempt");
  });

  it("cancels a hanging run and leaves no process of its tree behind", async () => {
    const pidFile = join(home, "grandchild.pid");
    await fill("command", `env FAKE_MODE=hang FAKE_PID_FILE=${pidFile} python3 ${join(fixtures, "fake_train.py")}`);
    await fill("model", "qwen-7b");
    await session.click(await session.find('[data-testid="start"]'));
    await session.until(
      async () => session.text(await session.find('[data-testid="log"]')),
      (t) => /ready/.test(t),
      "the script is running",
      30000,
    );
    assert.ok(existsSync(pidFile));
    const grandchild = Number(readFileSync(pidFile, "utf8"));
    await session.click(await session.find('[data-testid="cancel"]'));
    await session.until(
      async () => session.text(await session.find('[data-testid="outcome"]')),
      (t) => t === "Cancelled",
      "the run was cancelled",
      30000,
    );
    const alive = () => {
      try {
        process.kill(grandchild, 0);
        return true;
      } catch {
        return false;
      }
    };
    await session.until(async () => alive(), (a) => a === false, "the grandchild is gone", 15000);
    const statuses = await session.execute(
      `return [...document.querySelectorAll('[data-testid="live"] [data-testid="timeline"] [data-preset]')].map((e) => e.dataset.status)`,
    );
    assert.deepEqual(statuses, ["bad"]);
    assert.match(await session.text(await session.find('[data-testid="live"] [data-testid="timeline"]')), /cancelled/);
  });

  it("puts the estimator's device peak for each preset beside the measured peak", async () => {
    // A LoRA config saved for the model, in the store's own format, as the Presets view saves it.
    const dir = join(home, "config", "model-configs");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "meta-llama--Llama-3.1-8B.json"),
      JSON.stringify({ version: 1, data: { preset: "fp16", task: "train", method: "lora", fallback_chain: ["int8"] } }),
    );
    await fill("command", `python3 ${join(fixtures, "fake_train.py")} --epochs 1`);
    await fill("model", "meta-llama/Llama-3.1-8B");
    await fill("batch_size", "2");
    await fill("sequence_length", "1024");
    await session.click(await session.find('[data-testid="start"]'));
    await session.until(
      async () => session.text(await session.find('[data-testid="outcome"]')),
      (t) => t === "Succeeded",
      "the run with a plan succeeded",
      30000,
    );
    const estimates = await session.execute(
      `return [...document.querySelectorAll('[data-testid="live"] [data-testid="timeline"] [data-preset]')]
         .map((e) => e.dataset.preset + " " + e.querySelector(".figures").textContent)`,
    ).then((list) => list.map((t) => t.replace(/\s+/g, " ").trim()));
    assert.equal(estimates.length, 2);
    assert.match(estimates[0], /^fp16 estimate: \d+\.\d\d GiB measured peak: n\/a/);
    assert.match(estimates[1], /^int8 estimate: \d+\.\d\d GiB measured peak: n\/a/);
    const fp16 = Number(/estimate: (\d+\.\d\d) GiB/.exec(estimates[0])[1]);
    const int8 = Number(/estimate: (\d+\.\d\d) GiB/.exec(estimates[1])[1]);
    // Each preset gets its own figure. Which is lower depends on the plan: without checkpointing, PEFT's fp32
    // upcast around LLM.int8 layers costs more activation memory than 8-bit weights save (docs/estimator.md §6.1).
    assert.ok(int8 > 0 && fp16 > 0 && int8 !== fp16, `int8 ${int8} GiB and fp16 ${fp16} GiB`);
    await shot("runs-estimate.png");
  });

  it("picks a run still going on up again after the window reloads, and follows it to the end", async () => {
    const pidFile = join(home, "reload.pid");
    await fill("command", `env FAKE_MODE=hang FAKE_PID_FILE=${pidFile} python3 ${join(fixtures, "fake_train.py")}`);
    await fill("model", "qwen-7b");
    await fill("batch_size", "");
    await fill("sequence_length", "");
    // The live view still shows the previous test's run until this one starts: wait for another id.
    const previous = await session.execute(`return document.querySelector('[data-testid="live"] h2')?.textContent ?? ""`);
    await session.click(await session.find('[data-testid="start"]'));
    const title = await session.until(
      async () => session.text(await session.find('[data-testid="live"] h2')),
      (t) => /run-/.test(t) && t !== previous,
      "the run started",
      30000,
    );
    const runId = /(run-[0-9-]+)/.exec(title)[1];
    await session.until(
      async () => session.text(await session.find('[data-testid="log"]')),
      (t) => /ready/.test(t),
      "the script is running",
      30000,
    );
    // The webview reloads; the backend's run goes on.
    await session.execute(`window.__beforeReload = true; setTimeout(() => location.reload(), 0);`);
    await session.until(
      () => session.execute(`return window.__beforeReload === undefined && document.readyState === "complete"`),
      (fresh) => fresh === true,
      "the page reloaded",
    );
    await session.click(await session.find('[data-view="runs"]'));
    const live = await session.find('[data-testid="live"]');
    assert.match(await session.text(live), new RegExp(runId));
    assert.equal(await session.text(await session.find('[data-testid="outcome"]')), "Running");
    const log = await session.text(await session.find('[data-testid="log"]'));
    assert.match(log, /training with preset fp16 \(attempt 0\)/);
    assert.match(log, /ready/);
    assert.match(await session.text(await session.find('[data-testid="memory-na"]')), /n\/a: no NVIDIA driver/);
    // Its updates now reach the reloaded page: Cancel ends it and the page hears so.
    await session.click(await session.find('[data-testid="cancel"]'));
    await session.until(
      async () => session.text(await session.find('[data-testid="outcome"]')),
      (t) => t === "Cancelled",
      "the reloaded page saw the run end",
      30000,
    );
  });
});
