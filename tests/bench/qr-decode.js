// QR decode of camera-like frames of a real link code, in one page: the app's own path
// (camera.js sends frames of up to 1280 pixels across, SyncManager.scanFrame reads them
// with rqrr in wasm, at half size first), the earlier path (frames scaled to 640 wide),
// and two yardsticks on the full frame: zxing-wasm (ZXing-C++ in wasm) and jsQR. The frames are 640×480 and 1280×720, of
// ten kinds: clean, small, rotated, perspective, noisy, low contrast, blurred, motion
// blur, uneven lighting, glare. window.runBenchmark(rounds) returns one row per frame.
import init, { SyncManager } from "../../pkg/phantom_sync.js";
import { prepareZXingModule, readBarcodes } from "/node_modules/zxing-wasm/dist/es/reader/index.js";

const SIZES = [[640, 480], [1280, 720]];
const FRAMES_PER_KIND = 4;
/** How wide camera.js drew frames before it sent up to 1280 pixels. */
const APP_MAX_WIDTH = 640;

/** Deterministic noise, so every reader and every run see the same frames. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

// Each kind: the code's side as a share of the frame's height, and what the camera adds.
const KINDS = {
  clean: { size: 0.6 },
  small: { size: 0.17 },
  rotated: { size: 0.5, angle: 35 },
  perspective: { size: 0.55, tilt: 0.35 },
  noisy: { size: 0.5, noise: 90 },
  "low contrast": { size: 0.5, contrast: [100, 150] },
  blurred: { size: 0.5, blur: 0.0045 },
  "motion blur": { size: 0.5, motion: 0.006 },
  "uneven light": { size: 0.5, shade: [0.25, 1.15] },
  glare: { size: 0.5, glare: 0.45 },
};

// A real invitation's link code and the QR code the app drew for it (link-code.svg): the
// same code in every run, so that runs read the same frames.
const LINK_CODE = "PHSYNC:KBJQCAPV43ULRRKCJMMOLQQLDIEVF72RBXEE2FN6EWS23IYC6WKBA5C2HJZ5D77DUVMPM7TVZ7U5GXKFEBSCTW3MIZT232EPVBWOAJ7CJYJFLC5YCN5XR5BZ5JWIFWJN6R3WTNYAAAAAA2YXGDJQAA7Z4UFGU";

async function linkCodeImage() {
  const image = new Image();
  image.src = new URL("link-code.svg", import.meta.url).href;
  await image.decode();
  return { image, linkCode: LINK_CODE };
}

/** The code's pixels at `side` × `side`, white margin included, as a lookup. */
function codePixels(image, side) {
  const canvas = new OffscreenCanvas(side, side);
  const context = canvas.getContext("2d");
  const margin = Math.round(side * 0.08);
  context.fillStyle = "#fff";
  context.fillRect(0, 0, side, side);
  context.drawImage(image, margin, margin, side - 2 * margin, side - 2 * margin);
  return context.getImageData(0, 0, side, side).data;
}

/**
 * Draws the code through a perspective, as a code held at an angle to the camera: the
 * square maps onto a trapezoid whose top edge is shorter by `tilt` (a projective map, so
 * the code's grid lines stay straight). Each frame pixel is mapped back into the code.
 */
function drawPerspective(data, width, image, box, tilt) {
  const side = Math.round(box.size);
  const code = codePixels(image, side);
  const inset = (side * tilt) / 2;
  const [x0, y0, x1, y1, x2, y2, x3, y3] = [
    box.x + inset, box.y, box.x + side - inset, box.y,
    box.x + side, box.y + side * 0.85, box.x, box.y + side * 0.85,
  ];
  // The unit square onto the corners (Heckbert's closed form).
  const dx1 = x1 - x2; const dx2 = x3 - x2; const dx3 = x0 - x1 + x2 - x3;
  const dy1 = y1 - y2; const dy2 = y3 - y2; const dy3 = y0 - y1 + y2 - y3;
  const den = dx1 * dy2 - dx2 * dy1;
  const g = (dx3 * dy2 - dx2 * dy3) / den;
  const h = (dx1 * dy3 - dx3 * dy1) / den;
  const [a, b, c] = [x1 - x0 + g * x1, x3 - x0 + h * x3, x0];
  const [d, e, f] = [y1 - y0 + g * y1, y3 - y0 + h * y3, y0];
  for (let y = Math.floor(box.y); y < Math.ceil(box.y + side); y++) {
    for (let x = Math.floor(box.x); x < Math.ceil(box.x + side); x++) {
      const [p, q, r, s, t, w] = [a - g * x, b - h * x, x - c, d - g * y, e - h * y, y - f];
      const det = p * t - q * s;
      const u = (r * t - q * w) / det;
      const v = (p * w - r * s) / det;
      if (u < 0 || u >= 1 || v < 0 || v >= 1) continue;
      const source = (Math.floor(v * side) * side + Math.floor(u * side)) * 4;
      const target = (y * width + x) * 4;
      for (let k = 0; k < 3; k++) data[target + k] = code[source + k];
    }
  }
}

/** Averages each row over `length` pixels: the smear of a hand moving sideways. */
function motionBlur(data, width, height, length) {
  const row = new Float32Array(width * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) row[x * 3 + c] = data[(y * width + x) * 4 + c];
    }
    for (let x = 0; x < width; x++) {
      const from = Math.max(0, x - (length >> 1));
      const to = Math.min(width - 1, x + (length >> 1));
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let k = from; k <= to; k++) sum += row[k * 3 + c];
        data[(y * width + x) * 4 + c] = sum / (to - from + 1);
      }
    }
  }
}

function frame(context, image, width, height, look, next) {
  const side = look.size * height;
  const box = {
    x: (width - side) / 2 + (next() - 0.5) * width * 0.15,
    y: (height - side) / 2 + (next() - 0.5) * height * 0.12,
    size: side,
  };
  context.filter = "none";
  context.fillStyle = "#8a8a8a";
  context.fillRect(0, 0, width, height);
  if (!look.tilt) {
    context.save();
    context.translate(box.x + side / 2, box.y + side / 2);
    context.rotate(((look.angle ?? 0) + (next() - 0.5) * 4) * Math.PI / 180);
    if (look.blur) context.filter = `blur(${look.blur * height}px)`;
    const margin = side * 0.08;
    context.fillStyle = "#fff";
    context.fillRect(-side / 2 - margin, -side / 2 - margin, side + 2 * margin, side + 2 * margin);
    context.drawImage(image, -side / 2, -side / 2, side, side);
    context.restore();
  }
  const pixels = context.getImageData(0, 0, width, height);
  const data = pixels.data;
  if (look.tilt) drawPerspective(data, width, image, box, look.tilt);
  if (look.motion) motionBlur(data, width, height, Math.round(look.motion * width) | 1);
  for (let p = 0; p < data.length; p += 4) {
    const x = (p / 4) % width;
    const y = Math.floor(p / 4 / width);
    for (let c = 0; c < 3; c++) {
      let value = data[p + c];
      if (look.contrast) value = look.contrast[0] + (value / 255) * (look.contrast[1] - look.contrast[0]);
      if (look.shade) {
        // A shadow falling across the frame from one corner.
        const t = (x / width + y / height) / 2;
        value *= look.shade[0] + t * (look.shade[1] - look.shade[0]);
      }
      if (look.glare) {
        const dx = (x - (box.x + side * 0.3)) / (side * look.glare);
        const dy = (y - (box.y + side * 0.35)) / (side * look.glare);
        value += 230 * Math.max(0, 1 - Math.hypot(dx, dy));
      }
      if (look.noise) value += (next() - 0.5) * look.noise;
      data[p + c] = Math.max(0, Math.min(255, value));
    }
  }
  return pixels;
}

/** `pixels` as the app's camera view draws them: at most 640 pixels across. */
function asTheAppSees(pixels) {
  const scale = Math.min(1, APP_MAX_WIDTH / pixels.width);
  if (scale === 1) return pixels;
  const full = new OffscreenCanvas(pixels.width, pixels.height);
  full.getContext("2d").putImageData(pixels, 0, 0);
  const small = new OffscreenCanvas(Math.round(pixels.width * scale), Math.round(pixels.height * scale));
  const context = small.getContext("2d", { willReadFrequently: true });
  context.drawImage(full, 0, 0, small.width, small.height);
  return context.getImageData(0, 0, small.width, small.height);
}

function frames(image) {
  const made = [];
  for (const [width, height] of SIZES) {
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext("2d", { willReadFrequently: true });
    for (const [kind, look] of Object.entries(KINDS)) {
      const next = random(kind.length * 7919 + width);
      for (let i = 0; i < FRAMES_PER_KIND; i++) {
        const full = frame(context, image, width, height, look, next);
        made.push({ kind, size: `${width}×${height}`, full, app: asTheAppSees(full) });
      }
    }
  }
  return made;
}

const scan = (pixels) => SyncManager.scanFrame(pixels.width, pixels.height, pixels.data) ?? null;

const READERS = {
  "app (rqrr patched, ≤1280 wide, half size first, second look)": async (frame) => scan(frame.full),
  "before (the same reader, frames scaled to 640 wide)": async (frame) => scan(frame.app),
  "zxing-wasm": async (frame) => (await readBarcodes(frame.full, {
    formats: ["QRCode"],
    tryHarder: true,
    maxNumberOfSymbols: 1,
  }))[0]?.text ?? null,
  // jsQR's default also tries the inverted image, doubling its work; the others do not.
  jsQR: async (frame) => globalThis.jsQR(frame.full.data, frame.full.width, frame.full.height, {
    inversionAttempts: "dontInvert",
  })?.data ?? null,
};

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

window.runBenchmark = async (rounds = 3) => {
  await init();
  prepareZXingModule({
    overrides: {
      locateFile: (path, prefix) => (path.endsWith(".wasm")
        ? "/node_modules/zxing-wasm/dist/reader/zxing_reader.wasm"
        : prefix + path),
    },
    fireImmediately: true,
  });
  const { image, linkCode } = await linkCodeImage();
  const all = frames(image);
  // One read of every frame first: the modules compile and warm up outside the timing.
  for (const read of Object.values(READERS)) await read(all[0]);
  const rows = all.map((frame) => ({ kind: frame.kind, size: frame.size, readers: {} }));
  for (const name of Object.keys(READERS)) {
    for (const row of rows) row.readers[name] = { read: false, times: [] };
  }
  // Reader after reader within each round, so that none gets a warmer machine.
  for (let round = 0; round < rounds; round++) {
    for (const [name, read] of Object.entries(READERS)) {
      for (const [i, frame] of all.entries()) {
        const start = performance.now();
        const text = await read(frame);
        const cell = rows[i].readers[name];
        cell.times.push(performance.now() - start);
        if (round === 0) cell.read = text === linkCode;
      }
    }
  }
  for (const row of rows) {
    for (const cell of Object.values(row.readers)) {
      cell.ms = median(cell.times);
      delete cell.times;
    }
  }
  return rows;
};
