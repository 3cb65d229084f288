// End to end: the app in Japanese. Texts the backend makes (alerts, recommendations, a built-in profile's
// description) must arrive in Japanese too, the status pill must stay one line, and Settings must name the
// system locale instead of showing "en_US.UTF-8".

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openApp } from "./webdriver.mjs";

let win;
let session;

before(async () => {
  win = await openApp("japanese", {
    prepare: ({ configDir }) => {
      mkdirSync(configDir, { recursive: true });
      writeFileSync(join(configDir, "settings.json"), JSON.stringify({ version: 1, data: { language: "ja" } }));
    },
  });
  session = win.session;
});

after(() => win?.close());

const js = (body) => session.execute(body);
const screenshot = async (name) => {
  const dir = process.env.HEADROOM_SCREENSHOT_DIR;
  if (dir) writeFileSync(join(dir, name), Buffer.from(await session.screenshot(), "base64"));
};
const textOf = (testid) =>
  js(`return [...document.querySelectorAll('[data-testid="${testid}"]')].map((e) => e.textContent.replace(/\\s+/g, ' ').trim())`);

describe("the app in Japanese", () => {
  it("shows the demo's alert and recommendations in Japanese, with the status pill on one line", async () => {
    await session.until(
      () => js("return document.querySelector('[data-view=\"monitor\"]')?.textContent.trim()"),
      (t) => t === "モニター",
      "Japanese navigation",
    );
    await session.click(await session.find('[data-testid="show-demo"]'));
    await session.find('[data-testid="gpu-card"]');
    await js("const s = document.querySelector('[data-testid=\"scenario\"]'); s.value = 'oom'; s.dispatchEvent(new Event('change', {bubbles: true}));");
    const alerts = await session.until(() => textOf("alert"), (a) => a.length > 0, "an alert", 30000);
    assert.match(alerts[0], /GPU \d のメモリが(少なくなっています|ほぼ満杯です)（(警告|危険)、使用率 \d+\.\d%）/, alerts[0]);
    const recs = await session.until(() => textOf("recommendation"), (r) => r.length > 0, "a recommendation", 20000);
    // Every recommendation is the backend's message in Japanese, none its English.
    for (const r of recs) {
      assert.match(r, /[ぁ-んァ-ン]/, r);
      assert.doesNotMatch(r, /grew by|holds .* and has been idle|expandable segments let|take about a quarter/, r);
    }
    const pills = await js(
      "return [...document.querySelectorAll('[data-testid=\"gpu-status\"]')].map((c) => { const r = c.getBoundingClientRect(); return {text: c.textContent.trim(), w: r.width, h: r.height}; })",
    );
    assert.ok(pills.length > 0);
    for (const p of pills) assert.ok(p.w > p.h && p.h < 30, `a one-line pill: ${JSON.stringify(p)}`);
    await js("document.querySelector('[data-testid=\"alerts\"]').scrollIntoView()");
    await screenshot("japanese-monitor.png");
  });

  it("describes a built-in environment profile in Japanese", async () => {
    await session.click(await session.find('[data-view="environment"]'));
    const description = await session.until(
      () => js("return document.querySelector('[data-testid=\"profile-description\"]')?.textContent ?? ''"),
      (t) => t !== "",
      "the profile's description",
    );
    assert.match(description, /^学習の実行用/);
  });

  it("shows the Plan's suggestions, why a preset does not apply and the notes in Japanese, notes with code spans", async () => {
    await session.click(await session.find('[data-view="plan"]'));
    await session.sendKeys(await session.find('[data-testid="model-search"]'), "llama-3.1-8b");
    await session.click(await session.find('option[value="meta-llama/Llama-3.1-8B"]'));
    await session.find('[data-testid="ranked"]', 20000);
    // QLoRA (the form's default) does not apply to presets that are not 4-bit: the reason, and each preset's
    // cost, are the backend's messages in Japanese.
    const reasons = await js("return [...document.querySelectorAll('[data-testid=\"ranked\"] td[title]')].map((td) => td.title)");
    assert.ok(reasons.some((r) => r.includes("このプリセットは 4 ビットではありません")), JSON.stringify(reasons));
    assert.ok(reasons.some((r) => r.includes("INT4 は精度を損なうことがあります")), JSON.stringify(reasons));
    assert.ok(!reasons.some((r) => /is not 4-bit|may cost accuracy/.test(r)), JSON.stringify(reasons));
    // Suggestions, when there are any, are the backend's messages in Japanese.
    const suggestions = (await textOf("suggestions")).join(" ");
    assert.doesNotMatch(suggestions, /saves/, suggestions);
    const notes = await js("return document.querySelectorAll('.notes li code').length");
    assert.ok(notes > 0, "the notes' quoted names are code spans");
    assert.equal(await js("return [...document.querySelectorAll('.notes li')].some((li) => li.textContent.includes('`'))"), false);
    // The estimate's notes are the backend's messages in Japanese too.
    const noteTexts = await js("return [...document.querySelectorAll('.notes li')].map((li) => li.textContent.trim())");
    assert.ok(noteTexts.some((n) => n.startsWith("ワークスペース：cuBLAS")), JSON.stringify(noteTexts));
    assert.ok(!noteTexts.some((n) => /^(workspace|caching allocator|band \(|activations):/.test(n)), JSON.stringify(noteTexts));
    await screenshot("japanese-plan.png");
  });

  it("names the system locale in words in Settings", async () => {
    await session.click(await session.find('[data-view="settings"]'));
    const auto = await session.until(
      () => js("return document.querySelector('input[name=\"language\"][value=\"auto\"]')?.parentElement?.textContent.trim() ?? ''"),
      (t) => t !== "",
      "the language choices",
    );
    assert.doesNotMatch(auto, /en_US|UTF-8/, auto);
    assert.match(auto, /英語/, auto);
    await screenshot("japanese-settings.png");
  });
});
