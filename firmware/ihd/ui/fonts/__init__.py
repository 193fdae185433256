# Generated bitmap fonts (host_tools/fonts.py).
