// The Environment view's logic, kept out of the component so it can be tested alone.

import type { Fix, IpcError, Profile, ProfileSummary, ProfileView, Severity } from "../../lib/bindings";
import type { MessageKey } from "../../lib/i18n";

/** One row of the profile form; `unset` rows remove the variable from the run's environment. */
export interface FormRow {
  name: string;
  value: string;
  unset: boolean;
}

export interface ProfileForm {
  name: string;
  description: string;
  purpose: Profile["purpose"];
  rows: FormRow[];
}

export function formOf(view: ProfileView, name = view.name): ProfileForm {
  return {
    name,
    description: view.description,
    purpose: view.purpose,
    rows: view.variables.map((v) => ({ name: v.name, value: v.value ?? "", unset: v.value === null })),
  };
}

export function profileOf(form: ProfileForm): Profile {
  return {
    name: form.name.trim(),
    description: form.description,
    purpose: form.purpose,
    variables: form.rows.map((r) => ({ name: r.name.trim(), value: r.unset ? null : r.value })),
  };
}

export function profileFromView(view: ProfileView): Profile {
  return profileOf(formOf(view));
}

export const SEVERITY_ORDER: Severity[] = ["error", "warning", "info"];

/** The fix button's label key and values. */
export function fixLabel(fix: Fix, profile: string): { key: "env.fix.set" | "env.fix.unset"; values: Record<string, string> } {
  return fix.action === "set"
    ? { key: "env.fix.set", values: { variable: fix.variable, value: fix.value, profile } }
    : { key: "env.fix.unset", values: { variable: fix.variable, profile } };
}

/** The message key that names a profile's purpose (production, debug, other). */
export const purposeKey = (p: ProfileSummary["purpose"]) => `env.purpose.${p}` as MessageKey;
