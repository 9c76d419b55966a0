// QR decode of 640×480 camera frames: phantom-sync's reader (rqrr in wasm, through
// SyncManager.scanFrame) against jsQR on the very same frames, in one page. The frames
// are a real pairing invitation's QR code drawn as a camera would see it: large, small,
// tilted, noisy, low in contrast, blurred. window.runBenchmark(rounds) returns the results.
import init, { SyncManager } from "../../pkg/phantom_sync.js";

const WIDTH = 640;
const HEIGHT = 480;
const FRAMES_PER_KIND = 12;

/** Deterministic noise, so both decoders and every run see the same frames. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const KINDS = {
  large: { size: 300 },
  small: { size: 110 },
  tilted: { size: 260, angle: 25 },
  noisy: { size: 260, noise: 70 },
  "low contrast": { size: 260, dark: 105, light: 150 },
  blurred: { size: 260, blur: 1.6 },
};

async function qrImage() {
  const device = await SyncManager.open("bench-qr", "Bench");
  if (!device.fingerprint) await device.createPersona("Bench");
  const invitation = device.generatePairingInvitation();
  const image = new Image();
  image.src = URL.createObjectURL(new Blob([invitation.svg], { type: "image/svg+xml" }));
  await image.decode();
  return { image, linkCode: invitation.linkCode };
}

function frames(image) {
  const canvas = document.getElementById("frame");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const made = [];
  for (const [kind, look] of Object.entries(KINDS)) {
    const next = random(kind.length * 7919);
    for (let i = 0; i < FRAMES_PER_KIND; i++) {
      context.filter = "none";
      context.fillStyle = "#8a8a8a";
      context.fillRect(0, 0, WIDTH, HEIGHT);
      const x = (WIDTH - look.size) / 2 + (next() - 0.5) * 80;
      const y = (HEIGHT - look.size) / 2 + (next() - 0.5) * 60;
      context.save();
      context.translate(x + look.size / 2, y + look.size / 2);
      context.rotate(((look.angle ?? 0) + (next() - 0.5) * 4) * Math.PI / 180);
      if (look.blur) context.filter = `blur(${look.blur}px)`;
      const margin = look.size * 0.08;
      context.fillStyle = "#fff";
      context.fillRect(-look.size / 2 - margin, -look.size / 2 - margin, look.size + 2 * margin, look.size + 2 * margin);
      context.drawImage(image, -look.size / 2, -look.size / 2, look.size, look.size);
      context.restore();
      const pixels = context.getImageData(0, 0, WIDTH, HEIGHT);
      const data = pixels.data;
      if (look.dark !== undefined) {
        for (let p = 0; p < data.length; p += 4) {
          const v = data[p] < 128 ? look.dark : look.light;
          data[p] = data[p + 1] = data[p + 2] = v;
        }
      }
      if (look.noise) {
        for (let p = 0; p < data.length; p += 4) {
          const n = (next() - 0.5) * look.noise;
          for (let c = 0; c < 3; c++) data[p + c] = Math.max(0, Math.min(255, data[p + c] + n));
        }
      }
      made.push({ kind, rgba: new Uint8ClampedArray(data) });
    }
  }
  return made;
}

const DECODERS = {
  "rqrr (wasm)": (frame) => SyncManager.scanFrame(WIDTH, HEIGHT, frame.rgba) ?? null,
  // jsQR's default also tries the inverted image, doubling its work; rqrr does not invert.
  jsQR: (frame) => globalThis.jsQR(frame.rgba, WIDTH, HEIGHT, { inversionAttempts: "dontInvert" })?.data ?? null,
};

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

window.runBenchmark = async (rounds = 3) => {
  await init();
  const { image, linkCode } = await qrImage();
  const all = frames(image);
  const results = [];
  for (const kind of Object.keys(KINDS)) {
    const set = all.filter((frame) => frame.kind === kind);
    const row = { kind, frames: set.length };
    // Alternate the decoders round by round so neither gets a warmer machine.
    const times = Object.fromEntries(Object.keys(DECODERS).map((name) => [name, []]));
    const read = Object.fromEntries(Object.keys(DECODERS).map((name) => [name, 0]));
    for (let round = 0; round < rounds; round++) {
      for (const [name, decode] of Object.entries(DECODERS)) {
        for (const frame of set) {
          const start = performance.now();
          const text = decode(frame);
          times[name].push(performance.now() - start);
          if (round === 0 && text === linkCode) read[name] += 1;
        }
      }
    }
    for (const name of Object.keys(DECODERS)) {
      row[name] = { read: read[name], medianMs: median(times[name]) };
    }
    results.push(row);
  }
  return results;
};
