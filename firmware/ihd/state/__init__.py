# Domain state, below the services and above zigbee: what the services write and the UI reads
# (model.py), the one fuel table (fuels.py), the prepayment words both sides use (prepay.py:
# result codes, texts, alert kinds) and the pure rules both sides need (utrn.py).
# Imports only ihd.runtime. docs/architecture.md
