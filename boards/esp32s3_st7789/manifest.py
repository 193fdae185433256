# Freeze manifest: the port's own modules plus the IHD firmware package and drivers.
# board.py and main.py stay unfrozen so the wiring can be edited on the device.
include("$(PORT_DIR)/boards/manifest.py")
package("ihd", base_path="../../firmware", opt=2)
package("drivers", base_path="../../firmware", opt=2)
