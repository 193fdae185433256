# Board-independent device drivers (display panels). See docs/ui.md.
