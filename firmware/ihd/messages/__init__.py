# Messaging cluster (0x0703) client (docs/messages.md). The modules, each using the one before:
#   store.py    the messages on flash: one atomic file, at most N_MAX, oldest out first
#   service.py  MessageService: Display/Cancel from the meters and the hub, GetLastMessage,
#               MessageConfirmation, start / end times, change of tenancy
from ihd.runtime.counters import Counters

stats = Counters(
    "messages",
    ("received", "shown", "cancelled", "expired", "evicted", "confirmations", "confirm_failed",
     "rejected_source", "interpan_only", "bad_control", "bad_text", "bad_utf8", "bad_start",
     "truncated", "unsynced", "not_found", "bad_store", "cleared"),
)  # fmt: skip
