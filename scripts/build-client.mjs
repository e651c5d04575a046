// Builds client/ for frontends: ESM JavaScript (esbuild; dependencies stay imports, not bundled) in
// client/dist/index.js, and type declarations (tsc) under client/dist/types. package.json's
// exports["./client"] points at both.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = join(root, "client", "dist");
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: [join(root, "client", "index.ts")],
  outfile: join(outdir, "index.js"),
  bundle: true,
  format: "esm",
  // Neither browser nor Node: the client takes fetch and WebSocket from its options or the globals.
  platform: "neutral",
  target: "es2022",
  // zod, @trpc/client, partysocket…: the app's bundler (or Node) resolves them, once, from node_modules.
  packages: "external",
  sourcemap: true,
  logLevel: "warning",
});

const tsc = spawnSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "client", "tsconfig.build.json")], { stdio: "inherit" });
if (tsc.status !== 0) {
  console.error("build:client: tsc failed");
  process.exit(tsc.status ?? 1);
}
console.log("build:client: client/dist/index.js and client/dist/types");
