// Reading an IpcError in a view. The backend names the field of an `invalid` error in `field`; views ask here
// rather than parsing the message. An error whose reason came as a message key (`message_key`) is shown in the
// person's language, with the field's name (a key name, never translated) in front.

import type { FieldError, IpcError } from "./bindings";
import type { Lang } from "./i18n";
import { messageText } from "./messageText";

/** The field an `invalid` error is about, as the backend names it (`lora.rank`); null for any other error. */
export function fieldOf(error: IpcError | null): string | null {
  return error && error.code === "invalid" ? (error.field ?? null) : null;
}

/** The message without its field prefix, for showing next to the field: in `lang` when it came as a key. */
export function messageFor(error: IpcError, lang: Lang = "en"): string {
  const field = fieldOf(error);
  const prefix = `${field}: `;
  const english = field && error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  return messageText(lang, error.message_key, english);
}

/** The whole error, for a banner or a notice: `field: reason`, the reason in `lang` when it came as a key. */
export function errorText(lang: Lang, error: IpcError): string {
  const field = fieldOf(error);
  if (!field || !error.message_key) return error.message;
  return `${field}: ${messageFor(error, lang)}`;
}

/** A form's field error in `lang` (the preset editor's and the config editor's lists). */
export function fieldErrorText(lang: Lang, error: FieldError): string {
  return messageText(lang, error.message_key, error.message);
}
