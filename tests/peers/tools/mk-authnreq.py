#!/usr/bin/python3
"""Prints an HTTP-Redirect-binding URL with an AuthnRequest signed like an SP signs it
(rsa-sha256 over SAMLRequest&RelayState&SigAlg, SAML Bindings §3.4.4.1). Tests only; adapted
from ../shared/peers/bin/mk-authnreq.py.

usage: mk-authnreq.py SSO_URL ISSUER ACS_URL --key SP_KEY [--relay R] [--force] [--passive]
       [--loa URI] [--age SECONDS] [--id ID] [--unsigned]"""
import argparse, base64, datetime, subprocess, uuid, zlib
from urllib.parse import quote

ap = argparse.ArgumentParser()
ap.add_argument("sso"); ap.add_argument("issuer"); ap.add_argument("acs")
ap.add_argument("--key"); ap.add_argument("--relay", default="")
ap.add_argument("--force", action="store_true"); ap.add_argument("--passive", action="store_true")
ap.add_argument("--loa", default="http://id.elegnamnden.se/loa/1.0/loa4")
ap.add_argument("--age", type=int, default=0); ap.add_argument("--id", default=None)
ap.add_argument("--unsigned", action="store_true")
a = ap.parse_args()

rid = a.id or "_" + uuid.uuid4().hex
t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=a.age)
now = t.strftime("%Y-%m-%dT%H:%M:%SZ")
flags = ' ForceAuthn="%s" IsPassive="%s"' % ("true" if a.force else "false", "true" if a.passive else "false")
xml = ('<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
       'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" IssueInstant="%s" '
       'Destination="%s" AssertionConsumerServiceURL="%s" '
       'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"%s>'
       '<saml:Issuer>%s</saml:Issuer>'
       '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" AllowCreate="true"/>'
       '<samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>%s</saml:AuthnContextClassRef>'
       '</samlp:RequestedAuthnContext>'
       '</samlp:AuthnRequest>') % (rid, now, a.sso, a.acs, flags, a.issuer, a.loa)
c = zlib.compressobj(9, zlib.DEFLATED, -15)
deflated = c.compress(xml.encode()) + c.flush()
q = "SAMLRequest=" + quote(base64.b64encode(deflated).decode(), safe="")
if a.relay:
    q += "&RelayState=" + quote(a.relay, safe="")
if not a.unsigned:
    q += "&SigAlg=" + quote("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", safe="")
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", a.key], input=q.encode(),
                         capture_output=True, check=True).stdout
    q += "&Signature=" + quote(base64.b64encode(sig).decode(), safe="")
print(a.sso + "?" + q)
