// An embedder written in TypeScript against the package's generated declarations
// (`pkg/phantom_sync.d.ts`): `tsc` must accept it. The switch is exhaustive, so a kind
// of event added in Rust without being handled here, or a field renamed, fails the build.
import {
  SyncManager,
  type SyncEvent,
  type MessageView,
  type DeviceView,
  type PairingState,
  type PairingOutcome,
  type FailureReason,
} from "../../pkg/phantom_sync.js";

function describe(event: SyncEvent): string {
  switch (event.type) {
    case "message":
      return `${event.senderName} (${event.sender}) at ${new Date(event.sentAt).toISOString()}: ${event.body}`;
    case "read_state":
      return `${event.conversationId}: ${event.unread} unread`;
    case "contact_added":
      return `new contact ${event.displayName}`;
    case "roster_changed":
    case "roster_disputed":
      return `${event.personaKey} at epoch ${event.epoch}`;
    case "device_linked":
      return `device ${event.name} since ${event.addedAt}`;
    case "revoked":
      return "this device was removed";
    case "history_offered":
    case "history_channel_requested":
    case "history_channel_accepted":
      return `history transfer ${event.transferId}`;
    case "history_progress": {
      const left = event.secondsRemaining === undefined ? "" : `, ${Math.ceil(event.secondsRemaining)} s left`;
      return `${event.via}: ${event.messagesDone}/${event.messagesTotal}${left}`;
    }
    case "conflict":
      return `conflicting copy of ${event.id}`;
    case "history_channel_failed":
    case "refused":
      return `${event.code}: ${event.message}`;
    case "gap":
      return `${event.missing.length} missing in ${event.conversationId}`;
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export async function follow(manager: SyncManager): Promise<string[]> {
  const events: SyncEvent[] = await manager.syncMessages(1000);
  const devices: DeviceView[] = manager.devices();
  const sent: MessageView = await manager.sendText(devices[0]?.deviceId ?? "", "hi");
  const stats = manager.networkStats();
  const waiting = manager.outboxSize();
  const next: number | undefined = manager.pollTimeout;
  return [
    ...events.map(describe),
    sent.body,
    `${stats.stored + stats.notStored} puts, ${waiting.envelopes} waiting, next in ${next ?? "—"} ms`,
    ...manager.conversations().map((c) => `${c.title}: ${c.lastBody ?? ""}`),
  ];
}

// The pairing's strings are unions too: a state added in Rust and not here fails the build.
function linkStep(manager: SyncManager): string {
  const state: PairingState = manager.state;
  switch (state) {
    case "idle":
      return "not linking";
    case "inviting":
    case "negotiating":
    case "awaiting_approval":
    case "transferring":
      return `linking: ${state}`;
    case "completed":
      return "linked";
    case "failed": {
      const reason: FailureReason | undefined = manager.failureReason;
      return `failed: ${reason ?? "unknown"}`;
    }
    case "cancelled":
      return "cancelled";
    default: {
      const unhandled: never = state;
      return unhandled;
    }
  }
}

export async function deliver(manager: SyncManager, bytes: Uint8Array): Promise<string> {
  const outcome: PairingOutcome = await manager.receive(bytes);
  return outcome === "request_received" ? `asked by ${manager.wordChoice?.deviceName}` : linkStep(manager);
}
