"""hansim: a simulated Silicon Labs EmberZNet NCP (ASH + EZSP v13/v14) and the GB smart-metering
home area network behind it (ESME, GPF, Comms Hub), for testing the IHD/PPMID firmware.

Run: python -m host_tools.hansim --scenario default --tcp 127.0.0.1:0
"""
