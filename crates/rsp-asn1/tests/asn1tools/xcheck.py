#!/usr/bin/env python3
"""Second implementation for rsp-asn1's golden bytes.

Builds, with the Python `asn1tools` package and the ASN.1 modules in the shared folder, the same
sample values that `tests/common/mod.rs` builds in Rust (same names, same contents, written
here independently) and prints their DER as JSON: {name: {"type": ..., "hex": ...}}.
The Rust test `asn1tools_xcheck` compares those bytes with rsp-asn1's.

Notes on asn1tools' DER, so values here are given in DER form:
- it does not drop trailing zero bits of named BIT STRINGs: `bits()` builds minimal ones;
- it does not omit DEFAULT values: fields at their default are left out.
"""
import json
import os
import re
import sys

import asn1tools

SHARED = os.environ.get("RSP_SHARED_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "..", "..", "shared"
)
ASN1 = os.path.join(SHARED, "spec", "asn1")

rsp = asn1tools.compile_files(
    [
        os.path.join(ASN1, "PKIX1Explicit88.asn"),
        os.path.join(ASN1, "PKIX1Implicit88.asn"),
        os.path.join(ASN1, "RSPDefinitions-v2.2.asn"),
    ],
    "der",
)


def v25_source():
    """RSPDefinitions v2.5 as asn1tools can compile it: its one information object class
    (OPENTYPE, for VendorSpecificExtension) becomes OBJECT IDENTIFIER / ANY."""
    with open(os.path.join(ASN1, "RSPDefinitions-v2.5.asn")) as f:
        src = f.read()
    src = re.sub(r"OPENTYPE ::= CLASS \{.*?\}\n", "", src, flags=re.S)
    return src.replace("OPENTYPE.&typeId", "OBJECT IDENTIFIER").replace("OPENTYPE.&Type", "ANY")


def sgp32_source():
    """v2.5 with the SGP.32 v1.2 additions transcribed: EUICCInfo2 fields [16]..[20] (with
    IpaMode and IoTSpecificInfo) and StoreMetadataRequest's ecallIndication / fallbackAllowed."""
    src = v25_source()
    info2_end = "additionalEuiccProfilePackageVersions [15] SEQUENCE OF VersionType OPTIONAL\n}"
    assert info2_end in src
    src = src.replace(
        info2_end,
        """additionalEuiccProfilePackageVersions [15] SEQUENCE OF VersionType OPTIONAL,
   ipaMode [16] IpaMode OPTIONAL,
   euiccCiPKIdListForSigningV3 [17] SEQUENCE OF SubjectKeyIdentifier OPTIONAL,
   additionalEuiccInfo [18] OCTET STRING (SIZE(0..32)) OPTIONAL,
   highestSvn [19] VersionType OPTIONAL,
   iotSpecificInfo [20] IoTSpecificInfo OPTIONAL
}
IpaMode ::= INTEGER {ipad(0), ipae(1)}
IoTSpecificInfo ::= SEQUENCE {
   iotVersion [0] SEQUENCE OF VersionType,
   ecallSupported [1] NULL OPTIONAL,
   fallbackSupported [2] NULL OPTIONAL
}""",
    )
    smr_end = re.search(r"serviceSpecificDataNotStoredInEuicc \[35\] VendorSpecificExtension OPTIONAL[^\n]*\n}", src)
    assert smr_end
    src = (
        src[: smr_end.start()]
        + """serviceSpecificDataNotStoredInEuicc [35] VendorSpecificExtension OPTIONAL,
   ecallIndication [123] BOOLEAN OPTIONAL,
   fallbackAllowed [103] BOOLEAN OPTIONAL
}"""
        + src[smr_end.end() :]
    )
    return src


def compile_with(rsp_source):
    files = ["PKIX1Explicit88.asn", "PKIX1Implicit88.asn", "PEDefinitions-v3.3.1.asn"]
    parts = []
    for name in files:
        with open(os.path.join(ASN1, name)) as f:
            parts.append(f.read())
    return asn1tools.compile_string("\n".join(parts + [rsp_source]), "der")


rsp25 = compile_with(v25_source())
rsp32 = compile_with(sgp32_source())

NIST_CI = bytes.fromhex("F54172BDF98A95D65CBEB88A38A1C11D800A85C3")
BRP_CI = bytes.fromhex("C0BC70BA36929D43B467FF57570530E57AB8FCD8")
TXID = bytes.fromhex("0123456789ABCDEF0123456789ABCDEF")
SIG = bytes(range(64))
ICCID = bytes.fromhex("98001032547698103214")  # 89000123456789012341, nibble-swapped
AID = bytes.fromhex("A0000005591010FFFFFFFF8900001000")


def bits(*numbers):
    """A named BIT STRING in DER-minimal form: (bytes, number of bits)."""
    if not numbers:
        return (b"", 0)
    n = max(numbers) + 1
    value = 0
    for b in numbers:
        value |= 1 << (n - 1 - b)
    value <<= (-n) % 8
    return (value.to_bytes((n + 7) // 8, "big"), n)


def otpk(first):
    return bytes([4] + [(first + i) % 256 for i in range(64)])


def cert(rel):
    with open(os.path.join(SHARED, "pki", "sgp26", rel), "rb") as f:
        return rsp.decode("Certificate", f.read())


EUICC_INFO2_FULL = {
    "profileVersion": b"\x02\x03\x00",
    "svn": b"\x02\x02\x00",
    "euiccFirmwareVer": b"\x01\x02\x03",
    "extCardResource": bytes.fromhex("810100820400015F90"),
    "uiccCapability": bits(1, 4, 14, 19, 21),
    "ts102241Version": b"\x09\x02\x00",
    "globalplatformVersion": b"\x02\x03\x00",
    "rspCapability": bits(0, 3),
    "euiccCiPKIdListForVerification": [NIST_CI, BRP_CI],
    "euiccCiPKIdListForSigning": [NIST_CI],
    "euiccCategory": 2,
    "forbiddenProfilePolicyRules": bits(1),
    "ppVersion": b"\x00\x01\x00",
    "sasAcreditationNumber": "GI-BA-UP-0419",
    "certificationDataObject": {
        "platformLabel": "label",
        "discoveryBaseURL": "https://dloa.example",
    },
}
EUICC_INFO2_MIN = {
    "profileVersion": b"\x02\x01\x00",
    "svn": b"\x02\x02\x00",
    "euiccFirmwareVer": b"\x01\x00\x00",
    "extCardResource": bytes.fromhex("8101008204000100"),
    "uiccCapability": bits(1, 4),
    "rspCapability": bits(),
    "euiccCiPKIdListForVerification": [NIST_CI],
    "euiccCiPKIdListForSigning": [NIST_CI],
    "ppVersion": b"\x00\x00\x01",
    "sasAcreditationNumber": "",
}
DEVICE_INFO = {
    "tac": bytes.fromhex("35290611"),
    "deviceCapabilities": {
        "gsmSupportedRelease": b"\x08\x00\x00",
        "utranSupportedRelease": b"\x09\x00\x00",
        "eutranEpcSupportedRelease": b"\x0f\x00\x00",
        "nr5gcSupportedRelease": b"\x0f\x00\x00",
    },
    "imei": bytes.fromhex("3529061100000001"),
}


def ctx_params1(matching_id):
    c = {"deviceInfo": DEVICE_INFO}
    if matching_id is not None:
        c["matchingId"] = matching_id
    return ("ctxParamsForCommonAuthentication", c)


SERVER_SIGNED1 = {
    "transactionId": TXID,
    "euiccChallenge": b"\xe1" * 16,
    "serverAddress": "testsmdpplus1.example.com",
    "serverChallenge": b"\x5c" * 16,
}
EUICC_SIGNED1 = {
    "transactionId": TXID,
    "serverAddress": "testsmdpplus1.example.com",
    "serverChallenge": b"\x5c" * 16,
    "euiccInfo2": EUICC_INFO2_MIN,
    "ctxParams1": ctx_params1("04386-AGYFT-A74Y8-3F815"),
}


def smdp_signed2(cc, with_otpk):
    v = {"transactionId": TXID, "ccRequiredFlag": cc}
    if with_otpk:
        v["bppEuiccOtpk"] = otpk(1)
    return v


NCI_EDD = {"profileManagementOperation": bits(1, 2, 3), "notificationAddress": "smdp.example.com"}
STORE_METADATA_FULL = {
    "iccid": ICCID,
    "serviceProviderName": "GSMA Test",
    "profileName": "Test Profile",
    "iconType": 1,
    "icon": bytes.fromhex("89504E470D0A1A0A"),
    "profileClass": 0,
    "notificationConfigurationInfo": [
        NCI_EDD,
        {"profileManagementOperation": bits(0), "notificationAddress": "smdp.example.com"},
    ],
    "profileOwner": {"mccMnc": bytes.fromhex("00F110"), "gid1": b"\x01", "gid2": b"\x02"},
    "profilePolicyRules": bits(1, 2),
}
# profileClass operational is the DEFAULT: absent in DER.
STORE_METADATA_MIN = {"iccid": ICCID, "serviceProviderName": "Op", "profileName": "P"}

ISC_REQUEST = {
    "remoteOpId": 1,
    "transactionId": TXID,
    "controlRefTemplate": {"keyType": b"\x88", "keyLen": b"\x10", "hostId": b"\x80" * 8},
    "smdpOtpk": otpk(0x40),
    "smdpSign": SIG,
}


def bpp(with_ppk):
    v = {
        "initialiseSecureChannelRequest": ISC_REQUEST,
        "firstSequenceOf87": [bytes.fromhex("F6FE031E4B9CFE87C8E1E62F3FDE85C49412D7722A6A2D89")],
        "sequenceOf88": [b"\x88" * 40, b"\x89" * 200],
        "sequenceOf86": [b"\x86" * 1016, b"\x66" * 24],
    }
    if with_ppk:
        v["secondSequenceOf87"] = [b"\x87" * 72]
    return v


def notification_metadata(seq, op):
    return {
        "seqNumber": seq,
        "profileManagementOperation": bits(op),
        "notificationAddress": "smdp.example.com",
        "iccid": ICCID,
    }


def pir(success):
    if success:
        final = ("successResult", {"aid": AID, "simaResponse": bytes.fromhex("3007A0053003800100")})
    else:
        final = (
            "errorResult",
            {"bppCommandId": 5, "errorReason": 8, "simaResponse": bytes.fromhex("3003A00100")},
        )
    return {
        "profileInstallationResultData": {
            "transactionId": TXID,
            "notificationMetadata": notification_metadata(1, 0),
            "smdpOid": "2.999.10",
            "finalResult": final,
        },
        "euiccSignPIR": SIG,
    }


PROFILE_INFO_FULL = {
    "iccid": ICCID,
    "isdpAid": AID,
    "profileState": 1,
    "profileNickname": "work",
    "serviceProviderName": "GSMA Test",
    "profileName": "Test Profile",
    "iconType": 0,
    "icon": bytes.fromhex("FFD8FFE0"),
    "profileClass": 2,
    "notificationConfigurationInfo": [NCI_EDD],
    "profileOwner": {"mccMnc": bytes.fromhex("00F110")},
    "dpProprietaryData": {"dpOid": "2.999.10"},
    "profilePolicyRules": bits(2),
    "refArDo": [
        {
            "refDo": {"deviceAppIdRefDo": b"\xab" * 20, "pkgRefDo": b"com.example"},
            "arDo": {"permArDo": bytes.fromhex("0000000000000001")},
        }
    ],
}

SAMPLES = {
    "getEuiccInfo1Request": ("GetEuiccInfo1Request", {}),
    "getEuiccInfo2Request": ("GetEuiccInfo2Request", {}),
    "euiccInfo1": (
        "EUICCInfo1",
        {
            "svn": b"\x02\x02\x00",
            "euiccCiPKIdListForVerification": [NIST_CI, BRP_CI],
            "euiccCiPKIdListForSigning": [NIST_CI],
        },
    ),
    "euiccInfo2Full": ("EUICCInfo2", EUICC_INFO2_FULL),
    "euiccInfo2Min": ("EUICCInfo2", EUICC_INFO2_MIN),
    "deviceInfo": ("DeviceInfo", DEVICE_INFO),
    "serverSigned1": ("ServerSigned1", SERVER_SIGNED1),
    "ctxParams1WithMatchingId": ("CtxParams1", ctx_params1("04386-AGYFT-A74Y8-3F815")),
    "ctxParams1Default": ("CtxParams1", ctx_params1(None)),
    "euiccSigned1": ("EuiccSigned1", EUICC_SIGNED1),
    "authenticateServerResponseError": (
        "AuthenticateServerResponse",
        ("authenticateResponseError", {"transactionId": TXID, "authenticateErrorCode": 7}),
    ),
    "smdpSigned2": ("SmdpSigned2", smdp_signed2(False, False)),
    "smdpSigned2WithOtpk": ("SmdpSigned2", smdp_signed2(True, True)),
    "prepareDownloadResponseOk": (
        "PrepareDownloadResponse",
        (
            "downloadResponseOk",
            {
                "euiccSigned2": {"transactionId": TXID, "euiccOtpk": otpk(0x20), "hashCc": b"\xcc" * 32},
                "euiccSignature2": SIG,
            },
        ),
    ),
    "prepareDownloadResponseError": (
        "PrepareDownloadResponse",
        ("downloadResponseError", {"transactionId": TXID, "downloadErrorCode": 5}),
    ),
    "storeMetadataRequestFull": ("StoreMetadataRequest", STORE_METADATA_FULL),
    "storeMetadataRequestMin": ("StoreMetadataRequest", STORE_METADATA_MIN),
    "updateMetadataRequest": (
        "UpdateMetadataRequest",
        {"profileName": "Renamed", "profilePolicyRules": bits(0)},
    ),
    "initialiseSecureChannelRequest": ("InitialiseSecureChannelRequest", ISC_REQUEST),
    "configureISDPRequestEmpty": ("ConfigureISDPRequest", {}),
    "configureISDPRequest": ("ConfigureISDPRequest", {"dpProprietaryData": {"dpOid": "2.999.10"}}),
    "replaceSessionKeysRequest": (
        "ReplaceSessionKeysRequest",
        {
            "initialMacChainingValue": bytes(range(16)),
            "ppkEnc": bytes([1]) + bytes(range(1, 16)),
            "ppkCmac": bytes([2]) + bytes(range(1, 16)),
        },
    ),
    "boundProfilePackage": ("BoundProfilePackage", bpp(False)),
    "boundProfilePackagePpk": ("BoundProfilePackage", bpp(True)),
    "notificationMetadata": ("NotificationMetadata", notification_metadata(42, 3)),
    "profileInstallationResultSuccess": ("ProfileInstallationResult", pir(True)),
    "profileInstallationResultError": ("ProfileInstallationResult", pir(False)),
    "pendingNotificationPir": ("PendingNotification", ("profileInstallationResult", pir(True))),
    "cancelSessionRequest": ("CancelSessionRequest", {"transactionId": TXID, "reason": 4}),
    "cancelSessionResponseOk": (
        "CancelSessionResponse",
        (
            "cancelSessionResponseOk",
            {
                "euiccCancelSessionSigned": {"transactionId": TXID, "smdpOid": "2.999.10", "reason": 0},
                "euiccCancelSessionSignature": SIG,
            },
        ),
    ),
    "cancelSessionResponseError": ("CancelSessionResponse", ("cancelSessionResponseError", 5)),
    "listNotificationRequest": ("ListNotificationRequest", {"profileManagementOperation": bits(0)}),
    "listNotificationRequestEmpty": ("ListNotificationRequest", {}),
    "listNotificationResponse": (
        "ListNotificationResponse",
        ("notificationMetadataList", [notification_metadata(1, 0), notification_metadata(2, 2)]),
    ),
    "listNotificationResponseError": (
        "ListNotificationResponse",
        ("listNotificationsResultError", 127),
    ),
    "retrieveNotificationsListRequestSeq": (
        "RetrieveNotificationsListRequest",
        {"searchCriteria": ("seqNumber", 5)},
    ),
    "retrieveNotificationsListRequestOp": (
        "RetrieveNotificationsListRequest",
        {"searchCriteria": ("profileManagementOperation", bits(3))},
    ),
    "retrieveNotificationsListResponse": (
        "RetrieveNotificationsListResponse",
        (
            "notificationList",
            [("profileInstallationResult", pir(True)), ("profileInstallationResult", pir(False))],
        ),
    ),
    "retrieveNotificationsListResponseError": (
        "RetrieveNotificationsListResponse",
        ("notificationsListResultError", 1),
    ),
    "notificationSentRequest": ("NotificationSentRequest", {"seqNumber": 7}),
    "notificationSentResponse": ("NotificationSentResponse", {"deleteNotificationStatus": 0}),
    "profileInfoListRequest": (
        "ProfileInfoListRequest",
        {"searchCriteria": ("iccid", ICCID), "tagList": bytes.fromhex("5A4F9F7090919295")},
    ),
    "profileInfoListRequestEmpty": ("ProfileInfoListRequest", {}),
    "profileInfoListResponse": (
        "ProfileInfoListResponse",
        ("profileInfoListOk", [PROFILE_INFO_FULL, {"iccid": ICCID, "profileState": 0}]),
    ),
    "profileInfoListResponseError": ("ProfileInfoListResponse", ("profileInfoListError", 1)),
    "getEuiccDataRequest": ("GetEuiccDataRequest", {"tagList": b"\x5a"}),
    "getEuiccDataResponse": (
        "GetEuiccDataResponse",
        {"eidValue": bytes.fromhex("89049032123451234512345678901235")},
    ),
    "getEuiccChallengeRequest": ("GetEuiccChallengeRequest", {}),
    "getEuiccChallengeResponse": ("GetEuiccChallengeResponse", {"euiccChallenge": b"\xe1" * 16}),
    "euiccConfiguredAddressesRequest": ("EuiccConfiguredAddressesRequest", {}),
    "euiccConfiguredAddressesResponse": (
        "EuiccConfiguredAddressesResponse",
        {"defaultDpAddress": "testsmdpplus1.example.com", "rootDsAddress": "lpa.ds.gsma.com"},
    ),
    "euiccConfiguredAddressesResponseNoDp": (
        "EuiccConfiguredAddressesResponse",
        {"rootDsAddress": "lpa.ds.gsma.com"},
    ),
    "enableProfileRequest": (
        "EnableProfileRequest",
        {"profileIdentifier": ("iccid", ICCID), "refreshFlag": True},
    ),
    "disableProfileRequest": (
        "DisableProfileRequest",
        {"profileIdentifier": ("isdpAid", AID), "refreshFlag": False},
    ),
    "deleteProfileRequest": ("DeleteProfileRequest", ("iccid", ICCID)),
    "enableProfileResponse": ("EnableProfileResponse", {"enableResult": 0}),
    "disableProfileResponse": ("DisableProfileResponse", {"disableResult": 5}),
    "deleteProfileResponse": ("DeleteProfileResponse", {"deleteResult": 3}),
    "setNicknameRequest": ("SetNicknameRequest", {"iccid": ICCID, "profileNickname": "Reise"}),
    "setNicknameResponse": ("SetNicknameResponse", {"setNicknameResult": 1}),
    "euiccMemoryResetRequest": ("EuiccMemoryResetRequest", {"resetOptions": bits(0, 2)}),
    "euiccMemoryResetResponse": ("EuiccMemoryResetResponse", {"resetResult": 1}),
    "setDefaultDpAddressRequest": (
        "SetDefaultDpAddressRequest",
        {"defaultDpAddress": "testsmdpplus1.example.com"},
    ),
    "setDefaultDpAddressResponse": ("SetDefaultDpAddressResponse", {"setDefaultDpAddressResult": 0}),
    "getRatRequest": ("GetRatRequest", {}),
    "getRatResponse": (
        "GetRatResponse",
        {
            "rat": [
                {
                    "pprIds": bits(1, 2),
                    "allowedOperators": [{"mccMnc": bytes.fromhex("00F110"), "gid2": b"\xff"}],
                    "pprFlags": bits(0),
                }
            ]
        },
    ),
}

if os.path.isdir(os.path.join(SHARED, "pki", "sgp26")):
    DPAUTH = cert("DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der")
    DPPB = cert("DPpb/CERT_S_SM_DPpb_ECDSA_NIST.der")
    EUICC = cert("eUICC/CERT_EUICC_ECDSA_NIST.der")
    EUM = cert("EUM/CERT_EUM_ECDSA_NIST.der")
    SAMPLES.update(
        {
            "authenticateServerRequest": (
                "AuthenticateServerRequest",
                {
                    "serverSigned1": SERVER_SIGNED1,
                    "serverSignature1": SIG,
                    "euiccCiPKIdToBeUsed": NIST_CI,
                    "serverCertificate": DPAUTH,
                    "ctxParams1": ctx_params1("04386-AGYFT-A74Y8-3F815"),
                },
            ),
            "authenticateServerResponseOk": (
                "AuthenticateServerResponse",
                (
                    "authenticateResponseOk",
                    {
                        "euiccSigned1": EUICC_SIGNED1,
                        "euiccSignature1": SIG,
                        "euiccCertificate": EUICC,
                        "eumCertificate": EUM,
                    },
                ),
            ),
            "prepareDownloadRequest": (
                "PrepareDownloadRequest",
                {
                    "smdpSigned2": smdp_signed2(True, False),
                    "smdpSignature2": SIG,
                    "hashCc": b"\xcc" * 32,
                    "smdpCertificate": DPPB,
                },
            ),
            "pendingNotificationOther": (
                "PendingNotification",
                (
                    "otherSignedNotification",
                    {
                        "tbsOtherNotification": notification_metadata(9, 1),
                        "euiccNotificationSignature": SIG,
                        "euiccCertificate": EUICC,
                        "eumCertificate": EUM,
                    },
                ),
            ),
        }
    )


EUICC_INFO2_V25 = dict(
    EUICC_INFO2_FULL,
    profileVersion=b"\x02\x03\x01",
    svn=b"\x02\x05\x00",
    treProperties=bits(1, 2),
    treProductReference="TRE-PLATFORM-1",
    additionalEuiccProfilePackageVersions=[b"\x03\x01\x00", b"\x03\x02\x00"],
)
EUICC_INFO2_SGP32 = dict(
    EUICC_INFO2_V25,
    euiccCiPKIdListForVerification=[NIST_CI],
    euiccCiPKIdListForSigning=[NIST_CI],
    euiccCategory=1,
    ipaMode=0,
    euiccCiPKIdListForSigningV3=[NIST_CI],
    additionalEuiccInfo=bytes.fromhex("0102030405"),
    highestSvn=b"\x03\x01\x00",
    iotSpecificInfo={
        "iotVersion": [b"\x01\x02\x00"],
        "ecallSupported": None,
        "fallbackSupported": None,
    },
)

# Samples of the later versions' types, each with the module that defines them.
LATER_SAMPLES = {
    "euiccInfo2V25": (rsp25, "EUICCInfo2", EUICC_INFO2_V25),
    "euiccInfo2Sgp32": (rsp32, "EUICCInfo2", EUICC_INFO2_SGP32),
    "deviceInfoV25": (
        rsp25,
        "DeviceInfo",
        {
            "tac": bytes.fromhex("35290611"),
            "deviceCapabilities": dict(
                DEVICE_INFO["deviceCapabilities"],
                lpaSvn=b"\x02\x05\x00",
                # An unnamed BIT STRING keeps its trailing zero bits in DER.
                catSupportedClasses=(b"\xa0\x00", 16),
                euiccFormFactorType=2,
                deviceAdditionalFeatureSupport={"naiSupport": b"\x01\x00\x00"},
            ),
        },
    ),
    # What an IoT device sends (SGP.32): a TAC, no capabilities, no IMEI.
    "deviceInfoIot": (rsp, "DeviceInfo", {"tac": bytes.fromhex("35290611"), "deviceCapabilities": {}}),
    "storeMetadataRequestSgp32": (
        rsp32,
        "StoreMetadataRequest",
        dict(STORE_METADATA_MIN, ecallIndication=True, fallbackAllowed=False),
    ),
}


def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(b)]) + b
    return tag + length + content


def contents(der):
    """The contents octets of one DER TLV (tags of one or two bytes)."""
    i = 2 if der[0] & 0x1F == 0x1F else 1
    n = der[i]
    i += 1
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(der[i : i + k], "big")
        i += k
    assert len(der) == i + n
    return der[i:]


def binding_samples():
    """The ES9+ ASN.1 binding's messages: asn1tools' encoding of the envelope ("hex"), and
    the X.680 one built from asn1tools' encodings of the parts ("x680"). They differ where
    an implicit tag refers to a tagged CHOICE: X.680 31.2.7 c) replaces the CHOICE's tag,
    asn1tools writes it again inside (erlang/otp#11625 describes the same in asn1ct)."""
    A2 = b"\xa2"
    txid = tlv(b"\x80", TXID)
    enc = rsp25.encode
    asr = SAMPLES["authenticateServerResponseOk"][1]
    pdr = SAMPLES["prepareDownloadResponseOk"][1]
    csr = SAMPLES["cancelSessionResponseOk"][1]
    ia_ok = (
        "initiateAuthenticationOk",
        {
            "transactionId": TXID,
            "serverSigned1": SERVER_SIGNED1,
            "serverSignature1": SIG,
            "euiccCiPKIdToBeUsed": NIST_CI,
            "serverCertificate": DPAUTH,
        },
    )
    ac_ok = (
        "authenticateClientOk",
        {
            "transactionId": TXID,
            "profileMetaData": STORE_METADATA_FULL,
            "smdpSigned2": smdp_signed2(True, True),
            "smdpSignature2": SIG,
            "smdpCertificate": DPPB,
        },
    )
    gbpp_ok = ("getBoundProfilePackageOk", {"transactionId": TXID, "boundProfilePackage": bpp(False)})
    requests = {
        "rppInitiateAuthenticationRequest": (
            "initiateAuthenticationRequest",
            {
                "euiccChallenge": b"\xe1" * 16,
                "smdpAddress": "testsmdpplus1.example.com",
                "euiccInfo1": SAMPLES["euiccInfo1"][1],
            },
            lambda v: tlv(A2, enc("InitiateAuthenticationRequest", v)),
        ),
        "rppAuthenticateClientRequest": (
            "authenticateClientRequest",
            {"transactionId": TXID, "authenticateServerResponse": asr},
            lambda v: tlv(A2, tlv(b"\xbf\x3b", txid + enc("AuthenticateServerResponse", asr))),
        ),
        "rppGetBoundProfilePackageRequest": (
            "getBoundProfilePackageRequest",
            {"transactionId": TXID, "prepareDownloadResponse": pdr},
            lambda v: tlv(A2, tlv(b"\xbf\x3a", txid + enc("PrepareDownloadResponse", pdr))),
        ),
        "rppCancelSessionRequest": (
            "cancelSessionRequestEs9",
            {"transactionId": TXID, "cancelSessionResponse": csr},
            lambda v: tlv(
                A2, tlv(b"\xbf\x41", txid + tlv(b"\xa1", contents(enc("CancelSessionResponse", csr))))
            ),
        ),
        "rppHandleNotificationPir": (
            "handleNotification",
            {"pendingNotification": SAMPLES["pendingNotificationPir"][1]},
            lambda v: tlv(A2, enc("HandleNotification", v)),
        ),
        "rppHandleNotificationOther": (
            "handleNotification",
            {"pendingNotification": SAMPLES["pendingNotificationOther"][1]},
            lambda v: tlv(A2, enc("HandleNotification", v)),
        ),
    }
    responses = {
        "rppInitiateAuthenticationOk": ("initiateAuthenticationResponse", "InitiateAuthenticationResponse", ia_ok),
        "rppInitiateAuthenticationError": (
            "initiateAuthenticationResponse",
            "InitiateAuthenticationResponse",
            ("initiateAuthenticationError", 3),
        ),
        "rppAuthenticateClientOk": ("authenticateClientResponseEs9", "AuthenticateClientResponseEs9", ac_ok),
        "rppAuthenticateClientError": (
            "authenticateClientResponseEs9",
            "AuthenticateClientResponseEs9",
            ("authenticateClientError", 6),
        ),
        "rppGetBoundProfilePackageOk": (
            "getBoundProfilePackageResponse",
            "GetBoundProfilePackageResponse",
            gbpp_ok,
        ),
        "rppGetBoundProfilePackageError": (
            "getBoundProfilePackageResponse",
            "GetBoundProfilePackageResponse",
            ("getBoundProfilePackageError", 95),
        ),
        "rppCancelSessionOk": ("cancelSessionResponseEs9", "CancelSessionResponseEs9", ("cancelSessionOk", {})),
        "rppCancelSessionError": (
            "cancelSessionResponseEs9",
            "CancelSessionResponseEs9",
            ("cancelSessionError", 1),
        ),
    }
    out = {}
    for name, (alternative, value, x680) in requests.items():
        t = "RemoteProfileProvisioningRequest"
        der = enc(t, (alternative, value))
        rsp25.decode(t, der)
        out[name] = {"type": t, "hex": der.hex().upper(), "x680": x680(value).hex().upper()}
    for name, (alternative, inner, value) in responses.items():
        t = "RemoteProfileProvisioningResponse"
        der = enc(t, (alternative, value))
        rsp25.decode(t, der)
        x680 = tlv(A2, enc(inner, value))
        out[name] = {"type": t, "hex": der.hex().upper(), "x680": x680.hex().upper()}
    return out


def main():
    if sys.argv[1:] == ["binding"]:
        json.dump(binding_samples(), sys.stdout, indent=1, sort_keys=True)
        return
    out = {}
    samples = [(name, rsp, t, v) for name, (t, v) in SAMPLES.items()]
    samples += [(name, spec, t, v) for name, (spec, t, v) in LATER_SAMPLES.items()]
    for name, spec, asn1_type, value in samples:
        der = spec.encode(asn1_type, value)
        # Self-check: asn1tools reads back what it wrote.
        spec.decode(asn1_type, der)
        out[name] = {"type": asn1_type, "hex": der.hex().upper()}
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
