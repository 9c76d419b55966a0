// The camera as a QR scanner: each frame the camera delivers (requestVideoFrameCallback)
// is drawn into a canvas of at most 1280 pixels across, and its pixels go to a Worker,
// where the wasm QR reader decodes them (at half size first); a frame that arrives while
// the Worker is still reading the last one is skipped, so the page never waits on the
// reader. A code seen but not read yet is outlined over the camera view, with what would
// help read it.
import { SyncManager } from "../../pkg/phantom_sync.js";
import { fail, h, say } from "./ui.js";

// A small code far away needs the camera's full detail: 640 pixels across lose it.
const MAX_WIDTH = 1280;
/** Where the browser has no requestVideoFrameCallback: about the camera's frame rate. */
const FRAME_INTERVAL_MS = 33;

/** What to tell the person when the reader sees a code it cannot read yet. */
const HINTS = {
  move_closer: "A code is in view but too small to read: move the camera closer.",
  hold_still: "A code is in view: hold still while it is read.",
};

/**
 * A reader of frames: in a Worker, or on this thread where no Worker can start. Returns
 * `read(width, height, pixels)`, a promise of what the reader saw (`lookAtFrame`: the
 * code, or where a code not read yet lies), and `close()`.
 */
function frameReader() {
  let worker = null;
  let pending = null;
  try {
    worker = new Worker(new URL("./scan-worker.js", import.meta.url), { type: "module" });
    worker.onmessage = ({ data }) => pending?.(data);
    worker.onerror = () => {
      worker?.terminate();
      worker = null;
      pending?.({});
    };
  } catch {
    worker = null;
  }
  return {
    read(width, height, pixels) {
      if (!worker) {
        try {
          return Promise.resolve(SyncManager.lookAtFrame(width, height, new Uint8Array(pixels)));
        } catch {
          // A frame the reader refuses (a size it cannot take) is skipped like an empty one.
          return Promise.resolve({});
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
 * An outline over the camera view, in the frame's own pixels (the SVG scales as the
 * video does): `show(width, height, corners)` draws it, `hide()` takes it away.
 */
function codeOutline(video) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "code-outline");
  svg.setAttribute("aria-hidden", "true");
  const shape = document.createElementNS(ns, "polygon");
  svg.append(shape);
  video.after(svg);
  return {
    show(width, height, corners) {
      svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
      shape.setAttribute("points", corners.join(" "));
      svg.classList.add("seen");
    },
    hide: () => svg.classList.remove("seen"),
    remove: () => svg.remove(),
  };
}

/**
 * Shows the camera in `video` and calls `found(text)` with the first QR code it reads
 * whose text starts with `prefix`; `hint(text)` is called with advice while a code is in
 * view but not read (and with null when none is). Returns `stop()`; throws the browser's
 * error when there is no camera or no permission.
 */
async function scanWithCamera(video, prefix, found, hint) {
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
  const outline = codeOutline(video);
  let timer = null;
  let reading = false;
  let stopped = false;
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    reader.close();
    outline.remove();
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
      reader.read(frame.width, frame.height, frame.data.buffer).then(({ codes = [], seenAt, hint: advice }) => {
        reading = false;
        if (stopped) return;
        // Another QR code in view (a poster, a web address) is not this screen's.
        const code = codes.find((text) => text.startsWith(prefix));
        if (code) {
          stop();
          found(code);
          return;
        }
        if (seenAt) outline.show(frame.width, frame.height, seenAt);
        else outline.hide();
        hint(HINTS[advice] ?? null);
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
 * A button (`label`) that starts the camera in `video` and hands the first code it reads
 * that starts with `prefix` to `found`; the status line says what to point at (`prompt`),
 * what would help read a code in view, or why the camera cannot start. `stop()` turns the
 * camera off (when the screen closes).
 */
export function scanButton(video, status, { label, prompt, prefix, found }) {
  let stopCamera = null;
  const button = h("button", {
    type: "button",
    onclick: async () => {
      button.disabled = true;
      say(status, prompt);
      try {
        stopCamera = await scanWithCamera(video, prefix, (code) => {
          stopCamera = null;
          button.disabled = false;
          found(code);
        }, (advice) => {
          // Said once per change, not once per frame: the status line is read aloud.
          if (status.textContent !== (advice ?? prompt)) say(status, advice ?? prompt);
        });
      } catch (error) {
        fail(status, cameraProblem(error));
        button.disabled = false;
      }
    },
  }, label);
  return { button, stop: () => stopCamera?.() };
}
