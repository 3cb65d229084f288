// Every string a person sees, in one table assembled from one module per area (lib/messages/*.ts, so a view
// brings its strings with it). English is the reference; each module types its Japanese as
// Record<keyof typeof en, string>, so a missing key is a compile error, and i18n.test.ts checks that
// placeholders match.

import * as backend from "./messages/backend";
import * as calibration from "./messages/calibration";
import * as presets from "./messages/presets";
import * as environment from "./messages/environment";
import * as monitor from "./messages/monitor";
import * as plan from "./messages/plan";
import * as runs from "./messages/runs";
import * as shell from "./messages/shell";
import * as trace from "./messages/trace";
import * as variables from "./messages/variables";

const en = {
  ...shell.en,
  ...monitor.en,
  ...plan.en,
  ...environment.en,
  ...variables.en,
  ...runs.en,
  ...presets.en,
  ...trace.en,
  ...calibration.en,
  ...backend.en,
} as const;

export type MessageKey = keyof typeof en;
export type Messages = Record<MessageKey, string>;
export type Lang = "en" | "ja";

const ja: Messages = {
  ...shell.ja,
  ...monitor.ja,
  ...plan.ja,
  ...environment.ja,
  ...variables.ja,
  ...runs.ja,
  ...presets.ja,
  ...trace.ja,
  ...calibration.ja,
  ...backend.ja,
};

export const messages: Record<Lang, Messages> = { en, ja };

/** The language for a locale string such as `ja_JP.UTF-8` or `ja-JP`; English for anything else. */
export function languageForLocale(locale: string | null | undefined): Lang {
  return locale?.toLowerCase().startsWith("ja") ? "ja" : "en";
}

/** Fill `{name}` placeholders. A missing value leaves the placeholder visible rather than hiding the gap. */
export function format(template: string, values: Record<string, string | number> = {}): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in values ? String(values[name]) : whole,
  );
}

export function translate(lang: Lang, key: MessageKey, values?: Record<string, string | number>): string {
  return format(messages[lang][key], values);
}
