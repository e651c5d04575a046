// Copies the docs UI's script (Scalar's self-contained browser bundle) into the Worker's static assets,
// so GET /docs loads it from our own origin: no CDN, works offline and in tests.
import { copyFileSync, mkdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
// The package's exports list neither dist/browser nor package.json: find its root from its entry (dist/index.js).
const pkgDir = join(dirname(require.resolve("@scalar/api-reference", { paths: [root] })), "..");
// standalone.js is the UMD build: one file, no chunks loaded at run time (the chunks/ directory
// belongs to the ESM build, which we do not use). It injects its own stylesheet.
const source = join(pkgDir, "dist", "browser", "standalone.js");
const targetDir = join(root, "dist", "web", "vendor", "scalar");
mkdirSync(targetDir, { recursive: true });
copyFileSync(source, join(targetDir, "standalone.js"));
const { version } = require(join(pkgDir, "package.json"));
console.log(`build:docs: @scalar/api-reference ${version} → dist/web/vendor/scalar/standalone.js (${Math.round(statSync(source).size / 1024)} KiB)`);
