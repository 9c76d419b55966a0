// The camera as a QR scanner: each frame the camera delivers (requestVideoFrameCallback)
// is drawn into a canvas of at most 1280 pixels across, and its pixels go to a Worker,
// where the wasm QR reader decodes them (at half size first); a frame that arrives while
// the Worker is still reading the last one is skipped, so the page never waits on the
// reader.
import { SyncManager } from "../../pkg/phantom_sync.js";
import { fail, h, say } from "./ui.js";

// A small code far away needs the camera's full detail: 640 pixels across lose it.
const MAX_WIDTH = 1280;
/** Where the browser has no requestVideoFrameCallback: about the camera's frame rate. */
const FRAME_INTERVAL_MS = 33;

/**
 * A reader of frames: in a Worker, or on this thread where no Worker can start. Returns
 * `read(width, height, pixels)`, a promise of the code found or null, and `close()`.
 */
function frameReader() {
  let worker = null;
  let pending = null;
  try {
    worker = new Worker(new URL("./scan-worker.js", import.meta.url), { type: "module" });
    worker.onmessage = ({ data }) => pending?.(data.code);
    worker.onerror = () => {
      worker?.terminate();
      worker = null;
      pending?.(null);
    };
  } catch {
    worker = null;
  }
  return {
    read(width, height, pixels) {
      if (!worker) {
        try {
          return Promise.resolve(SyncManager.scanFrame(width, height, new Uint8Array(pixels)) ?? null);
        } catch {
          // A frame the reader refuses (a size it cannot take) is skipped like an empty one.
          return Promise.resolve(null);
        }
      }
      return new Promise((resolve) => {
        pending = resolve;
        worker.postMessage({ width, height, pixels }, [pixels]);
      });
    },
    close: () => worker?.terminate(),
  };
}

/**
 * Shows the camera in `video` and calls `found(text)` with the first QR code it reads.
 * Returns `stop()`; throws the browser's error when there is no camera or no permission.
 */
async function scanWithCamera(video, found) {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } },
    audio: false,
  });
  video.srcObject = stream;
  await video.play();
  // The view takes room only once it shows something: before, errors stay in sight.
  video.closest(".camera")?.classList.add("live");
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const reader = frameReader();
  let timer = null;
  let reading = false;
  let stopped = false;
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    reader.close();
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
    video.closest(".camera")?.classList.remove("live");
  };
  const next = () => {
    if (stopped) return;
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(look);
    else timer = setTimeout(look, FRAME_INTERVAL_MS);
  };
  const look = () => {
    if (stopped) return;
    if (!reading && video.videoWidth > 0) {
      const scale = Math.min(1, MAX_WIDTH / video.videoWidth);
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      const frame = context.getImageData(0, 0, canvas.width, canvas.height);
      reading = true;
      reader.read(frame.width, frame.height, frame.data.buffer).then((code) => {
        reading = false;
        if (stopped || !code) return;
        stop();
        found(code);
      });
    }
    next();
  };
  next();
  return stop;
}

/** Plain words for getUserMedia's errors. */
function cameraProblem(error) {
  switch (error?.name) {
    case "NotAllowedError": return "The camera is not allowed. Allow it in the browser, or paste the link code into the field on this screen.";
    case "NotFoundError": return "This device has no camera. Paste the link code into the field on this screen instead.";
    case "NotReadableError": return "Another app is using the camera. Close it, or paste the link code into the field on this screen.";
    default: return "The camera could not start. Paste the link code into the field on this screen instead.";
  }
}

/**
 * A button that starts the camera in `video` and hands the first code it reads to
 * `found`; the status line says what to point at, or why the camera cannot start.
 * `stop()` turns the camera off (when the screen closes).
 */
export function scanButton(label, video, status, prompt, found) {
  let stopCamera = null;
  const button = h("button", {
    type: "button",
    onclick: async () => {
      button.disabled = true;
      say(status, prompt);
      try {
        stopCamera = await scanWithCamera(video, (code) => {
          stopCamera = null;
          button.disabled = false;
          found(code);
        });
      } catch (error) {
        fail(status, cameraProblem(error));
        button.disabled = false;
      }
    },
  }, label);
  return { button, stop: () => stopCamera?.() };
}
