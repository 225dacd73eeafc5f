#!/usr/bin/env python3
"""Writes a seed corpus for each fuzz target from the cross-check samples.

Reads the JSON that crates/rsp-asn1/tests/asn1tools/xcheck.py prints ({name: {type, hex}}) on
stdin and writes fuzz/corpus/<target>/<name>.der, so libFuzzer starts from valid messages.
"""
import json
import os
import sys

TARGETS = {
    "EUICCInfo1": ["es9_euicc_info1"],
    "AuthenticateServerResponse": ["es9_authenticate_server_response"],
    "PrepareDownloadResponse": ["es9_prepare_download_response"],
    "PendingNotification": ["es9_pending_notification"],
    "ProfileInstallationResult": ["es9_pending_notification"],
    "CancelSessionResponse": ["es9_cancel_session_response"],
    "AuthenticateServerRequest": ["es10_authenticate_server_request"],
    "PrepareDownloadRequest": ["es10_prepare_download_request"],
    "BoundProfilePackage": ["bound_profile_package", "tlv"],
    "StoreMetadataRequest": ["bound_profile_package"],
    "RemoteProfileProvisioningRequest": ["es9_asn1_binding"],
    "RemoteProfileProvisioningResponse": ["es9_asn1_binding"],
}
ES10 = "es10_commands"

here = os.path.dirname(os.path.abspath(__file__))
samples = json.load(sys.stdin)
count = 0
for name, s in samples.items():
    for target in TARGETS.get(s["type"], [ES10]):
        d = os.path.join(here, "corpus", target)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name + ".der"), "wb") as f:
            f.write(bytes.fromhex(s["hex"]))
        count += 1
        # The ASN.1 binding's samples also come in their X.680 form (xcheck.py binding).
        if s.get("x680", s["hex"]) != s["hex"]:
            with open(os.path.join(d, name + "-x680.der"), "wb") as f:
                f.write(bytes.fromhex(s["x680"]))
            count += 1
d = os.path.join(here, "corpus", "activation_code")
os.makedirs(d, exist_ok=True)
for i, ac in enumerate(["1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$1.3.6.1.4.1.31746$1", "LPA:1$localhost:8443$QR-1"]):
    with open(os.path.join(d, f"ac{i}"), "w") as f:
        f.write(ac)
# REST requests (method 0xFF path 0xFF query 0xFF headers 0xFF body; see rest_api.rs).
d = os.path.join(here, "corpus", "rest_api")
os.makedirs(d, exist_ok=True)
for i, r in enumerate([
    b"\x01\xffESimProfiles\xff\xff\xffEid=89049032123451234512345678901235",
    b"\x01\xffESimProfiles\xff\xff\xffGenerateMatchingId=true&CallbackUrl=http://127.0.0.1:9/cb",
    b"\x00\xffESimProfiles\xffPageSize=1&Status=available\xff\xff",
    b"\x00\xffESimProfiles/{sid}\xff\xff\xff",
    b"\x01\xffESimProfiles/{sid}/Release\xff\xff\xff",
    b"\x00\xffESimProfiles/{sid}/QrCode.svg\xff\xff\xff",
    b"\x00\xffSims\xffPageSize=2\xff\xff",
    b"\x00\xffCharges\xff\xffAuthorization: Bearer nope\xff",
    b"\x01\xffFleets\xff\xff\xffNetworkAccessProfile=lab&UniqueName=f&DataLimit=10",
    b"\x01\xffNetworkAccessProfiles\xff\xff\xffUniqueName=lab",
    b"\x00\xffFleets/f\xff\xff\xff",
    b"\x00\xffSims\xffFleet=f\xff\xff",
    b"\x01\xffSims/x\xff\xff\xffStatus=active&CallbackUrl=http://127.0.0.1:9/cb&Fleet=f",
    b"\x00\xffESimProfiles/Export\xffFormat=open5gs&Status=installed\xff\xff",
    b"\x01\xffSims\xff\xff\xffIccid=89883070000123456789&RegistrationCode=H3LL0W0RLD",
    b"\x01\xff/api-services/v1/auth/token\xff\xff\xffgrant_type=client_credentials&client_id=ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&client_secret=token",
    b"\x01\xff/api-services/v1/auth/revoke\xff\xff\xfftoken=x",
]):
    with open(os.path.join(d, f"req{i}"), "wb") as f:
        f.write(r)
# APDU sequences as lpac sends them (see euicc_apdu.rs), separated by FF FF.
d = os.path.join(here, "corpus", "euicc_apdu")
os.makedirs(d, exist_ok=True)
for i, r in enumerate([
    "81E2910006BF3E035C015A" + "FFFF" + "81C0000015",
    "81E2910003BF2E00FFFF81C0000015FFFF81E2910003BF2000FFFF81C0000040",
    "81E2910003BF2D00FFFF81C0000080",
    "81E2910003BF2800FFFF81E2910003BF3C00FFFF81E2910003BF4300",
    "81E2110002BF31FFFF81E291010F0FA00C5A0A98001010000000000000FFFF81C0000010",
    "0070000001FFFF02A4040010A0000005591010FFFFFFFF8900000100FFFF0070800200",
    "81E2910005BF3603800101",
]):
    with open(os.path.join(d, f"seq{i}"), "wb") as f:
        f.write(bytes.fromhex(r))
    count += 1
# ES9+ over the HTTP layer (see es9_http.rs): method byte, path byte (index into path::ALL:
# initiateAuthentication, authenticateClient, getBoundProfilePackage, handleNotification,
# cancelSession), header lines, 0xFF, the JSON body.
import base64
def b64(h):
    return base64.b64encode(bytes.fromhex(h)).decode()
info1 = next((v["hex"] for v in samples.values() if v["type"] == "EUICCInfo1"), "")
notif = next((v["hex"] for v in samples.values() if v["type"] == "PendingNotification"), "")
asr = next((v["hex"] for v in samples.values() if v["type"] == "AuthenticateServerResponse"), "")
pdr = next((v["hex"] for v in samples.values() if v["type"] == "PrepareDownloadResponse"), "")
csr = next((v["hex"] for v in samples.values() if v["type"] == "CancelSessionResponse"), "")
heads = b"Content-Type: application/json\nX-Admin-Protocol: gsma/rsp/v2.2.0\xff"
d = os.path.join(here, "corpus", "es9_http")
os.makedirs(d, exist_ok=True)
tx = "0123456789ABCDEF0123456789ABCDEF"
for i, (p, body) in enumerate([
    (0, {"euiccChallenge": b64("00" * 16), "euiccInfo1": b64(info1), "smdpAddress": "localhost"}),
    (1, {"transactionId": tx, "authenticateServerResponse": b64(asr)}),
    (2, {"transactionId": tx, "prepareDownloadResponse": b64(pdr)}),
    (3, {"pendingNotification": b64(notif)}),
    (4, {"transactionId": tx, "cancelSessionResponse": b64(csr)}),
]):
    with open(os.path.join(d, f"req{i}"), "wb") as f:
        f.write(bytes([0, p]) + heads + json.dumps(body).encode())
    count += 1
# The TOML files (see config_toml.rs): byte 0 = 0 settings, 1 scenario, 2 fixtures.
d = os.path.join(here, "corpus", "config_toml")
os.makedirs(d, exist_ok=True)
tomls = [
    (0, 'listen = "127.0.0.1:8443"\naddress = "localhost"\nseed = 7\nmax_sessions = 100\n'
        'max_connections = 64\nidle_timeout = 5\naccounts = ["ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:token"]\n'
        'template = "ts48:SAIP2.3_BERTLV"\nhostile = "1:0.5"\nfixtures = "sgp23"\nstore = "sqlite:/tmp/x"\n'),
    (1, '[[fault]]\nfault = "authenticateClient:status=8.2.6/3.8@1"\nmatching_id = "MID-1"\n'),
]
fixtures = os.path.join(here, "..", "fixtures", "sgp23.toml")
with open(fixtures) as f:
    tomls.append((2, f.read()))
for i, (k, t) in enumerate(tomls):
    with open(os.path.join(d, f"toml{i}"), "wb") as f:
        f.write(bytes([k]) + t.encode())
    count += 1
# Pre-installed profile imports (see import_file.rs): CSV and JSON.
d = os.path.join(here, "corpus", "import_file")
os.makedirs(d, exist_ok=True)
eid = "89049032123451234512345678901235"
ki, opc = "000102030405060708090A0B0C0D0E0F", "0F0E0D0C0B0A09080706050403020100"
for i, text in enumerate([
    f"eid,iccid,imsi,ki,opc,spn\n{eid},8988247000001234567,001010000077001,{ki},{opc},Lab\n",
    f"eid,iccid,imsi,ki,opc,spn,sim_unique_name\n{eid},89882470000012345670,001010000077002,{ki},{opc},Lab,sim-1\n"
    f"{eid},8988247000001234568,001010000077003,{ki},{opc},,\n",
    json.dumps([{"eid": eid, "iccid": "8988247000001234567", "imsi": "001010000077001", "ki": ki, "opc": opc}]),
]):
    with open(os.path.join(d, f"batch{i}"), "w") as f:
        f.write(text)
    count += 1
# lpac's stdio driver (see lpac_stdio.rs): one JSON request per line, as lpac sends them.
d = os.path.join(here, "corpus", "lpac_stdio")
os.makedirs(d, exist_ok=True)
def apdu(func, param=""):
    return json.dumps({"type": "apdu", "payload": {"func": func, "param": param}})
for i, lines in enumerate([
    [apdu("connect"), apdu("logic_channel_open", "A0000005591010FFFFFFFF8900000100"),
     apdu("transmit", "81E2910006BF3E035C015A"), apdu("transmit", "81C0000015"),
     apdu("logic_channel_close", "1"), apdu("disconnect")],
    [apdu("connect"), apdu("logic_channel_open", "A0000005591010FFFFFFFF8900000100"),
     apdu("transmit", "81E2910003BF2D00"), apdu("transmit", "81E2910003BF2E00"),
     json.dumps({"type": "progress", "payload": {"code": 0, "message": "x"}}),
     json.dumps({"type": "http", "payload": {"url": "https://x", "tx": "", "headers": []}})],
]):
    with open(os.path.join(d, f"session{i}"), "w") as f:
        f.write("\n".join(lines) + "\n")
    count += 1
# SAIP packages: the TS.48 profiles from the shared folder, when present.
shared = os.environ.get("RSP_SHARED_DIR") or os.path.join(here, "..", "..", "shared")
ts48 = os.path.join(shared, "profiles", "ts48")
if os.path.isdir(ts48):
    d = os.path.join(here, "corpus", "saip_package")
    os.makedirs(d, exist_ok=True)
    for f in sorted(os.listdir(ts48)):
        if f.endswith(".der"):
            with open(os.path.join(ts48, f), "rb") as src, open(os.path.join(d, f), "wb") as dst:
                dst.write(src.read())
                count += 1
print(f"seeded {count} corpus files", file=sys.stderr)
