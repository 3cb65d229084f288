import { describe, expect, it } from "vitest";
import { format, languageForLocale, messages, translate, type MessageKey } from "./i18n";

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe("translation table", () => {
  const keys = Object.keys(messages.en) as MessageKey[];

  it("has the same keys in every language", () => {
    expect(Object.keys(messages.ja).sort()).toEqual([...keys].sort());
  });

  it("has no empty string and the same placeholders in Japanese", () => {
    for (const key of keys) {
      expect(messages.ja[key].trim(), key).not.toBe("");
      expect(placeholders(messages.ja[key]), key).toEqual(placeholders(messages.en[key]));
    }
  });
});

describe("language choice", () => {
  it.each([
    ["ja_JP.UTF-8", "ja"],
    ["ja-JP", "ja"],
    ["JA", "ja"],
    ["en_US.UTF-8", "en"],
    ["de_DE", "en"],
    [null, "en"],
  ] as const)("%s gives %s", (locale, lang) => {
    expect(languageForLocale(locale)).toBe(lang);
  });
});

describe("format", () => {
  it("fills placeholders and leaves unknown ones visible", () => {
    expect(format("{a} of {b}", { a: 1 })).toBe("1 of {b}");
    expect(translate("ja", "settings.version", { version: "0.1.0" })).toBe("バージョン 0.1.0");
  });
});

import backendKeys from "./messages/backend-keys.json";

describe("backend message keys (generated from src-tauri/core/src/message.rs)", () => {
  it.each(backendKeys.map((k) => [k.key, k.args] as const))("%s is in both languages with its arguments", (key, args) => {
    for (const lang of ["en", "ja"] as const) {
      const text = (messages[lang] as Record<string, string>)[key];
      expect(text, `${lang} ${key}`).toBeTruthy();
      expect([...new Set(placeholders(text ?? ""))], `${lang} ${key}`).toEqual([...args].sort());
    }
  });

  it.each(backendKeys.filter((k) => "en" in k).map((k) => [k.key, (k as { en?: string }).en] as const))(
    "%s: the backend's own English is the UI's English",
    (key, en) => {
      expect((messages.en as Record<string, string>)[key]).toBe(en);
    },
  );

  it("has no backend key the backend cannot send", () => {
    const known = new Set(backendKeys.map((k) => k.key));
    const extra = Object.keys(messages.en).filter((k) => k.startsWith("backend.") && k !== "backend.join" && !known.has(k));
    expect(extra).toEqual([]);
  });
});
