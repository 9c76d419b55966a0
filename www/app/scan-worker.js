// Reads QR codes off the main thread: camera.js hands each camera frame's pixels here and
// the wasm reader looks for a link code, while the page goes on drawing and answering.
import init, { SyncManager } from "../../pkg/phantom_sync.js";

const ready = init();

self.onmessage = async ({ data: { width, height, pixels } }) => {
  await ready;
  let code = null;
  try {
    code = SyncManager.scanFrame(width, height, new Uint8Array(pixels)) ?? null;
  } catch {
    // A frame the reader refuses (a size it cannot take) is skipped like an empty one.
  }
  self.postMessage({ code });
};
