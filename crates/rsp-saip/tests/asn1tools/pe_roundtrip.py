"""Second opinion on a SAIP package: Python asn1tools compiles the shared PEDefinitions v3.3.1
module, decodes every ProfileElement of the package on stdin and re-encodes it as DER.

Prints JSON: one entry per element with its alternative name and whether the re-encoding is
byte-identical, plus the values the Rust side reads (header ICCID, EF.ICCID/EF.IMSI/EF.SPN
contents, Ki/OPc), so a test can compare them field by field.
"""
import json
import os
import sys

import asn1tools

shared = os.environ.get("RSP_SHARED_DIR", os.path.join(os.path.dirname(__file__), "../../../../../shared"))
spec = asn1tools.compile_files([os.path.join(shared, "spec/asn1/PEDefinitions-v3.3.1.asn")], "der")

data = sys.stdin.buffer.read()
elements, values = [], {}
off = 0


def first_content(file):
    """fillFileContent before any fillFileOffset, as the Rust reader takes it."""
    for name, v in file:
        if name == "fillFileOffset":
            return None
        if name == "fillFileContent":
            return v.hex().upper()
    return None


while off < len(data):
    value, length = spec.decode_with_length("ProfileElement", data[off:])
    # check_types=False: asn1tools cannot type-check the odd DEFAULT of sqnInit.
    again = spec.encode("ProfileElement", value, check_types=False)
    name, body = value
    elements.append({"name": name, "identical": again == data[off:off + length], "length": length})
    if name == "header":
        values["header_iccid"] = body["iccid"].hex().upper()
    elif name == "mf":
        values["ef_iccid"] = first_content(body["ef-iccid"])
    elif name == "usim":
        values["ef_imsi"] = first_content(body["ef-imsi"])
        values["ef_spn"] = first_content(body["ef-spn"])
    elif name == "akaParameter":
        kind, p = body["algoConfiguration"]
        if kind == "algoParameter":
            values.setdefault("aka", []).append([p["key"].hex().upper(), p["opc"].hex().upper()])
    off += length

json.dump({"elements": elements, "values": values}, sys.stdout)
