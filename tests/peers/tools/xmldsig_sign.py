"""Enveloped XML-DSig for the test tools that play other parties (sign-client.py, the agency
app; test-idp.py, another IdP). Tests only, no code shared with efosd: exclusive c14n from lxml,
RSA PKCS#1 v1.5 / ECDSA (r||s) SHA-256 from python3-cryptography."""
import base64, hashlib

from lxml import etree
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"


def c14n(el):
    return etree.tostring(el, method="c14n", exclusive=True, with_comments=False)


def b64(b):
    return base64.b64encode(b).decode()


def load_key(path):
    return serialization.load_pem_private_key(open(path, "rb").read(), password=None)


def cert_b64(cert_pem):
    """The base64 body of a PEM certificate (bytes or str)."""
    text = cert_pem.decode() if isinstance(cert_pem, bytes) else cert_pem
    return "".join(l for l in text.splitlines() if "-----" not in l)


def sign_enveloped(signed, key, cert_pem, ref_uri="", parent=None, index=None):
    """Signs the element `signed` (Reference ref_uri: "" for the whole document, "#ID" for an
    element) with an enveloped signature; ds:Signature goes into parent (default: signed) at
    index (default: last), as the profile being played requires."""
    digest = hashlib.sha256(c14n(signed)).digest()
    sig = etree.Element("{%s}Signature" % DS, nsmap={"ds": DS})
    parent = signed if parent is None else parent
    if index is None:
        parent.append(sig)
    else:
        parent.insert(index, sig)
    q = lambda n: "{%s}%s" % (DS, n)
    si = etree.SubElement(sig, q("SignedInfo"))
    etree.SubElement(si, q("CanonicalizationMethod"), Algorithm=EXC_C14N)
    is_ec = isinstance(key, ec.EllipticCurvePrivateKey)
    etree.SubElement(si, q("SignatureMethod"), Algorithm=ECDSA_SHA256 if is_ec else RSA_SHA256)
    ref = etree.SubElement(si, q("Reference"), URI=ref_uri)
    tr = etree.SubElement(ref, q("Transforms"))
    etree.SubElement(tr, q("Transform"), Algorithm=ENVELOPED)
    etree.SubElement(tr, q("Transform"), Algorithm=EXC_C14N)
    etree.SubElement(ref, q("DigestMethod"), Algorithm=SHA256)
    etree.SubElement(ref, q("DigestValue")).text = b64(digest)
    data = c14n(si)
    if is_ec:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        n = (key.curve.key_size + 7) // 8
        value = r.to_bytes(n, "big") + s.to_bytes(n, "big")
    else:
        value = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    etree.SubElement(sig, q("SignatureValue")).text = b64(value)
    xd = etree.SubElement(etree.SubElement(sig, q("KeyInfo")), q("X509Data"))
    etree.SubElement(xd, q("X509Certificate")).text = cert_b64(cert_pem)
