// The training frameworks a plan may name (docs/frameworks.md): the core keeps each one's defaults; the Plan
// form and the wizard only offer the names.

import type { Framework } from "./bindings";

/** The default first. */
export const FRAMEWORKS: readonly Framework[] = [
  "hf_trainer",
  "trl",
  "axolotl",
  "llama_factory",
  "litgpt",
  "torchtune",
  "ms_swift",
  "unsloth",
  "plain",
];
