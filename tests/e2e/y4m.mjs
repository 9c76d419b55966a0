// Y4M video for Chromium's fake camera (--use-file-for-fake-video-capture): RGBA frames
// converted to 4:2:0 YCbCr with full-range BT.601 coefficients (C420jpeg).

/** One RGBA picture as a video of `frames` identical frames. */
export function rgbaToY4m(width, height, rgba, frames = 5) {
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F30:1 Ip A1:1 C420jpeg\n`);
  const luma = Buffer.alloc(width * height);
  const chromaWidth = width / 2;
  const cb = Buffer.alloc((width * height) / 4);
  const cr = Buffer.alloc((width * height) / 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      luma[y * width + x] = clamp(0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2]);
    }
  }
  for (let y = 0; y < height; y += 2) {
    for (let x = 0; x < width; x += 2) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const i = ((y + dy) * width + x + dx) * 4;
        r += rgba[i] / 4;
        g += rgba[i + 1] / 4;
        b += rgba[i + 2] / 4;
      }
      const at = (y / 2) * chromaWidth + x / 2;
      cb[at] = clamp(128 - 0.168736 * r - 0.331264 * g + 0.5 * b);
      cr[at] = clamp(128 + 0.5 * r - 0.418688 * g - 0.081312 * b);
    }
  }
  const frame = Buffer.concat([Buffer.from("FRAME\n"), luma, cb, cr]);
  return Buffer.concat([header, ...Array(frames).fill(frame)]);
}

function clamp(value) {
  return Math.max(0, Math.min(255, Math.round(value)));
}
