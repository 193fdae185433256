# Prepayment service (docs/prepay.md). The modules, each using the ones before it:
#   account.py  what a meter says and means: its Account, money scaling, answers -> Result
#   ledger.py   what is persisted: rate limit, codes without an answer, top-up log, alert arming
#   service.py  PrepayService, the entry point: follows the meters, alerts, top-up, EC
# The words the screens share (result codes, their texts, alert kinds): ihd/state/prepay.py.
from ihd.runtime.counters import Counters

stats = Counters(
    "prepay",
    ("top_ups", "accepted", "rejected", "no_answer", "bad_check", "locked", "ec_selected",
     "reports", "rejected_source", "alerts", "mode_changes", "bad_scaling"),
)  # fmt: skip
