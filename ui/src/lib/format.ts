// Formatting at the edge: bytes stay integers everywhere else (GiB = 2^30 bytes). Numbers and dates follow the
// active language through Intl, from one place, so every view writes them the same way.

import { translate, type Lang } from "./i18n";

const GIB = 2 ** 30;
const MIB = 2 ** 20;
const KIB = 2 ** 10;

/** The BCP 47 locale a language's numbers and dates are written in (day-month-year for English). */
export function localeOf(lang: Lang): string {
  return lang === "ja" ? "ja-JP" : "en-GB";
}

/** "21.37 GiB": GiB with two decimals; below 1 GiB (zero aside) "512.0 MiB", so a small size does not read
 *  "0.00 GiB". */
export function formatGiB(bytes: number): string {
  if (bytes !== 0 && Math.abs(bytes) < GIB) return `${(bytes / MIB).toFixed(1)} MiB`;
  return `${(bytes / GIB).toFixed(2)} GiB`;
}

/** "22,945,263,616 bytes" ("22,945,263,616 バイト"): the exact figure, for tooltips. */
export function formatBytesExact(bytes: number, lang: Lang): string {
  return translate(lang, "unit.bytes", { n: formatCount(Math.round(bytes), lang) });
}

/** A whole number with the language's thousands separators: "1,048,576". */
export function formatCount(n: number, lang: Lang): string {
  return new Intl.NumberFormat(localeOf(lang), { maximumFractionDigits: 0 }).format(n);
}

/** A number with exactly `digits` decimals. */
export function formatNumber(n: number, digits: number, lang: Lang): string {
  return new Intl.NumberFormat(localeOf(lang), {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(n);
}

/**
 * A size in the largest binary unit that keeps it at least 1, so a small size never reads "0.00 GiB":
 * "21.37 GiB", "512.0 MiB", "3.5 KiB", "12 bytes" (the unit word in the language, via `bytesWord`).
 */
export function formatBytes(bytes: number, lang: Lang, bytesWord: (n: string) => string = (n) => `${n} bytes`): string {
  const abs = Math.abs(bytes);
  if (abs >= GIB) return `${formatNumber(bytes / GIB, 2, lang)} GiB`;
  if (abs >= MIB) return `${formatNumber(bytes / MIB, 1, lang)} MiB`;
  if (abs >= KIB) return `${formatNumber(bytes / KIB, 1, lang)} KiB`;
  return bytesWord(formatCount(bytes, lang));
}

type Moment = number | string | Date;

/** A date and time, the one way every view writes them: "7 Dec 2026, 01:05" / "2026/12/07 1:05". */
export function formatDateTime(when: Moment, lang: Lang): string {
  return new Intl.DateTimeFormat(localeOf(lang), { dateStyle: "medium", timeStyle: "short" }).format(new Date(when));
}

/** A date alone: "7 Dec 2026" / "2026/12/07". */
export function formatDate(when: Moment, lang: Lang): string {
  return new Intl.DateTimeFormat(localeOf(lang), { dateStyle: "medium" }).format(new Date(when));
}

/** A time of day with seconds: "01:05:09" / "1:05:09". */
export function formatTime(when: Moment, lang: Lang): string {
  return new Intl.DateTimeFormat(localeOf(lang), { timeStyle: "medium" }).format(new Date(when));
}

/**
 * A system locale such as `en_US.UTF-8` or `ja-JP` as people name it, in the language shown: "American English",
 * "日本語 (日本)". `null` for what names no language (`C`, `POSIX`, empty).
 */
export function localeName(locale: string | null | undefined, lang: Lang): string | null {
  const tag = (locale ?? "").split(/[.@]/)[0]!.replace(/_/g, "-");
  if (!tag || tag === "C" || tag === "POSIX") return null;
  try {
    return new Intl.DisplayNames([localeOf(lang)], { type: "language" }).of(tag) ?? null;
  } catch {
    return null;
  }
}

/**
 * A chart's time-axis label, in the language: seconds when the axis spans two minutes or less, the date too
 * when it spans more than a day ("14:05:09", "14:05", "7 Dec, 14:05").
 */
export function formatAxisTime(when: Moment, spanMs: number, lang: Lang): string {
  const options: Intl.DateTimeFormatOptions =
    spanMs > 86_400_000
      ? { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }
      : spanMs <= 120_000
        ? { hour: "2-digit", minute: "2-digit", second: "2-digit" }
        : { hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(localeOf(lang), options).format(new Date(when));
}
