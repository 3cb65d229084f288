// Which component draws each view: every view in lib/views.ts has one (the type says so).

import type { Component } from "svelte";
import type { AppModel } from "../lib/app.svelte";
import type { ViewId } from "../lib/views";
import MonitorView from "./monitor/MonitorView.svelte";
import PresetsView from "./presets/PresetsView.svelte";
import SettingsView from "./settings/SettingsView.svelte";
import EnvironmentView from "./environment/EnvironmentView.svelte";
import RunsView from "./runs/RunsView.svelte";
import PlanView from "./plan/PlanView.svelte";

export const VIEW_COMPONENTS: Record<ViewId, Component<{ app: AppModel }>> = {
  monitor: MonitorView,
  presets: PresetsView,
  settings: SettingsView,
  environment: EnvironmentView,
  runs: RunsView,
  plan: PlanView,
};
