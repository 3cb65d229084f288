// An estimate note as the Plan view shows it: the backend writes code (a preset, a module name) between
// backticks and whole numbers without separators, for the terminal; here code becomes a code span and long
// numbers get the language's thousands separators.

import { formatCount } from "../../lib/format";
import type { Lang } from "../../lib/i18n";

export interface NotePart {
  code: boolean;
  text: string;
}

// Five digits or more, standing alone: not a year, not part of a decimal, a version or an identifier.
const LONG_NUMBER = /(?<![\w.,])\d{5,}(?![\w.,]\d|\w)/g;

export function noteParts(note: string, lang: Lang): NotePart[] {
  return note
    .split("`")
    .map((text, i) => ({ code: i % 2 === 1, text }))
    .filter((p) => p.text !== "")
    .map((p) => (p.code ? p : { code: false, text: p.text.replace(LONG_NUMBER, (n) => formatCount(Number(n), lang)) }));
}
