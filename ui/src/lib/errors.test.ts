import { describe, expect, it } from "vitest";
import type { FieldError, IpcError } from "./bindings";
import { errorText, fieldErrorText, fieldOf, messageFor } from "./errors";

// What `headroom_core::Error::invalid_msg("lora.rank", …)` crosses IPC as (src-tauri/src/error.rs).
const keyed: IpcError = {
  code: "invalid",
  message: "lora.rank: must be at least 1",
  field: "lora.rank",
  message_key: { key: "backend.invalid.must_at_least_1", args: {} },
};

const withArgs: IpcError = {
  code: "invalid",
  message: 'profile: no profile named "nope"',
  field: "profile",
  message_key: { key: "backend.invalid.profile.no_profile_named", args: { name: { type: "text", value: '"nope"' } } },
};

describe("an invalid error with a message key", () => {
  it("reads in Japanese with the field's name in front, untranslated", () => {
    expect(errorText("ja", keyed)).toBe("lora.rank: 1 以上である必要があります");
    expect(errorText("ja", withArgs)).toBe('profile: "nope" という名前のプロファイルはありません');
    expect(messageFor(keyed, "ja")).toBe("1 以上である必要があります");
  });

  it("reads in English exactly as the backend's message", () => {
    expect(errorText("en", keyed)).toBe(keyed.message);
    expect(errorText("en", withArgs)).toBe(withArgs.message);
    expect(messageFor(keyed)).toBe("must be at least 1");
  });

  it("falls back to the English for an error without a key, or a key this UI does not know", () => {
    const plain: IpcError = { code: "invalid", message: "plan: some serde words", field: "plan" };
    expect(errorText("ja", plain)).toBe(plain.message);
    const unknown: IpcError = { ...keyed, message_key: { key: "backend.invalid.nope", args: {} } };
    expect(errorText("ja", unknown)).toBe(keyed.message);
    const io: IpcError = { code: "io", message: "a: b" };
    expect(fieldOf(io)).toBeNull();
    expect(errorText("ja", io)).toBe("a: b");
  });
});

describe("a form's field error with a message key", () => {
  it("reads in the person's language", () => {
    const e: FieldError = {
      field: "quantization.load_in_4bit",
      message: "load_in_4bit and load_in_8bit are both true, but only one can be used at the same time",
      message_key: { key: "backend.invalid.preset.load_4bit_load_8bit", args: {} },
    };
    expect(fieldErrorText("ja", e)).toBe("load_in_4bit と load_in_8bit が両方とも true ですが、同時に使えるのは一方だけです");
    expect(fieldErrorText("en", e)).toBe(e.message);
    expect(fieldErrorText("ja", { field: "x", message: "serde words" })).toBe("serde words");
  });
});
