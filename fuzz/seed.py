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
