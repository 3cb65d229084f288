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

/** `profile` with `fix` applied, as the core's `Profile::with_fix` does: set replaces the variable's value (or
 *  adds it), unset keeps it listed as unset so the run's environment drops it. */
export function withFix(profile: Profile, fix: Fix): Profile {
  const value = fix.action === "set" ? fix.value : null;
  const variables = profile.variables.some((v) => v.name === fix.variable)
    ? profile.variables.map((v) => (v.name === fix.variable ? { ...v, value } : v))
    : [...profile.variables, { name: fix.variable, value }];
  return { ...profile, variables };
}

/** A name for the copy of a locked profile that a fix goes to: `NAME-fixed`, then `NAME-fixed-2`, … the first
 *  not in `taken`. */
export function copyName(name: string, taken: string[]): string {
  const base = `${name}-fixed`;
  if (!taken.includes(base)) return base;
  for (let i = 2; ; i++) if (!taken.includes(`${base}-${i}`)) return `${base}-${i}`;
}
