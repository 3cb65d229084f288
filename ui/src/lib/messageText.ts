// A backend message (key and typed arguments, src-tauri/core/src/message.rs) in the active language: each
// argument formatted for the locale, then the key's template filled. Texts from the backend that come without a
// message (an older backend, a user's own words) are shown as they are.

import type { Message, MessageArg } from "./bindings";
import { formatBytes, formatCount, formatNumber } from "./format";
import { messages, format, type Lang, type MessageKey } from "./i18n";

/** A duration in the largest unit that keeps it at least 1: "45 s", "12 min", "2.5 h". */
export function formatDuration(ms: number, lang: Lang): string {
  const unit = (key: MessageKey, n: string) => format(messages[lang][key], { n });
  const s = ms / 1000;
  if (s < 60) return unit("unit.seconds", formatCount(Math.round(s), lang));
  if (s < 7200) return unit("unit.minutes", formatCount(Math.floor(s / 60), lang));
  return unit("unit.hours", formatNumber(s / 3600, 1, lang));
}

export function formatArg(arg: MessageArg, lang: Lang): string {
  switch (arg.type) {
    case "text":
      return arg.value;
    case "bytes":
      return formatBytes(arg.value, lang, (n) => format(messages[lang]["unit.bytes"], { n }));
    case "count":
      return formatCount(arg.value, lang);
    case "number":
      return formatNumber(arg.value.value, arg.value.digits, lang);
    case "duration_ms":
      return formatDuration(arg.value, lang);
    case "message":
      // A phrase of the sentence (one of its wordings), in the same language.
      return messageText(lang, arg.value, "");
  }
}

/** The message in `lang`; `fallback` (the backend's English) when there is none or its key is unknown. */
export function messageText(lang: Lang, message: Message | null | undefined, fallback = ""): string {
  if (!message || !(message.key in messages[lang])) return fallback;
  const values: Record<string, string> = {};
  for (const [name, arg] of Object.entries(message.args)) {
    if (arg) values[name] = formatArg(arg, lang);
  }
  return format(messages[lang][message.key as MessageKey], values);
}

/** The estimate's `i`th note in `lang`: its message when the backend sent one, else the English note. */
export function noteText(
  lang: Lang,
  estimate: { notes: string[]; note_messages?: Message[] },
  i: number,
): string {
  return messageText(lang, estimate.note_messages?.[i], estimate.notes[i] ?? "");
}

/** Several messages as one sentence, joined the language's way. */
export function messagesText(lang: Lang, list: Message[] | null | undefined, fallback = ""): string {
  if (!list || list.length === 0) return fallback;
  return list.map((m) => messageText(lang, m, "")).join(messages[lang]["backend.join"]);
}

/** A built-in preset's or profile's description in `lang`; a user's own keeps its words. */
export function builtinDescription(
  lang: Lang,
  kind: "preset" | "profile",
  name: string,
  builtin: boolean,
  description: string,
): string {
  const key = `backend.${kind}.${name}`;
  return builtin && key in messages[lang] ? messages[lang][key as MessageKey] : description;
}

/** Why a ranked preset does not apply, in `lang` (Plan and the wizard). */
export function unavailableText(
  lang: Lang,
  row: { unavailable: string | null; unavailable_message?: Message },
): string | null {
  return row.unavailable == null ? null : messageText(lang, row.unavailable_message, row.unavailable);
}

/** What a ranked preset costs in quality or speed, in `lang` (Plan and the wizard). */
export function caveatText(lang: Lang, row: { caveat: string | null; caveat_messages?: Message[] }): string | null {
  return row.caveat == null ? null : messagesText(lang, row.caveat_messages, row.caveat);
}

/** What a catalog variable does or costs, in `lang`: the translation while its English is still the words the
 *  backend sent (lib/messages/variables.ts), else the backend's English. */
export function variableText(lang: Lang, info: { name: string; effect: string; cost: string }, part: "effect" | "cost"): string {
  const key = `env.var.${info.name}.${part}`;
  const translated = key in messages[lang] && messages.en[key as MessageKey] === info[part];
  return translated ? messages[lang][key as MessageKey] : info[part];
}
