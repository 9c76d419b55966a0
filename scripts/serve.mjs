// A static file server for the demo and the browser tests: the repository root on
// 127.0.0.1, with the MIME types wasm streaming compilation needs.
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const types = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".webmanifest": "application/manifest+json",
};

/** The local DHT network's browser addresses, when scripts/local-network.sh runs one. */
async function networkAddresses() {
  const dir = process.env.PHANTOM_NETWORK;
  const read = async (name) => {
    if (!dir) return [];
    try {
      return (await readFile(join(dir, name), "utf8")).split("\n").filter(Boolean);
    } catch {
      return [];
    }
  };
  return { websocket: await read("addresses"), webrtc: await read("webrtc-addresses") };
}

/**
 * Serves the repository root on `port` (0: any free one). `rewrite(path, body)`, when
 * given, may return another body for a file: the tests use it to publish a new app version.
 */
export function serve(port = 0, rewrite = null) {
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url, "http://localhost").pathname);
    if (path === "/") {
      response.writeHead(302, { location: "/www/" });
      return response.end();
    }
    if (path === "/network.json") {
      response.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      return response.end(JSON.stringify(await networkAddresses()));
    }
    const file = normalize(join(root, path.endsWith("/") ? path + "index.html" : path));
    if (!file.startsWith(root + "/")) {
      response.writeHead(403);
      return response.end();
    }
    try {
      if (!(await stat(file)).isFile()) throw new Error("not a file");
      const stored = await readFile(file);
      const body = rewrite?.(path, stored) ?? stored;
      response.writeHead(200, {
        "content-type": types[extname(file)] ?? "application/octet-stream",
        "cache-control": "no-store",
      });
      response.end(body);
    } catch {
      response.writeHead(404, { "content-type": "text/plain" });
      response.end("not found");
    }
  });
  return new Promise((done) => server.listen(port, "127.0.0.1", () => done(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.PORT ?? 8080);
  const server = await serve(port);
  console.log(`phantom-sync: the app at http://127.0.0.1:${server.address().port}/www/ — three devices side by side at http://127.0.0.1:${server.address().port}/www/demo.html`);
}
