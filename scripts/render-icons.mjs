// Renders the app's PNG icons from their SVG sources with Debian's Chromium:
// node scripts/render-icons.mjs (run after changing www/icons/*.svg; the PNGs are committed).
import { readFile } from "node:fs/promises";
import { launchChromium } from "../tests/e2e/browser.mjs";

const icons = new URL("../www/icons/", import.meta.url);
const renders = [
  ["icon.svg", "icon-192.png", 192],
  ["icon.svg", "icon-512.png", 512],
  ["icon-maskable.svg", "icon-maskable-512.png", 512],
];

const browser = await launchChromium();
try {
  for (const [source, target, size] of renders) {
    const page = await browser.newPage({ viewport: { width: size, height: size } });
    const svg = await readFile(new URL(source, icons), "utf8");
    await page.setContent(`<style>html,body{margin:0;background:transparent}svg{display:block;width:${size}px;height:${size}px}</style>${svg}`);
    await page.screenshot({ path: new URL(target, icons).pathname, omitBackground: true });
    await page.close();
  }
} finally {
  await browser.close();
}
