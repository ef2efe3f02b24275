import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build goes where control/build.rs asks (KUBENOVA_UI_OUT, inside Cargo's OUT_DIR), or to dist/.
// Everything is bundled: no inline script (the CSP is script-src 'self'), no third-party URL.
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: process.env.KUBENOVA_UI_OUT ?? "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    proxy: { "/api": process.env.KUBENOVA_URL ?? "http://127.0.0.1:8080" },
  },
});
