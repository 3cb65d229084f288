// What the Plan view and the trace panel say after exporting a chart: where it went, and, when a chart asked for
// in Japanese came out in English because no Japanese font is installed, why (the backend's note, in the user's
// language).
import type { SavedChart } from "./bindings";
import type { Lang } from "./i18n";
import { messageText } from "./messageText";

export function savedChartText(lang: Lang, saved: string, chart: SavedChart): string {
  return chart.note_message ? `${saved} ${messageText(lang, chart.note_message)}` : saved;
}
