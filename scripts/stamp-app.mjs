// Writes www/app-version.js: the app's version (a hash of every file it is made of) and
// the list of those files, which the service worker keeps for offline starts. A new
// version is what makes installed apps offer the update. scripts/build-pkg.sh runs it.
import { createHash } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const www = join(root, "www");
const OUTPUT = "app-version.js";
const PACKAGE_FILES = ["pkg/phantom_sync.js", "pkg/phantom_sync_bg.wasm"];

async function files(dir) {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? files(path) : [path];
  }));
  return nested.flat();
}

const shell = [
  ...(await files(www)).filter((path) => relative(www, path) !== OUTPUT),
  ...PACKAGE_FILES.map((path) => join(root, path)),
].sort();
const hash = createHash("sha256");
for (const path of shell) {
  hash.update(relative(root, path));
  hash.update(await readFile(path));
}
const version = hash.digest("hex").slice(0, 16);
// The worker itself is checked for updates by the browser, not kept in the cache.
const urls = ["./", OUTPUT, ...shell.map((path) => relative(www, path)).filter((path) => path !== "sw.js")];
await writeFile(join(www, OUTPUT), `// Written by scripts/stamp-app.mjs; do not edit.
self.APP_VERSION = ${JSON.stringify(version)};
self.APP_SHELL = ${JSON.stringify(urls, null, 2)};
`);
console.log(`app version ${version}, ${urls.length} files for offline starts`);
