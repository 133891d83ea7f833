// Builds the web player into ../../uvatar/data/web/: player.js (three.js + Spark + src/player.js, one
// minified IIFE bundle, nothing fetched at run time) and index.html (src/index.html, copied).
// Run: npm ci && npm run build   (from tools/web-player)
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "..", "uvatar", "data", "web");
mkdirSync(out, { recursive: true });
const lock = JSON.parse(readFileSync(join(here, "package-lock.json"), "utf8"));
const version = (name) => lock.packages[`node_modules/${name}`].version;
const banner = `/* UVatar web player (tools/web-player). Bundles three ${version("three")} (MIT, (c) three.js authors) and @sparkjsdev/spark ${version("@sparkjsdev/spark")} (MIT, (c) World Labs / Spark authors), fflate ${version("fflate")} (MIT). */`;
await build({
  entryPoints: [join(here, "src", "player.js")],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  legalComments: "none",
  banner: { js: banner },
  outfile: join(out, "player.js"),
  logLevel: "warning",
});
copyFileSync(join(here, "src", "index.html"), join(out, "index.html"));
const licences = ["three", "@sparkjsdev/spark", "fflate"].map(
  (name) => `${name} ${version(name)}\n${"=".repeat(60)}\n${readFileSync(join(here, "node_modules", name, "LICENSE"), "utf8").trim()}\n`,
);
writeFileSync(join(out, "THIRD_PARTY_LICENSES.txt"), `The web player bundle (player.js) contains:\n\n${licences.join("\n")}`);
writeFileSync(join(out, "VERSIONS.json"), JSON.stringify({ three: version("three"), "@sparkjsdev/spark": version("@sparkjsdev/spark"), fflate: version("fflate"), esbuild: version("esbuild") }, null, 1) + "\n");
console.log(`wrote ${join(out, "player.js")} (${(statSync(join(out, "player.js")).size / 1e6).toFixed(2)} MB) and index.html`);
