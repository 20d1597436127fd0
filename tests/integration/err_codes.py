"""The error catalogue (common/err_codes.def) as constants for the tests:
EXIT_CONFIG == 3 and so on, and NAMES[3] == "config". Read from the .def
itself, so that the tests and the programs cannot disagree."""
import os
import re

_DEF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "common", "err_codes.def")
NAMES = {}
with open(_DEF) as _f:
    for _m in re.finditer(r'^FL_CODE\((\w+), (\d+), "(\w+)",', _f.read(), re.M):
        _ident, _num, _name = _m.group(1), int(_m.group(2)), _m.group(3)
        NAMES[_num] = _name
        globals()["EXIT_" + _ident.replace("ERR_", "")] = _num
if len(NAMES) < 14:
    raise ImportError("err_codes.py: %s lists %d codes, fewer than expected" % (_DEF, len(NAMES)))
