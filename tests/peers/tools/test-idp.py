#!/usr/bin/python3
"""A SAML IdP the test controls (tests only): it answers the signing service's AuthnRequest the
way an IdP of the federation would (spec §1.7, §5, §6), or leaves out or spoils exactly one thing
so that a test can see the signing service refuse it. It shares no code with efosd: XML c14n
comes from lxml, RSA and AES from python3-cryptography, the XML signature from xmldsig_sign.py
(shared with sign-client.py).

  test-idp.py metadata --entity-id ID --sso-url URL --cert CERT.pem --out MD.xml
      an md:EntityDescriptor with an IDPSSODescriptor (HTTP-POST SSO, the signing key),
      assurance-certification loa4 and the entity category scal2 (it issues SADs)
  test-idp.py respond --authn-request REQ.xml --entity-id ID --key KEY.pem --cert CERT.pem
        --sp-encryption-cert CERT.pem --pnr PNR [--given-name G] [--surname S]
        [--sad ok|none|forged] [--forge-key KEY.pem] [--sign-message-digest ok|none|wrong]
      prints the SAMLResponse form value (base64): a Response signed by KEY holding the
      Assertion (signed by KEY, then encrypted AES-256-GCM with its key wrapped RSA-OAEP for the
      SP's encryption certificate), with the person's attributes, loa4, and, as asked, the
      signMessageDigest of the request's sign message and the SAD for its SADRequest
"""
import argparse, base64, datetime, hashlib, json, os, sys, uuid

from lxml import etree
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from xmldsig_sign import SHA256, b64, cert_b64, load_key, sign_enveloped  # tools/

NS = {
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "mdattr": "urn:oasis:names:tc:SAML:metadata:attribute",
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xenc": "http://www.w3.org/2001/04/xmlenc#",
    "csig": "http://id.elegnamnden.se/csig/1.1/dss-ext/ns",
    "sap": "http://id.elegnamnden.se/csig/1.1/sap/ns",
}
LOA4 = "http://id.elegnamnden.se/loa/1.0/loa4"
SCAL2 = "http://id.elegnamnden.se/sprop/1.0/scal2"
PNR = "urn:oid:1.2.752.29.4.13"
ATTR_SAD = "urn:oid:1.2.752.201.3.12"
ATTR_SMD = "urn:oid:1.2.752.201.3.14"
URI_FMT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def q(prefix, name):
    return "{%s}%s" % (NS[prefix], name)


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def instant(offset=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id():
    return "_" + uuid.uuid4().hex


def sign_by_id(el, key, cert_path):
    """Enveloped signature of el (Reference "#ID"), ds:Signature right after saml:Issuer as SAML
    requires."""
    sign_enveloped(el, key, open(cert_path, "rb").read(), ref_uri="#" + el.get("ID"), index=1)


def cmd_metadata(a):
    ed = etree.Element(q("md", "EntityDescriptor"), nsmap={"md": NS["md"], "ds": NS["ds"]},
                       entityID=a.entity_id)
    ea = etree.SubElement(etree.SubElement(ed, q("md", "Extensions")), q("mdattr", "EntityAttributes"),
                          nsmap={"mdattr": NS["mdattr"], "saml": NS["saml"]})
    for name, value in (("urn:oasis:names:tc:SAML:attribute:assurance-certification", LOA4),
                        ("http://macedir.org/entity-category", SCAL2)):
        at = etree.SubElement(ea, q("saml", "Attribute"), Name=name, NameFormat=URI_FMT)
        etree.SubElement(at, q("saml", "AttributeValue")).text = value
    idp = etree.SubElement(ed, q("md", "IDPSSODescriptor"),
                           protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol",
                           WantAuthnRequestsSigned="true")
    kd = etree.SubElement(idp, q("md", "KeyDescriptor"), use="signing")
    xd = etree.SubElement(etree.SubElement(kd, q("ds", "KeyInfo")), q("ds", "X509Data"))
    etree.SubElement(xd, q("ds", "X509Certificate")).text = cert_b64(open(a.cert).read())
    etree.SubElement(idp, q("md", "SingleSignOnService"), Binding=POST, Location=a.sso_url)
    etree.ElementTree(ed).write(a.out, xml_declaration=True, encoding="UTF-8")


def sad_jwt(key, claims):
    head = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = key.sign((head + "." + body).encode(), padding.PKCS1v15(), hashes.SHA256())
    return head + "." + body + "." + b64url(sig)


def encrypt_assertion(assertion, cert_path):
    """saml:EncryptedAssertion: AES-256-GCM data, its key wrapped with RSA-OAEP (MGF1/SHA-1)."""
    pub = x509.load_pem_x509_certificate(open(cert_path, "rb").read()).public_key()
    cek, iv = os.urandom(32), os.urandom(12)
    data = etree.tostring(assertion)
    ct = iv + AESGCM(cek).encrypt(iv, data, None)
    wrapped = pub.encrypt(cek, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None))
    ea = etree.Element(q("saml", "EncryptedAssertion"))
    ed = etree.SubElement(ea, q("xenc", "EncryptedData"), nsmap={"xenc": NS["xenc"]},
                          Type="http://www.w3.org/2001/04/xmlenc#Element")
    etree.SubElement(ed, q("xenc", "EncryptionMethod"), Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm")
    ek = etree.SubElement(etree.SubElement(ed, q("ds", "KeyInfo"), nsmap={"ds": NS["ds"]}), q("xenc", "EncryptedKey"))
    em = etree.SubElement(ek, q("xenc", "EncryptionMethod"), Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p")
    etree.SubElement(em, q("ds", "DigestMethod"), Algorithm="http://www.w3.org/2000/09/xmldsig#sha1")
    etree.SubElement(etree.SubElement(ek, q("xenc", "CipherData")), q("xenc", "CipherValue")).text = b64(wrapped)
    etree.SubElement(etree.SubElement(ed, q("xenc", "CipherData")), q("xenc", "CipherValue")).text = b64(ct)
    return ea


def text_of(root, path):
    el = root.find(path, NS)
    return el.text.strip() if el is not None and el.text else None


def cmd_respond(a):
    req = etree.parse(a.authn_request).getroot()
    if req.tag != q("samlp", "AuthnRequest"):
        sys.exit("test-idp: not a samlp:AuthnRequest")
    sp, acs, req_id = text_of(req, "saml:Issuer"), req.get("AssertionConsumerServiceURL"), req.get("ID")
    key = load_key(a.key)
    attrs = [(PNR, a.pnr), ("urn:oid:2.5.4.42", a.given_name), ("urn:oid:2.5.4.4", a.surname),
             ("urn:oid:2.16.840.1.113730.3.1.241", a.given_name + " " + a.surname)]
    # The sign message as the user would have read it (unencrypted csig:Message in the request).
    msg = text_of(req, "samlp:Extensions/csig:SignMessage/csig:Message")
    if msg is not None and a.sign_message_digest != "none":
        shown = base64.b64decode(msg)
        if a.sign_message_digest == "wrong":
            shown += b" (not what was asked)"
        attrs.append((ATTR_SMD, SHA256 + ";" + b64(hashlib.sha256(shown).digest())))
    sad_req = req.find("samlp:Extensions/sap:SADRequest", NS)
    if sad_req is not None and a.sad != "none":
        now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
        claims = {"iss": a.entity_id, "aud": text_of(sad_req, "sap:RequesterID"), "iat": now, "exp": now + 300,
                  "jti": uuid.uuid4().hex, "sub": a.pnr,
                  "seElnSadext": {"ver": text_of(sad_req, "sap:RequestedVersion") or "1.0",
                                  "irt": sad_req.get("ID"), "attr": PNR, "loa": LOA4,
                                  "reqid": text_of(sad_req, "sap:SignRequestID"),
                                  "docs": int(text_of(sad_req, "sap:DocCount"))}}
        attrs.append((ATTR_SAD, sad_jwt(load_key(a.forge_key) if a.sad == "forged" else key, claims)))

    resp = etree.Element(q("samlp", "Response"), nsmap={"samlp": NS["samlp"], "saml": NS["saml"]},
                         ID=new_id(), Version="2.0", IssueInstant=instant(), Destination=acs, InResponseTo=req_id)
    etree.SubElement(resp, q("saml", "Issuer")).text = a.entity_id
    etree.SubElement(etree.SubElement(resp, q("samlp", "Status")), q("samlp", "StatusCode"),
                     Value="urn:oasis:names:tc:SAML:2.0:status:Success")
    asn = etree.Element(q("saml", "Assertion"), nsmap={"saml": NS["saml"]}, ID=new_id(), Version="2.0",
                        IssueInstant=instant())
    etree.SubElement(asn, q("saml", "Issuer")).text = a.entity_id
    subj = etree.SubElement(asn, q("saml", "Subject"))
    etree.SubElement(subj, q("saml", "NameID"), Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient").text = new_id()
    sc = etree.SubElement(subj, q("saml", "SubjectConfirmation"), Method="urn:oasis:names:tc:SAML:2.0:cm:bearer")
    etree.SubElement(sc, q("saml", "SubjectConfirmationData"), NotOnOrAfter=instant(300), Recipient=acs,
                     InResponseTo=req_id)
    cond = etree.SubElement(asn, q("saml", "Conditions"), NotBefore=instant(-5), NotOnOrAfter=instant(300))
    etree.SubElement(etree.SubElement(cond, q("saml", "AudienceRestriction")), q("saml", "Audience")).text = sp
    st = etree.SubElement(asn, q("saml", "AuthnStatement"), AuthnInstant=instant(), SessionIndex=new_id())
    etree.SubElement(etree.SubElement(st, q("saml", "AuthnContext")), q("saml", "AuthnContextClassRef")).text = LOA4
    ats = etree.SubElement(asn, q("saml", "AttributeStatement"))
    for name, value in attrs:
        at = etree.SubElement(ats, q("saml", "Attribute"), Name=name, NameFormat=URI_FMT)
        etree.SubElement(at, q("saml", "AttributeValue")).text = value
    sign_by_id(asn, key, a.cert)
    resp.append(encrypt_assertion(asn, a.sp_encryption_cert))
    sign_by_id(resp, key, a.cert)
    print(b64(etree.tostring(resp, xml_declaration=True, encoding="UTF-8")))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("metadata")
    for opt in ("--entity-id", "--sso-url", "--cert", "--out"):
        p.add_argument(opt, required=True)
    p = sub.add_parser("respond")
    for opt in ("--authn-request", "--entity-id", "--key", "--cert", "--sp-encryption-cert", "--pnr"):
        p.add_argument(opt, required=True)
    p.add_argument("--given-name", default="Test")
    p.add_argument("--surname", default="Testsson")
    p.add_argument("--sad", choices=("ok", "none", "forged"), default="ok")
    p.add_argument("--forge-key", default=None, help="the key a forged SAD is signed with")
    p.add_argument("--sign-message-digest", choices=("ok", "none", "wrong"), default="ok")
    a = ap.parse_args()
    if a.cmd == "respond" and a.sad == "forged" and not a.forge_key:
        ap.error("--sad forged needs --forge-key")
    {"metadata": cmd_metadata, "respond": cmd_respond}[a.cmd](a)


if __name__ == "__main__":
    main()
