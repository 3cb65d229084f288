// The run started from this window, kept outside the view so it survives switching views: the launcher's
// channel keeps pushing into it while another view is open.

import { api } from "../../lib/api";
import type { StartRun } from "../../lib/bindings";
import { applyUpdate, emptyRun, type LiveRun } from "./logic";

export const session = $state<{ live: LiveRun | null }>({ live: null });

/** Start a run; resolves with its id, or rejects with the IpcError naming the field. */
export async function startRun(start: StartRun): Promise<string> {
  let pending: Parameters<Parameters<typeof api.runsStart>[1]>[0][] = [];
  let current: LiveRun | null = null;
  const runId = await api.runsStart(start, (update) => {
    // Updates can arrive before runs_start has returned; keep them until the run is shown.
    if (current) applyUpdate(current, update);
    else pending.push(update);
  });
  session.live = emptyRun(runId);
  current = session.live;
  for (const update of pending) applyUpdate(current, update);
  pending = [];
  return runId;
}
