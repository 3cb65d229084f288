// Texts the backend sends as message keys with arguments (src-tauri/core/src/message.rs): alerts and
// recommendations, doctor findings, preset costs, Plan suggestions, built-in descriptions, desktop notifications
// and exported charts' labels. The wordings live in backend.en.json and backend.ja.json, the one table the UI
// and the Rust core both read: the core embeds them to write what the window does not show (notifications,
// chart files; src-tauri/core/src/i18n.rs). The key list with each key's arguments is generated from Rust into
// backend-keys.json; i18n.test.ts checks that both languages have every key with exactly its arguments as
// placeholders. Arguments arrive formatted for the active locale (sizes, counts, durations: lib/messageText.ts).

import enTable from "./backend.en.json";
import jaTable from "./backend.ja.json";

export const en = enTable;

export const ja: Record<keyof typeof en, string> = jaTable;
