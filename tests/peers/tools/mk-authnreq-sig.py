#!/usr/bin/python3
"""Prints an HTTP-Redirect-binding URL with a signed AuthnRequest as a signature service sends
it (spec §1.12): ForceAuthn, and in samlp:Extensions the Swedish signing extensions
csig:SignMessage (§6), sap:SADRequest (§5) and psc:PrincipalSelection (§8); Scoping/RequesterID.
Signed rsa-sha256 over SAMLRequest&RelayState&SigAlg (SAML Bindings §3.4.4.1). Tests only
(tests/integration/t_idp_sigservice.sh); the plain builder is mk-authnreq.py.

usage: mk-authnreq-sig.py SSO_URL ISSUER ACS_URL --key SP_KEY [--id ID] [--no-force]
       [--sign-message TEXT] [--mime text|text/markdown|text/html] [--must-show]
       [--display-entity URI]
       [--sad-id ID --sign-request-id ID --doc-count N [--sad-requester URI]]
       [--principal NAME=VALUE]... [--requester-id URI] [--relay R] [--hok]"""
import argparse, base64, datetime, subprocess, uuid, zlib
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

ap = argparse.ArgumentParser()
ap.add_argument("sso"); ap.add_argument("issuer"); ap.add_argument("acs")
ap.add_argument("--key", required=True); ap.add_argument("--relay", default="")
ap.add_argument("--id", default=None)
ap.add_argument("--no-force", action="store_true")
ap.add_argument("--loa", default="http://id.elegnamnden.se/loa/1.0/loa4")
ap.add_argument("--sign-message", default=None)
ap.add_argument("--mime", default=None)
ap.add_argument("--must-show", action="store_true")
ap.add_argument("--display-entity", default=None)
ap.add_argument("--sad-id", default=None)
ap.add_argument("--sign-request-id", default=None)
ap.add_argument("--doc-count", default=None)
ap.add_argument("--sad-requester", default=None)
ap.add_argument("--principal", action="append", default=[])
ap.add_argument("--requester-id", default=None)
ap.add_argument("--hok", action="store_true", help="ProtocolBinding = the HoK binding (HTTP-POST inside)")
a = ap.parse_args()

rid = a.id or "_" + uuid.uuid4().hex
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

ext = []
if a.sign_message is not None:
    attrs = ' MustShow="%s"' % ("true" if a.must_show else "false")
    if a.mime:
        attrs += ' MimeType=%s' % quoteattr(a.mime)
    if a.display_entity:
        attrs += ' DisplayEntity=%s' % quoteattr(a.display_entity)
    ext.append('<csig:SignMessage xmlns:csig="http://id.elegnamnden.se/csig/1.1/dss-ext/ns"%s>'
               '<csig:Message>%s</csig:Message></csig:SignMessage>'
               % (attrs, base64.b64encode(a.sign_message.encode("utf-8")).decode()))
if a.sad_id:
    ext.append('<sap:SADRequest xmlns:sap="http://id.elegnamnden.se/csig/1.1/sap/ns" ID=%s>'
               '<sap:RequesterID>%s</sap:RequesterID><sap:SignRequestID>%s</sap:SignRequestID>'
               '<sap:DocCount>%s</sap:DocCount><sap:RequestedVersion>1.0</sap:RequestedVersion>'
               '</sap:SADRequest>' % (quoteattr(a.sad_id), escape(a.sad_requester or a.issuer),
                                      escape(a.sign_request_id), escape(a.doc_count)))
if a.principal:
    mv = "".join('<psc:MatchValue Name=%s>%s</psc:MatchValue>' % (quoteattr(p.split("=", 1)[0]), escape(p.split("=", 1)[1]))
                 for p in a.principal)
    ext.append('<psc:PrincipalSelection xmlns:psc="http://id.swedenconnect.se/authn/1.0/principal-selection/ns">%s'
               '</psc:PrincipalSelection>' % mv)
extensions = "<samlp:Extensions>%s</samlp:Extensions>" % "".join(ext) if ext else ""
scoping = ("<samlp:Scoping><samlp:RequesterID>%s</samlp:RequesterID></samlp:Scoping>" % escape(a.requester_id)
           if a.requester_id else "")
if a.hok:
    binding = ('urn:oasis:names:tc:SAML:2.0:profiles:holder-of-key:SSO:browser" '
               'xmlns:hoksso="urn:oasis:names:tc:SAML:2.0:profiles:holder-of-key:SSO:browser" '
               'hoksso:ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST')
else:
    binding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

xml = ('<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
       'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" IssueInstant="%s" '
       'Destination=%s AssertionConsumerServiceURL=%s ProtocolBinding="%s" ForceAuthn="%s" IsPassive="false">'
       '<saml:Issuer>%s</saml:Issuer>%s'
       '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" AllowCreate="true"/>'
       '<samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>%s</saml:AuthnContextClassRef>'
       '</samlp:RequestedAuthnContext>%s'
       '</samlp:AuthnRequest>') % (rid, now, quoteattr(a.sso), quoteattr(a.acs), binding,
                                   "false" if a.no_force else "true", escape(a.issuer), extensions, a.loa, scoping)
c = zlib.compressobj(9, zlib.DEFLATED, -15)
deflated = c.compress(xml.encode()) + c.flush()
q = "SAMLRequest=" + quote(base64.b64encode(deflated).decode(), safe="")
if a.relay:
    q += "&RelayState=" + quote(a.relay, safe="")
q += "&SigAlg=" + quote("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", safe="")
sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", a.key], input=q.encode(),
                     capture_output=True, check=True).stdout
q += "&Signature=" + quote(base64.b64encode(sig).decode(), safe="")
print(a.sso + "?" + q)
