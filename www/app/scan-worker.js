// Reads QR codes off the main thread: camera.js hands each camera frame's pixels here,
// while the page goes on drawing and answering. Where the browser has its own QR reader
// (BarcodeDetector: Chrome on Android and macOS, Safari), it reads first, natively; the
// wasm reader reads what it did not, and says where a code not read yet lies.
import init, { SyncManager } from "../../pkg/phantom_sync.js";

const ready = init();

/** The browser's QR reader, or null where it has none (Chromium and Firefox on Linux). */
const nativeReader = (async () => {
  try {
    if (!("BarcodeDetector" in self)) return null;
    const formats = await self.BarcodeDetector.getSupportedFormats();
    return formats.includes("qr_code") ? new self.BarcodeDetector({ formats: ["qr_code"] }) : null;
  } catch {
    return null;
  }
})();

self.onmessage = async ({ data: { width, height, pixels } }) => {
  const detector = await nativeReader;
  if (detector) {
    try {
      const found = await detector.detect(new ImageData(new Uint8ClampedArray(pixels), width, height));
      const codes = found.map((code) => code.rawValue).filter(Boolean);
      if (codes.length > 0) {
        self.postMessage({ codes });
        return;
      }
    } catch {
      // The native reader failing on a frame leaves it to the wasm one.
    }
  }
  await ready;
  let look = {};
  try {
    look = SyncManager.lookAtFrame(width, height, new Uint8Array(pixels));
  } catch {
    // A frame the reader refuses (a size it cannot take) is skipped like an empty one.
  }
  self.postMessage(look);
};
