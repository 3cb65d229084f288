// A small W3C WebDriver client over fetch, enough to drive the real Headroom window through tauri-driver
// (which forwards to WebKitWebDriver). No browser download, no framework: the protocol is a few JSON calls.

import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
export const KEYS = { ArrowDown: "\uE015", ArrowUp: "\uE013", Enter: "\uE007", Control: "\uE009" };

/** Start tauri-driver on free-ish ports and wait until it answers. The caller must call stop(). */
export async function startDriver({ port, env }) {
  // The driver's (and the app's) output goes to a file, not to our pipes: a process that outlived its test
  // and still held the test runner's stderr would keep the runner waiting forever.
  const logPath = join(tmpdir(), `headroom-e2e-driver-${port}.log`);
  const log = openSync(logPath, "a");
  const child = spawn("tauri-driver", ["--port", String(port), "--native-port", String(port + 1)], {
    env,
    stdio: ["ignore", log, log],
  });
  closeSync(log);
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timedOut = await Promise.race([exited.then(() => false), sleep(3000).then(() => true)]);
    if (timedOut) child.kill("SIGKILL");
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`tauri-driver exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${base}/status`);
      if (res.ok) return { base, pid: child.pid, stop };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  await stop();
  throw new Error("tauri-driver did not start within 10 s");
}

async function request(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(json.value ?? json)}`);
  return json.value;
}

export class Session {
  static async create(base, application) {
    const value = await request("POST", `${base}/session`, {
      capabilities: { alwaysMatch: { browserName: "wry", "tauri:options": { application } } },
    });
    return new Session(`${base}/session/${value.sessionId}`);
  }

  constructor(url) {
    this.url = url;
  }

  delete() {
    return request("DELETE", this.url);
  }

  /** The first element matching `css`, waiting up to `timeout` ms for it to appear. */
  async find(css, timeout = 10000) {
    const deadline = Date.now() + timeout;
    for (;;) {
      try {
        const value = await request("POST", `${this.url}/element`, { using: "css selector", value: css });
        return value[ELEMENT];
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`no element ${css}: ${e.message}`);
        await sleep(100);
      }
    }
  }

  async findAll(css) {
    const values = await request("POST", `${this.url}/elements`, { using: "css selector", value: css });
    return values.map((v) => v[ELEMENT]);
  }

  click(id) {
    return request("POST", `${this.url}/element/${id}/click`, {});
  }

  text(id) {
    return request("GET", `${this.url}/element/${id}/text`);
  }

  attribute(id, name) {
    return request("GET", `${this.url}/element/${id}/attribute/${name}`);
  }

  sendKeys(id, text) {
    return request("POST", `${this.url}/element/${id}/value`, { text });
  }

  execute(script, args = []) {
    return request("POST", `${this.url}/execute/sync`, { script, args });
  }

  /** Set the first input matching `css` to `value` as typing ends up doing, as far as Svelte's bindings can tell
   *  (the value, then an input event): quicker than typing a long path or command key by key. */
  fill(css, value) {
    return this.execute(
      `const el = document.querySelector(arguments[0]);
       el.value = arguments[1];
       el.dispatchEvent(new Event("input", { bubbles: true }));`,
      [css, value],
    );
  }

  /** Resize the window (WebDriver's window rect); the page reflows to the new width. */
  setWindowSize(width, height) {
    return request("POST", `${this.url}/window/rect`, { width, height });
  }

  /** Move the pointer to a point of the viewport: off a control, so no tooltip (a title) is open. */
  movePointer(x, y) {
    return request("POST", `${this.url}/actions`, {
      actions: [{ type: "pointer", id: "mouse", parameters: { pointerType: "mouse" }, actions: [{ type: "pointerMove", x, y, origin: "viewport" }] }],
    });
  }

  screenshot() {
    return request("GET", `${this.url}/screenshot`);
  }

  /** Poll `read` until `check(value)` holds, or fail with the last value seen. */
  async until(read, check, what, timeout = 10000) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
      last = await read();
      if (check(last)) return last;
      if (Date.now() > deadline) throw new Error(`${what}: last saw ${JSON.stringify(last)}`);
      await sleep(100);
    }
  }
}

/**
 * The app (HEADROOM_APP) in a real window on fresh config and data folders, in English: tauri-driver, a
 * session, and `close()`, which ends both and removes the folders. `prepare` may write files first; `env`
 * adds variables for the app (an object, or a function of the folders that returns one).
 */
export async function openApp(label, { env = {}, prepare } = {}) {
  const app = process.env.HEADROOM_APP;
  if (!app) throw new Error("set HEADROOM_APP to the built headroom binary");
  const home = mkdtempSync(join(tmpdir(), `headroom-e2e-${label}-`));
  const dirs = { app, home, configDir: join(home, "config"), dataDir: join(home, "data") };
  const removeHome = () => rmSync(home, { recursive: true, force: true });
  let driver;
  try {
    prepare?.(dirs);
    driver = await startDriver({
      port: Number(process.env.HEADROOM_E2E_PORT ?? 4444),
      env: {
        ...process.env,
        HEADROOM_CONFIG_DIR: dirs.configDir,
        HEADROOM_DATA_DIR: dirs.dataDir,
        // Never the user's own Hugging Face cache: what the app finds there would vary from machine to machine.
        HF_HUB_CACHE: join(home, "hub"),
        LANG: "en_US.UTF-8",
        LC_ALL: "",
        LC_MESSAGES: "",
        ...(typeof env === "function" ? env(dirs) : env),
      },
    });
    const session = await Session.create(driver.base, app);
    const close = async () => {
      await session.delete().catch(() => {});
      await driver.stop();
      await killLeftovers(dirs.configDir);
      removeHome();
    };
    return { ...dirs, session, close };
  } catch (e) {
    await driver?.stop();
    await killLeftovers(dirs.configDir);
    removeHome();
    throw e;
  }
}

/** Pids of the app processes this test started: the ones whose environment names its own config folder. */
export function appPids(configDir) {
  const marker = `HEADROOM_CONFIG_DIR=${configDir}`;
  const pids = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, "latin1").split("\0").includes(marker)) pids.push(Number(entry));
    } catch {
      // gone already, or not ours to read
    }
  }
  return pids;
}

/** Stop, by pid, any app process that outlived its session (SIGTERM, then SIGKILL after 3 s). */
async function killLeftovers(configDir) {
  const signalAll = (signal) => {
    for (const pid of appPids(configDir)) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  };
  signalAll("SIGTERM");
  for (let i = 0; i < 30 && appPids(configDir).length > 0; i++) await sleep(100);
  signalAll("SIGKILL");
}
