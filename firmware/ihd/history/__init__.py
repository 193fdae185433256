# Consumption history store (per meter half-hour intervals + daily totals, encrypted per tenancy
# epoch, keys in a raw flash region outside littlefs). See docs/history.md.
