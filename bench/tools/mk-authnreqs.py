#!/usr/bin/python3
"""Writes N HTTP-Redirect-binding URLs, one per line, each with a fresh signed AuthnRequest
(unique ID, rsa-sha256 over SAMLRequest&RelayState&SigAlg as mod_auth_mellon signs it: SAML
Bindings §3.4.4.1), for the login benchmarks (bench/logins.sh, bench/peer_ssp.sh). Made before
the timed part so the load generator only replays them. Same request shape as
tests/peers/tools/mk-authnreq.py; signs with python3-cryptography in --jobs processes.

usage: mk-authnreqs.py SSO_URL ISSUER ACS_URL --key SP_KEY.pem -n N [--loa URI|--no-loa]
       [--relay R] [--jobs J] > urls.txt"""
import argparse, base64, datetime, os, sys, uuid, zlib
from multiprocessing import Pool
from urllib.parse import quote
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

ap = argparse.ArgumentParser()
ap.add_argument("sso"); ap.add_argument("issuer"); ap.add_argument("acs")
ap.add_argument("--key", required=True)
ap.add_argument("-n", type=int, required=True)
ap.add_argument("--loa", default="http://id.elegnamnden.se/loa/1.0/loa4")
ap.add_argument("--no-loa", action="store_true", help="no RequestedAuthnContext (the peer IdP)")
ap.add_argument("--relay", default="")
ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
a = ap.parse_args()
if a.n < 1:
    sys.exit("mk-authnreqs.py: -n must be at least 1")

with open(a.key, "rb") as f:
    KEY = serialization.load_pem_private_key(f.read(), password=None)
SIGALG = "&SigAlg=" + quote("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", safe="")
CTX = ("" if a.no_loa else
       '<samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>%s'
       '</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>' % a.loa)


def one(_):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    xml = ('<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
           'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_%s" Version="2.0" IssueInstant="%s" '
           'Destination="%s" AssertionConsumerServiceURL="%s" '
           'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" ForceAuthn="false" IsPassive="false">'
           '<saml:Issuer>%s</saml:Issuer>'
           '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" AllowCreate="true"/>'
           '%s</samlp:AuthnRequest>') % (uuid.uuid4().hex, now, a.sso, a.acs, a.issuer, CTX)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    q = "SAMLRequest=" + quote(base64.b64encode(c.compress(xml.encode()) + c.flush()).decode(), safe="")
    if a.relay:
        q += "&RelayState=" + quote(a.relay, safe="")
    q += SIGALG
    sig = KEY.sign(q.encode(), padding.PKCS1v15(), hashes.SHA256())
    return a.sso + "?" + q + "&Signature=" + quote(base64.b64encode(sig).decode(), safe="")


with Pool(max(1, a.jobs)) as pool:
    out = sys.stdout
    for u in pool.imap_unordered(one, range(a.n), chunksize=256):
        out.write(u + "\n")
