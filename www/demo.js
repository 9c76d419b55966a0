// The demo page: three profiles of the app side by side; reset deletes their vaults.
import init, { SyncManager } from "../pkg/phantom_sync.js";

// The app opens profile NAME as vault `app-NAME` (app/device.js).
const PROFILES = ["app-phone", "app-laptop", "app-grace"];

document.getElementById("reset").addEventListener("click", async () => {
  await init();
  for (const frame of document.querySelectorAll("iframe")) frame.src = "about:blank";
  await Promise.all(PROFILES.map((profile) => SyncManager.deleteProfile(profile)));
  location.reload();
});
