// The run started from this window, kept outside the view so it survives switching views: the launcher's
// channel keeps pushing into it while another view is open. A window reload loses it; `attachRun` asks the
// backend for the run still going on and takes its updates from there.

import { api } from "../../lib/api";
import type { RunUpdate, StartRun } from "../../lib/bindings";
import { applyUpdate, emptyRun, runFromSnapshot, type LiveRun } from "./logic";

export const session = $state<{ live: LiveRun | null }>({ live: null });

/** A channel handler that keeps updates until the run they belong to is shown, then folds them in. */
function buffered() {
  let pending: RunUpdate[] = [];
  let current: LiveRun | null = null;
  return {
    onUpdate(update: RunUpdate) {
      // Updates can arrive before the command has returned; keep them until the run is shown.
      if (current) applyUpdate(current, update);
      else pending.push(update);
    },
    show(run: LiveRun) {
      session.live = run;
      // The state proxy, so that later updates redraw the view.
      current = session.live;
      for (const update of pending) applyUpdate(current, update);
      pending = [];
    },
  };
}

/** Start a run; resolves with its id, or rejects with the IpcError naming the field. */
export async function startRun(start: StartRun): Promise<string> {
  const channel = buffered();
  const runId = await api.runsStart(start, channel.onUpdate);
  channel.show(emptyRun(runId));
  return runId;
}

/** Pick up the run going on in the backend when this window has none (it reloaded); resolves with its id,
 *  or null when no run is going on. The view keeps Start disabled meanwhile, so no run of this window's own
 *  can race it. */
export async function attachRun(): Promise<string | null> {
  if (session.live) return session.live.runId;
  const channel = buffered();
  const snapshot = await api.runsAttach(channel.onUpdate);
  if (!snapshot) return null;
  channel.show(runFromSnapshot(snapshot));
  return snapshot.run_id;
}
