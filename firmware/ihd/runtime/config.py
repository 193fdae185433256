# Device configuration on flash: a small JSON document written atomically. Unknown keys are kept
# (forward compatible); a corrupt file falls back to defaults with a log line, never a crash.
import json

from ihd.runtime import atomic, log

DEFAULTS = {
    "tenancy_poll_s": 1800,  # docs/tenancy.md: privacy exposure window vs HAN traffic
    "meter_poll_s": 10,  # SE: do not poll faster than 7.5 s
    "gas_poll_s": 900,
    "dim_after_s": 60,
    # Home's daily budget in the money unit (1e-5 GBP: 500000 = GBP 5.00), today's cost
    # against it; None (or not a positive int): no budget shown (docs/ui.md "Home").
    "daily_budget_mp": None,
    "ota_query_s": 86400,
    "ota_start_delay_s": 300,  # random 0..this before the first query after boot
    "ota_block_size": 48,
    # Development switch, off: SE frames without APS encryption are dropped (logged, counted).
    "dev_accept_unencrypted_se": False,
    # Development switch, off: an OTA image without a signature element is refused (a signed
    # one is always checked against the trusted keys, docs/ota.md "Signature").
    "dev_allow_unsigned_ota": False,
}


class Config:
    def __init__(self, path):
        self.path = path
        self.values = dict(DEFAULTS)  # type: dict
        raw = atomic.read(path)
        if raw:
            try:
                stored = json.loads(raw)
                if isinstance(stored, dict):
                    self.values.update(stored)
                else:
                    log.warn("config", "ignoring non-object config")
            except ValueError:
                log.warn("config", "config unreadable, using defaults")

    def get(self, key, default=None):
        return self.values.get(key, DEFAULTS.get(key, default))

    def set(self, key, value, save=True):
        self.values[key] = value
        if save:
            self.save()

    def save(self):
        atomic.write_json(self.path, self.values)
