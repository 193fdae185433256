# The one fuel table. A fuel's index is its position in every per-fuel tuple (Model.fuels, the
# meters service, the history store's meter slots); its key is how config, state files, logs and
# the tenancy watcher name it; the labels are what the screens print. Nothing else maps fuels.
from micropython import const

ELEC = const(0)
GAS = const(1)
EXPORT = const(2)  # the history store's slot for electricity's export (not a fuel: store.py)


class Fuel:
    def __init__(self, index, key, name, short, letter):
        self.index = index
        self.key = key  # "elec" | "gas"
        self.name = name  # "Electricity": titles
        self.short = short  # "Elec": row labels
        self.letter = letter  # "E": 128x64 tags
        self.word = name.lower()  # in sentences: "electricity"


FUELS = (
    Fuel(ELEC, "elec", "Electricity", "Elec", "E"),
    Fuel(GAS, "gas", "Gas", "Gas", "G"),
)
KEYS = tuple(f.key for f in FUELS)


def by_key(key):
    # -> Fuel, or None for a key that names no fuel (input from a file or the HAN).
    for f in FUELS:
        if f.key == key:
            return f
    return None


def index(key):
    # -> the fuel index of a key; ValueError for a key that names no fuel.
    f = by_key(key)
    if f is None:
        raise ValueError("no fuel %r" % (key,))
    return f.index


# Row for a key that names no fuel: blank labels (never printed as if it were a fuel).
UNKNOWN = Fuel(ELEC, "", "", "", "")


def of(key):
    # -> the Fuel for a key, UNKNOWN for any other key (display code: never raises).
    return by_key(key) or UNKNOWN
