// The demo page: three profiles of the app side by side; reset deletes their vaults.
import init, { SyncManager } from "../pkg/phantom_sync.js";
import { vaultName } from "./app/device.js";

const PROFILES = ["phone", "laptop", "grace"];

document.getElementById("reset").addEventListener("click", async () => {
  await init();
  for (const frame of document.querySelectorAll("iframe")) frame.src = "about:blank";
  await Promise.all(PROFILES.map((profile) => SyncManager.deleteProfile(vaultName(profile))));
  location.reload();
});
