# Display side of the IHD: view model, display loop, screens, widgets, fonts, input.
# See docs/ui.md.
