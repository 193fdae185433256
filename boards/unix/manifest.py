# Freeze manifest for the 32-bit unix port (host_tools/upy32.py, kind unix32-frozen): asyncio, the
# IHD firmware package and drivers, and every unix board module. main.py stays unfrozen (run by
# path). The manifest tool runs this with the working directory set to boards/unix.
import glob

include("$(MPY_DIR)/extmod/asyncio")
package("ihd", base_path="../../firmware", opt=2)
package("drivers", base_path="../../firmware", opt=2)
for _name in sorted(glob.glob("*.py")):
    if _name != "manifest.py":
        module(_name, opt=2)
