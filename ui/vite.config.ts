import { defineConfig } from "vitest/config";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// Tauri serves ui/dist; the dev server is only for `tauri dev`. Vitest runs with mode "test" and needs
// Svelte's browser build to mount components in jsdom.
export default defineConfig(({ mode }) => ({
  plugins: [svelte()],
  clearScreen: false,
  // Tests may read the repository's own sources as text (`?raw`): the backend's catalog, whose words the UI's
  // translations must match (src/lib/messages/variables.test.ts).
  server: { port: 5173, strictPort: true, fs: mode === "test" ? { allow: [".."] } : undefined },
  build: { target: "safari15", outDir: "dist", emptyOutDir: true },
  resolve: mode === "test" ? { conditions: ["browser"] } : undefined,
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts"],
  },
}));
