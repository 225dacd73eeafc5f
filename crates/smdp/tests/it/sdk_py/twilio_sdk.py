"""The official twilio Python SDK (9.x) against smdp-sim's REST API.

Run by tests/sdk.rs with the server's base URL and an account's credentials in the
environment. Exits non-zero (with the failed assertion) if anything is off.
"""
import os
import sys
import time

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

BASE = os.environ["SMDP_BASE_URL"]
ACCOUNT, TOKEN = os.environ["SMDP_ACCOUNT_SID"], os.environ["SMDP_AUTH_TOKEN"]
KEY, SECRET = os.environ["SMDP_API_KEY"], os.environ["SMDP_API_SECRET"]
BEARER = os.environ["SMDP_BEARER"]
CLIENT_ID, CLIENT_SECRET = os.environ["SMDP_CLIENT_ID"], os.environ["SMDP_CLIENT_SECRET"]
EID = os.environ["SMDP_EID"]
ADDRESS = os.environ["SMDP_ADDRESS"]

for var in ("TWILIO_REGION", "TWILIO_EDGE"):
    os.environ.pop(var, None)


def client(*args, **kwargs):
    c = Client(*args, **kwargs)
    c.supersim.base_url = BASE
    return c


def wait_available(c, sid):
    for _ in range(2000):  # generous: a loaded CI machine
        p = c.supersim.v1.esim_profiles(sid).fetch()
        if p.status not in ("new", "reserving"):
            return p
        time.sleep(0.01)
    raise AssertionError(f"{sid} stuck in {p.status}")


def wait_settled(c, sid):
    for _ in range(2000):
        s = c.supersim.v1.sims(sid).fetch()
        if s.status != "scheduled":
            return s
        time.sleep(0.01)
    raise AssertionError(f"Sim {sid} stayed scheduled")


c = client(ACCOUNT, TOKEN)

# Create by Eid (default SM-DP+) and by GenerateMatchingId.
by_eid = c.supersim.v1.esim_profiles.create(eid=EID)
assert by_eid.sid.startswith("HP") and len(by_eid.sid) == 34, by_eid.sid
assert by_eid.status in ("new", "reserving"), by_eid.status
assert by_eid.eid == EID
assert by_eid.iccid is None and by_eid.activation_code is None
assert by_eid.date_created is not None and by_eid.date_created.year >= 2020  # parsed datetime

by_mid = c.supersim.v1.esim_profiles.create(generate_matching_id=True)
mid = wait_available(c, by_mid.sid)
assert mid.status == "available", mid.status
assert mid.matching_id and mid.activation_code == f"1${ADDRESS}${mid.matching_id}", mid.activation_code
assert mid.sim_sid.startswith("HS") and len(mid.iccid) == 20
assert mid.smdp_plus_address == f"https://{ADDRESS}", mid.smdp_plus_address
assert mid.url == f"{BASE}/v1/ESimProfiles/{mid.sid}", mid.url

eid_profile = wait_available(c, by_eid.sid)
assert eid_profile.activation_code is None

# Filters.
found = c.supersim.v1.esim_profiles.list(eid=EID)
assert [p.sid for p in found] == [by_eid.sid], found
found = c.supersim.v1.esim_profiles.list(sim_sid=mid.sim_sid)
assert [p.sid for p in found] == [mid.sid], found
for _ in range(5):
    c.supersim.v1.esim_profiles.create(generate_matching_id=True)

# Paging: the SDK follows meta.next_page_url verbatim.
everything = c.supersim.v1.esim_profiles.list(page_size=2)
assert len(everything) == 7, len(everything)
assert len({p.sid for p in everything}) == 7
assert [p.sid for p in everything][:2] == [by_eid.sid, by_mid.sid]
page = c.supersim.v1.esim_profiles.page(page_size=3)
assert len(list(page)) == 3 and page.next_page_url, page.next_page_url
nxt = page.next_page()
assert len(list(nxt)) == 3 and nxt.previous_page_url
limited = c.supersim.v1.esim_profiles.list(limit=4, page_size=3)
assert len(limited) == 4
# mid and eid_profile are available already; the five above may still be reserving.
available = c.supersim.v1.esim_profiles.list(status="available", page_size=2)
assert all(p.status == "available" for p in available) and len(available) >= 2

# Sims.
sim = c.supersim.v1.sims(mid.sim_sid).fetch()
assert sim.iccid == mid.iccid and sim.status == "new"
sim = c.supersim.v1.sims(mid.sim_sid).update(unique_name="sdk-sim", status="ready")
# A status change is asynchronous: 202 with "scheduled", then the status asked for.
assert sim.unique_name == "sdk-sim" and sim.status == "scheduled", sim.status
assert wait_settled(c, mid.sim_sid).status == "ready"
assert c.supersim.v1.sims("sdk-sim").fetch().sid == mid.sim_sid
assert len(c.supersim.v1.sims.list(status="ready")) == 1

# Network Access Profiles and Fleets.
nap = c.supersim.v1.network_access_profiles.create(unique_name="sdk-nap")
assert nap.sid.startswith("HA") and len(nap.sid) == 34, nap.sid
assert c.supersim.v1.network_access_profiles("sdk-nap").fetch().sid == nap.sid
fleet = c.supersim.v1.fleets.create(
    network_access_profile="sdk-nap", unique_name="sdk-fleet", data_limit=250,
    sms_commands_enabled=False, ip_commands_url="https://example.com/ip", ip_commands_method="GET",
)
assert fleet.sid.startswith("HF") and len(fleet.sid) == 34, fleet.sid
assert fleet.network_access_profile_sid == nap.sid and fleet.data_limit == 250
assert fleet.sms_commands_enabled is False and fleet.data_enabled is True
assert fleet.ip_commands_method == "GET" and fleet.data_metering == "payg"
assert fleet.url == f"{BASE}/v1/Fleets/{fleet.sid}", fleet.url
assert c.supersim.v1.fleets("sdk-fleet").fetch().sid == fleet.sid
updated = c.supersim.v1.fleets(fleet.sid).update(data_limit=1000, unique_name="sdk-fleet-2")
assert updated.data_limit == 1000 and updated.unique_name == "sdk-fleet-2"
other_nap = c.supersim.v1.network_access_profiles.create()
c.supersim.v1.fleets.create(network_access_profile=other_nap.sid)
assert [f.sid for f in c.supersim.v1.fleets.list(network_access_profile=nap.sid)] == [fleet.sid]
assert len(c.supersim.v1.fleets.list(page_size=1)) == 2  # the SDK follows the paging URLs
try:
    c.supersim.v1.fleets.create(network_access_profile="HA" + "0" * 32)
    raise AssertionError("an unknown Network Access Profile was accepted")
except TwilioRestException as e:
    assert e.status == 400 and e.code == 20001, (e.status, e.code)

# A Sim joins the fleet, and its status change calls back when it completes.
import hashlib  # noqa: E402
import threading  # noqa: E402
from http.server import BaseHTTPRequestHandler, HTTPServer  # noqa: E402
from urllib.parse import parse_qsl  # noqa: E402

from twilio.request_validator import RequestValidator  # noqa: E402

received = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        received.append((self.path, dict(parse_qsl(body)), self.headers["X-Twilio-Signature"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


rx = HTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=rx.serve_forever, daemon=True).start()
cb_url = f"http://127.0.0.1:{rx.server_port}/sim-updated"
sim = c.supersim.v1.sims("sdk-sim").update(fleet="sdk-fleet-2", status="active", callback_url=cb_url)
assert sim.fleet_sid == fleet.sid and sim.status == "scheduled", (sim.fleet_sid, sim.status)
for _ in range(2000):
    if received:
        break
    time.sleep(0.01)
assert received, "no Sim update callback"
path, fields, signature = received[0]
assert fields["SimSid"] == mid.sim_sid and fields["SimStatus"] == "active", fields
assert fields["FleetSid"] == fleet.sid and fields["AccountSid"] == ACCOUNT, fields
# The SDK's own validator accepts the signature under the account's auth token.
assert RequestValidator(TOKEN).validate(cb_url, fields, signature), (cb_url, fields, signature)
assert wait_settled(c, mid.sim_sid).status == "active"
assert [s.sid for s in c.supersim.v1.sims.list(fleet="sdk-fleet-2")] == [mid.sim_sid]
assert [s.sid for s in c.supersim.v1.sims.list(fleet=fleet.sid)] == [mid.sim_sid]
rx.shutdown()

# Unknown sid: TwilioRestException 20404.
try:
    c.supersim.v1.esim_profiles("HP" + "0" * 32).fetch()
    raise AssertionError("fetch of an unknown sid succeeded")
except TwilioRestException as e:
    assert e.status == 404 and e.code == 20404, (e.status, e.code)

# Bad parameters: a Twilio 400.
try:
    c.supersim.v1.esim_profiles.create(eid="123")
    raise AssertionError("a bad Eid was accepted")
except TwilioRestException as e:
    assert e.status == 400 and e.code == 20001, (e.status, e.code)

# API key and bearer credentials reach the same account; a wrong token does not.
k = client(KEY, SECRET, account_sid=ACCOUNT)
assert k.supersim.v1.esim_profiles(mid.sid).fetch().sid == mid.sid

from twilio.auth_strategy.auth_type import AuthType  # noqa: E402
from twilio.credential.credential_provider import CredentialProvider  # noqa: E402


class StaticBearer(CredentialProvider):
    def __init__(self, token):
        super().__init__(AuthType.CLIENT_CREDENTIALS)
        self.token = token

    def to_auth_strategy(self):
        token = self.token

        class Strategy:
            def get_auth_string(self):
                return f"Bearer {token}"

        return Strategy()


b = client(credential_provider=StaticBearer(BEARER))
assert b.supersim.v1.esim_profiles(mid.sid).fetch().sid == mid.sid

try:
    client(ACCOUNT, "wrong").supersim.v1.esim_profiles(mid.sid).fetch()
    raise AssertionError("a wrong token was accepted")
except TwilioRestException as e:
    assert e.status == 401 and e.code == 20003, (e.status, e.code)

# KORE-style OAuth2 client credentials, by a standard OAuth2 client library
# (requests-oauthlib), then the SDK with the token it got.
from oauthlib.oauth2 import BackendApplicationClient, InvalidClientError
from requests_oauthlib import OAuth2Session

os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain HTTP on loopback
os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"] = "1"  # the server names the scope it granted
TOKEN_URL = f"{BASE}/api-services/v1/auth/token"
session = OAuth2Session(client=BackendApplicationClient(client_id=CLIENT_ID))
tok = session.fetch_token(
    token_url=TOKEN_URL, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, include_client_id=True
)
assert tok["token_type"] == "Bearer" and tok["expires_in"] == 3600, tok
assert tok["scope"] == ["supersim"] or tok["scope"] == "supersim", tok
# The session itself is an authenticated client of the REST API …
r = session.get(f"{BASE}/v1/ESimProfiles/{mid.sid}")
assert r.status_code == 200 and r.json()["sid"] == mid.sid, r.text
# … and so is the SDK with the token.
k = client(credential_provider=StaticBearer(tok["access_token"]))
assert k.supersim.v1.esim_profiles(mid.sid).fetch().sid == mid.sid
assert any(p.sid == mid.sid for p in k.supersim.v1.esim_profiles.list())
# Fleets and Sims through the OAuth token: the same account's resources.
assert k.supersim.v1.fleets(fleet.sid).fetch().unique_name == "sdk-fleet-2"
kf = k.supersim.v1.fleets.create(network_access_profile=nap.sid, unique_name="oauth-fleet")
assert kf.account_sid == ACCOUNT
assert k.supersim.v1.sims(mid.sim_sid).update(fleet="oauth-fleet").fleet_sid == kf.sid
assert [s.sid for s in k.supersim.v1.sims.list(fleet=kf.sid)] == [mid.sim_sid]
# The same client authenticating with HTTP Basic (RFC 6749 2.3.1, requests-oauthlib's default).
tok2 = OAuth2Session(client=BackendApplicationClient(client_id=CLIENT_ID)).fetch_token(
    token_url=TOKEN_URL, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
)
assert tok2["access_token"] != tok["access_token"]
try:
    OAuth2Session(client=BackendApplicationClient(client_id=CLIENT_ID)).fetch_token(
        token_url=TOKEN_URL, client_id=CLIENT_ID, client_secret="wrong", include_client_id=True
    )
    raise AssertionError("a wrong client secret got a token")
except InvalidClientError:
    pass

print("twilio SDK: all checks passed", file=sys.stderr)
