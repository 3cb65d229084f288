// Reading an IpcError in a view. The backend names the field of an `invalid` error in `field`; views ask here
// rather than parsing the message.

import type { IpcError } from "./bindings";

/** The field an `invalid` error is about, as the backend names it (`lora.rank`); null for any other error. */
export function fieldOf(error: IpcError | null): string | null {
  return error && error.code === "invalid" ? (error.field ?? null) : null;
}

/** The message without its field prefix, for showing next to the field. */
export function messageFor(error: IpcError): string {
  const field = fieldOf(error);
  const prefix = `${field}: `;
  return field && error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}
