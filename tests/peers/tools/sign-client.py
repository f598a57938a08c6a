#!/usr/bin/python3
"""Reference client of the federated signing service (spec §7; issue 5 item 5). Tests only: it
plays the agency web app (the "Signature Requestor") that keeps the document, sends only the
to-be-signed bytes in a signed dss:SignRequest, and assembles the signed document from the
SignResponse. It shares no code with efosd: XML c14n comes from lxml, DER from asn1crypto,
signatures from python3-cryptography.

  sign-client.py mkpdf OUT.pdf [--text TEXT]
      a small one-page PDF (classic xref table) to sign
  sign-client.py prepare --type xml|pdf --doc FILE --state DIR --key KEY.pem --cert CERT.pem
        --requester ENTITY --service ENTITY --idp ENTITY --return-url URL
        [--signer NAME=VALUE]... [--sign-message TEXT] [--must-show] [--loa URI]
        [--cert-type PKC|QC|QC/SSCD] [--request-id ID] [--age SECONDS] [--version V]
        [--unsigned] [--sign-key OTHER.pem] [--no-cert-attrs]
      writes DIR/request.xml, DIR/request.b64 (the EidSignRequest form value), DIR/state.json
      and the prepared document; prints the RequestID
  sign-client.py prepare-batch --count N --out FILE --doc FILE.xml (the prepare options but
        --type, --state, --request-id, --unsigned, --sign-key) [--valid-for SECONDS]
      N SignRequests for one XML document, each with its own RequestID, one EidSignRequest form
      value (base64) per line: the load of the federated-signing benchmark (bench/4-signing.sh),
      made before the timed part; nothing is kept for assembling
  sign-client.py result --response FILE.b64
      prints "MAJOR MINOR MESSAGE" of a SignResponse (one line) and writes nothing
  sign-client.py assemble --state DIR --response FILE.b64 --out FILE [--chain-out FILE.pem]
      checks the response answers our RequestID with Success, assembles the signed XML
      (XAdES, enveloped) or PDF (PAdES: CMS SignedData into /Contents), writes the signer's
      chain as PEM when asked
  sign-client.py pdf-ranges --pdf FILE --content OUT.bin --cms OUT.der
      cuts the last signature's ByteRange bytes and /Contents CMS out of a signed PDF (for
      `openssl cms -verify -binary -inform DER -content OUT.bin`)
"""
import argparse, base64, datetime, hashlib, json, os, re, sys, uuid

from lxml import etree
from asn1crypto import cms, x509 as ax509

from xmldsig_sign import (EXC_C14N, ENVELOPED, SHA256, RSA_SHA256, b64, c14n, load_key,  # tools/
                          sign_enveloped)

NS = {
    "dss": "urn:oasis:names:tc:dss:1.0:core:schema",
    "csig": "http://id.elegnamnden.se/csig/1.1/dss-ext/ns",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xades": "http://uri.etsi.org/01903/v1.3.2#",
}
SP_TYPE = "http://uri.etsi.org/01903#SignedProperties"
ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
URI_FMT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
PROFILE = "http://id.elegnamnden.se/csig/1.1/dss-ext/profile"
SUCCESS = "urn:oasis:names:tc:dss:1.0:resultmajor:Success"
CONTENTS_HEX = 16384  # placeholder: 8 KiB of DER


def q(prefix, name):
    return "{%s}%s" % (NS[prefix], name)


def now_utc(offset=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def die(msg):
    print("sign-client: " + msg, file=sys.stderr)
    sys.exit(1)


# ---- XML (XAdES baseline B, enveloped) ---------------------------------------------------------

def xml_prepare(doc_bytes, state):
    """ds:Signature template with a Reference to the whole document (enveloped) and one to the
    XAdES SignedProperties; returns (ToBeSignedBytes, SignatureId, AdESObjectBytes)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
    root = etree.fromstring(doc_bytes, parser)
    doc_digest = hashlib.sha256(c14n(root)).digest()  # before the signature exists = enveloped
    sig_id = "sig-" + uuid.uuid4().hex
    sp_id = "xades-" + sig_id
    obj = etree.Element(q("ds", "Object"), nsmap={"ds": NS["ds"], "xades": NS["xades"]})
    qp = etree.SubElement(obj, q("xades", "QualifyingProperties"), Target="#" + sig_id)
    sp = etree.SubElement(qp, q("xades", "SignedProperties"), Id=sp_id)
    ssp = etree.SubElement(sp, q("xades", "SignedSignatureProperties"))
    etree.SubElement(ssp, q("xades", "SigningTime")).text = now_utc()
    sp_digest = hashlib.sha256(c14n(sp)).digest()

    si = etree.Element(q("ds", "SignedInfo"), nsmap={"ds": NS["ds"]})
    etree.SubElement(si, q("ds", "CanonicalizationMethod"), Algorithm=EXC_C14N)
    etree.SubElement(si, q("ds", "SignatureMethod"), Algorithm=state["sig_alg"])
    for uri, typ, transforms, digest in (
            ("", None, (ENVELOPED, EXC_C14N), doc_digest),
            ("#" + sp_id, SP_TYPE, (EXC_C14N,), sp_digest)):
        ref = etree.SubElement(si, q("ds", "Reference"), URI=uri)
        if typ:
            ref.set("Type", typ)
        tr = etree.SubElement(ref, q("ds", "Transforms"))
        for t in transforms:
            etree.SubElement(tr, q("ds", "Transform"), Algorithm=t)
        etree.SubElement(ref, q("ds", "DigestMethod"), Algorithm=SHA256)
        etree.SubElement(ref, q("ds", "DigestValue")).text = b64(digest)
    return c14n(si), sig_id, etree.tostring(obj)


def xml_assemble(state, doc_bytes, task, chain):
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(doc_bytes, parser)
    sig = etree.SubElement(root, q("ds", "Signature"), nsmap={"ds": NS["ds"]}, Id=state["sig_id"])
    sig.append(etree.fromstring(task["tbs"], parser))
    etree.SubElement(sig, q("ds", "SignatureValue")).text = b64(task["sig"])
    ki = etree.SubElement(sig, q("ds", "KeyInfo"))
    xd = etree.SubElement(ki, q("ds", "X509Data"))
    for der in chain:
        etree.SubElement(xd, q("ds", "X509Certificate")).text = b64(der)
    sig.append(etree.fromstring(task["ades"] or state["ades_object"].encode(), parser))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# ---- PDF (PAdES baseline B: incremental update + detached CMS) ---------------------------------

def mkpdf(path, text):
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        None,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    stream = b"BT /F1 18 Tf 72 760 Td (" + text.encode("latin-1") + b") Tj ET"
    objs[3] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offs = []
    for i, o in enumerate(objs, 1):
        offs.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offs:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    open(path, "wb").write(out)


def pdf_xref(buf):
    """The object offsets of a PDF with classic xref tables (all revisions) and its last
    trailer; enough for the documents this client makes and the seal API returns."""
    m = re.findall(rb"startxref\s+(\d+)\s+%%EOF", buf)
    if not m:
        die("no startxref")
    offsets, trailer, pos, seen = {}, None, int(m[-1]), set()
    while pos is not None and pos not in seen:
        seen.add(pos)
        if buf[pos:pos + 4] != b"xref":
            die("only classic xref tables are supported by this test client")
        p = pos + 4
        while True:
            mm = re.compile(rb"\s*(\d+) (\d+)\s*\n").match(buf, p)
            if not mm:
                break
            first, count = int(mm.group(1)), int(mm.group(2))
            p = mm.end()
            for i in range(count):
                ent = buf[p:p + 20]
                p += 20
                if ent[17:18] == b"n" and first + i not in offsets:
                    offsets[first + i] = int(ent[:10])
        tm = re.compile(rb"\s*trailer\s*(<<.*?>>)\s*startxref", re.S).match(buf, p)
        if not tm:
            die("no trailer")
        if trailer is None:
            trailer = tm.group(1)
        pm = re.search(rb"/Prev\s+(\d+)", tm.group(1))
        pos = int(pm.group(1)) if pm else None
    return offsets, trailer


def pdf_obj_dict(buf, offsets, num):
    m = re.compile(rb"%d\s+0\s+obj\s*(<<.*?>>)\s*endobj" % num, re.S).match(buf, offsets[num])
    if not m:
        die("object %d is not a plain dictionary" % num)
    return m.group(1)


def pdf_prepare(buf):
    """Appends the signature dictionary (placeholder /Contents), an invisible signature widget
    on the first page and the catalog's /AcroForm; returns (prepared PDF, ByteRange)."""
    offsets, trailer = pdf_xref(buf)
    size = int(re.search(rb"/Size\s+(\d+)", trailer).group(1))
    root = int(re.search(rb"/Root\s+(\d+)\s+0\s+R", trailer).group(1))
    cat = pdf_obj_dict(buf, offsets, root)
    if b"/AcroForm" in cat:
        die("this test client signs PDFs without a form only")
    pages = int(re.search(rb"/Pages\s+(\d+)\s+0\s+R", cat).group(1))
    page = int(re.search(rb"/Kids\s*\[\s*(\d+)\s+0\s+R", pdf_obj_dict(buf, offsets, pages)).group(1))
    pdict = pdf_obj_dict(buf, offsets, page)
    if b"/Annots" in pdict:
        die("this test client signs pages without annotations only")
    sig_n, wid_n = size, size + 1
    mtime = datetime.datetime.now(datetime.timezone.utc).strftime("D:%Y%m%d%H%M%SZ").encode()
    out = bytearray(buf)
    if not out.endswith(b"\n"):
        out += b"\n"
    new = {}
    new[sig_n] = len(out)
    out += (b"%d 0 obj\n<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached "
            b"/ByteRange [0 ********** ********** **********] /Contents <" % sig_n)
    contents_at = len(out) - 1
    out += b"0" * CONTENTS_HEX + b"> /M (" + mtime + b") >>\nendobj\n"
    contents_end = len(out) - len(b" /M (" + mtime + b") >>\nendobj\n")
    new[wid_n] = len(out)
    out += (b"%d 0 obj\n<< /Type /Annot /Subtype /Widget /FT /Sig /T (Signature1) /V %d 0 R "
            b"/F 132 /Rect [0 0 0 0] /P %d 0 R >>\nendobj\n" % (wid_n, sig_n, page))
    new[root] = len(out)
    out += b"%d 0 obj\n" % root + cat[:-2] + b" /AcroForm << /Fields [%d 0 R] /SigFlags 3 >> >>\nendobj\n" % wid_n
    new[page] = len(out)
    out += b"%d 0 obj\n" % page + pdict[:-2] + b" /Annots [%d 0 R] >>\nendobj\n" % wid_n
    xref_at = len(out)
    out += b"xref\n0 1\n0000000000 65535 f \n"
    for n in sorted(new):
        out += b"%d 1\n%010d 00000 n \n" % (n, new[n])
    prev = int(re.findall(rb"startxref\s+(\d+)\s+%%EOF", buf)[-1])
    out += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        size + 2, root, prev, xref_at)
    br = [0, contents_at, contents_end, len(out) - contents_end]
    br_txt = b"%010d %010d %010d" % tuple(br[1:])
    i = out.index(b"********** ********** **********")
    out[i:i + len(br_txt)] = br_txt
    return bytes(out), br


def pdf_signed_attrs(buf, br):
    content = buf[br[0]:br[0] + br[1]] + buf[br[2]:br[2] + br[3]]
    attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(content).digest()]}),
    ])
    return attrs.dump()


def cms_sig_algo(cert):
    if cert.public_key.algorithm == "ec":
        return {"algorithm": "sha256_ecdsa"}
    return {"algorithm": "rsassa_pkcs1v15"}


def pdf_assemble(state, buf, task, chain):
    br = state["byte_range"]
    certs = [ax509.Certificate.load(d) for d in chain]
    signer = certs[0]
    si = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
            "issuer": signer.issuer, "serial_number": signer.serial_number})}),
        "digest_algorithm": {"algorithm": "sha256"},
        "signed_attrs": cms.CMSAttributes.load(task["tbs"]),
        "signature_algorithm": cms_sig_algo(signer),
        "signature": task["sig"],
    })
    sd = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [{"algorithm": "sha256"}],
        "encap_content_info": {"content_type": "data"},
        "certificates": certs,
        "signer_infos": [si],
    })
    der = cms.ContentInfo({"content_type": "signed_data", "content": sd}).dump()
    hexed = der.hex().encode()
    if len(hexed) > CONTENTS_HEX:
        die("CMS too large for the placeholder")
    out = bytearray(buf)
    out[br[1] + 1:br[1] + 1 + len(hexed)] = hexed
    return bytes(out)


def pdf_ranges(buf):
    m = re.findall(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", buf)
    if not m:
        die("no /ByteRange")
    br = [int(x) for x in m[-1]]
    content = buf[br[0]:br[0] + br[1]] + buf[br[2]:br[2] + br[3]]
    hexed = buf[br[0] + br[1] + 1:br[2] - 1].rstrip(b"0")
    if len(hexed) % 2:
        hexed += b"0"
    return content, bytes.fromhex(hexed.decode())


# ---- the SignRequest --------------------------------------------------------------------------

def attr_el(parent, name, values):
    a = etree.SubElement(parent, q("saml", "Attribute"), Name=name, NameFormat=URI_FMT)
    for v in values:
        etree.SubElement(a, q("saml", "AttributeValue")).text = v


def cert_attrs(parent):
    """A RequestedCertAttributes as the reference signservice's test data (spec §7.2)."""
    rca = etree.SubElement(parent, q("csig", "RequestedCertAttributes"))
    for ref, friendly, sources, default, required in (
            ("2.5.4.5", "serialNumber", [("urn:oid:1.2.752.29.4.13", 0)], None, True),
            ("2.5.4.6", "country", [("urn:oid:2.5.4.6", 0)], "SE", True),
            ("2.5.4.42", "givenName", [("urn:oid:2.5.4.42", 0)], None, False),
            ("2.5.4.4", "surname", [("urn:oid:2.5.4.4", 0)], None, False),
            ("2.5.4.3", "commonName", [("urn:oid:2.16.840.1.113730.3.1.241", 0),
                                        ("urn:oid:2.5.4.3", 1)], None, False)):
        el = etree.SubElement(rca, q("csig", "RequestedCertAttribute"), CertAttributeRef=ref,
                              CertNameType="rdn", FriendlyName=friendly)
        if default:
            el.set("DefaultValue", default)
        if required:
            el.set("Required", "true")
        for name, order in sources:
            etree.SubElement(el, q("csig", "SamlAttributeName"), Order=str(order)).text = name


def build_request(a, task_type, tbs, sig_id, ades_obj, request_id):
    root = etree.Element(q("dss", "SignRequest"), nsmap={"dss": NS["dss"]},
                         Profile=PROFILE, RequestID=request_id)
    oi = etree.SubElement(root, q("dss", "OptionalInputs"))
    ext = etree.SubElement(oi, q("csig", "SignRequestExtension"),
                           nsmap={"csig": NS["csig"], "saml": NS["saml"]}, Version=a.version)
    etree.SubElement(ext, q("csig", "RequestTime")).text = now_utc(-a.age)
    cond = etree.SubElement(ext, q("saml", "Conditions"), NotBefore=now_utc(-a.age - 30),
                            NotOnOrAfter=now_utc(-a.age + getattr(a, "valid_for", 300)))
    ar = etree.SubElement(cond, q("saml", "AudienceRestriction"))
    etree.SubElement(ar, q("saml", "Audience")).text = a.return_url
    if a.signer:
        signer = etree.SubElement(ext, q("csig", "Signer"))
        for nv in a.signer:
            name, _, value = nv.partition("=")
            attr_el(signer, name, [value])
    etree.SubElement(ext, q("csig", "IdentityProvider"), Format=ENTITY).text = a.idp
    etree.SubElement(ext, q("csig", "SignRequester"), Format=ENTITY).text = a.requester
    etree.SubElement(ext, q("csig", "SignService"), Format=ENTITY).text = a.service
    etree.SubElement(ext, q("csig", "RequestedSignatureAlgorithm")).text = a.sig_alg
    crp = etree.SubElement(ext, q("csig", "CertRequestProperties"), CertType=a.cert_type)
    etree.SubElement(crp, q("saml", "AuthnContextClassRef")).text = a.loa
    if not a.no_cert_attrs:
        cert_attrs(crp)
    if a.sign_message is not None:
        sm = etree.SubElement(ext, q("csig", "SignMessage"), MimeType="text", DisplayEntity=a.idp)
        if a.must_show:
            sm.set("MustShow", "true")
        etree.SubElement(sm, q("csig", "Message")).text = b64(a.sign_message.encode())
    idocs = etree.SubElement(root, q("dss", "InputDocuments"))
    other = etree.SubElement(idocs, q("dss", "Other"))
    tasks = etree.SubElement(other, q("csig", "SignTasks"), nsmap={"csig": NS["csig"]})
    td = etree.SubElement(tasks, q("csig", "SignTaskData"), SignTaskId="task-1",
                          SigType=task_type, AdESType="BES")
    etree.SubElement(td, q("csig", "ToBeSignedBytes")).text = b64(tbs)
    if ades_obj is not None:
        ao = etree.SubElement(td, q("csig", "AdESObject"))
        etree.SubElement(ao, q("csig", "SignatureId")).text = sig_id
        etree.SubElement(ao, q("csig", "AdESObjectBytes")).text = b64(ades_obj)
    if not a.unsigned:
        key = getattr(a, "key_obj", None) or load_key(a.sign_key or a.key)
        sign_enveloped(root, key, open(a.cert, "rb").read(), parent=oi)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def cmd_prepare(a):
    os.makedirs(a.state, exist_ok=True)
    doc = open(a.doc, "rb").read()
    request_id = a.request_id or uuid.uuid4().hex + uuid.uuid4().hex[:8]
    state = {"type": a.type, "request_id": request_id, "sig_alg": a.sig_alg}
    if a.type == "xml":
        tbs, sig_id, obj = xml_prepare(doc, state)
        state.update(sig_id=sig_id, ades_object=obj.decode(), doc=os.path.abspath(a.doc))
        xml = build_request(a, "XML", tbs, sig_id, obj, request_id)
    else:
        prepared, br = pdf_prepare(doc)
        path = os.path.join(a.state, "prepared.pdf")
        open(path, "wb").write(prepared)
        state.update(byte_range=br, doc=path)
        xml = build_request(a, "PDF", pdf_signed_attrs(prepared, br), None, None, request_id)
    open(os.path.join(a.state, "request.xml"), "wb").write(xml)
    open(os.path.join(a.state, "request.b64"), "w").write(b64(xml))
    json.dump(state, open(os.path.join(a.state, "state.json"), "w"))
    print(request_id)


def cmd_prepare_batch(a):
    """One document, N requests: the key is loaded once; each request gets its own RequestID
    and its own ToBeSignedBytes (the XAdES SigningTime and ids are per request)."""
    if a.count < 1:
        die("--count must be at least 1")
    doc = open(a.doc, "rb").read()
    a.unsigned, a.sign_key, a.key_obj = False, None, load_key(a.key)
    with open(a.out + ".tmp", "w") as out:
        for _ in range(a.count):
            request_id = uuid.uuid4().hex + uuid.uuid4().hex[:8]
            tbs, sig_id, obj = xml_prepare(doc, {"type": "xml", "request_id": request_id, "sig_alg": a.sig_alg})
            out.write(b64(build_request(a, "XML", tbs, sig_id, obj, request_id)) + "\n")
    os.replace(a.out + ".tmp", a.out)


def parse_response(path):
    raw = base64.b64decode(open(path).read().strip())
    root = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True))
    if root.tag != q("dss", "SignResponse"):
        die("not a dss:SignResponse")
    return root


def response_result(root):
    major = root.findtext("dss:Result/dss:ResultMajor", namespaces=NS) or ""
    minor = root.findtext("dss:Result/dss:ResultMinor", namespaces=NS) or "-"
    msg = root.findtext("dss:Result/dss:ResultMessage", namespaces=NS) or ""
    return major, minor, msg


def cmd_result(a):
    print(" ".join(response_result(parse_response(a.response))))


def cmd_assemble(a):
    state = json.load(open(os.path.join(a.state, "state.json")))
    root = parse_response(a.response)
    major, minor, msg = response_result(root)
    if major != SUCCESS:
        die("SignResponse is not Success: %s %s %s" % (major, minor, msg))
    if root.get("RequestID") != state["request_id"]:
        die("SignResponse answers RequestID %s, not ours" % root.get("RequestID"))
    chain = [base64.b64decode(c.text) for c in root.iterfind(
        "dss:OptionalOutputs/csig:SignResponseExtension/csig:SignatureCertificateChain/csig:X509Certificate",
        namespaces=NS)]
    if not chain:
        die("no SignatureCertificateChain")
    tds = root.findall("dss:SignatureObject/dss:Other/csig:SignTasks/csig:SignTaskData", namespaces=NS)
    if len(tds) != 1:
        die("expected one SignTaskData, got %d" % len(tds))
    td = tds[0]
    ades = td.findtext("csig:AdESObject/csig:AdESObjectBytes", namespaces=NS)
    task = {"tbs": base64.b64decode(td.findtext("csig:ToBeSignedBytes", namespaces=NS)),
            "sig": base64.b64decode(td.findtext("csig:Base64Signature", namespaces=NS)),
            "ades": base64.b64decode(ades) if ades else None}
    doc = open(state["doc"], "rb").read()
    if state["type"] == "xml":
        out = xml_assemble(state, doc, task, chain)
    else:
        out = pdf_assemble(state, doc, task, chain)
    open(a.out, "wb").write(out)
    if a.chain_out:
        with open(a.chain_out, "w") as f:
            for der in chain:
                f.write("-----BEGIN CERTIFICATE-----\n")
                s = b64(der)
                f.write("\n".join(s[i:i + 64] for i in range(0, len(s), 64)) + "\n")
                f.write("-----END CERTIFICATE-----\n")


def cmd_pdf_ranges(a):
    content, der = pdf_ranges(open(a.pdf, "rb").read())
    open(a.content, "wb").write(content)
    open(a.cms, "wb").write(der)


def request_options(p):
    """The options that shape a SignRequest (prepare and prepare-batch)."""
    p.add_argument("--signer", action="append", default=[])
    p.add_argument("--sign-message", default=None)
    p.add_argument("--must-show", action="store_true")
    p.add_argument("--loa", default="http://id.elegnamnden.se/loa/1.0/loa4")
    p.add_argument("--cert-type", default="PKC")
    p.add_argument("--sig-alg", default=RSA_SHA256,
                   help="URI, or rsa-sha256 / ecdsa-sha256 for the xmldsig-more URIs")
    p.add_argument("--age", type=int, default=0, help="RequestTime this many seconds ago")
    p.add_argument("--version", default="1.5")
    p.add_argument("--no-cert-attrs", action="store_true")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("mkpdf")
    p.add_argument("out")
    p.add_argument("--text", default="EFOS test document")
    p = sub.add_parser("prepare")
    p.add_argument("--type", choices=("xml", "pdf"), required=True)
    for opt in ("--doc", "--state", "--key", "--cert", "--requester", "--service", "--idp", "--return-url"):
        p.add_argument(opt, required=True)
    p.add_argument("--request-id", default=None)
    p.add_argument("--unsigned", action="store_true")
    p.add_argument("--sign-key", default=None, help="sign with this key instead (a wrong key)")
    request_options(p)
    p = sub.add_parser("prepare-batch")
    for opt in ("--doc", "--out", "--key", "--cert", "--requester", "--service", "--idp", "--return-url"):
        p.add_argument(opt, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--valid-for", type=int, default=300, help="NotOnOrAfter this many seconds ahead")
    request_options(p)
    p = sub.add_parser("result")
    p.add_argument("--response", required=True)
    p = sub.add_parser("assemble")
    p.add_argument("--state", required=True)
    p.add_argument("--response", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--chain-out", default=None)
    p = sub.add_parser("pdf-ranges")
    p.add_argument("--pdf", required=True)
    p.add_argument("--content", required=True)
    p.add_argument("--cms", required=True)
    a = ap.parse_args()
    if getattr(a, "sig_alg", "").lower() in ("rsa-sha256", "ecdsa-sha256"):
        a.sig_alg = "http://www.w3.org/2001/04/xmldsig-more#" + a.sig_alg.lower()
    if a.cmd == "mkpdf":
        mkpdf(a.out, a.text)
    elif a.cmd == "prepare":
        cmd_prepare(a)
    elif a.cmd == "prepare-batch":
        cmd_prepare_batch(a)
    elif a.cmd == "result":
        cmd_result(a)
    elif a.cmd == "assemble":
        cmd_assemble(a)
    else:
        cmd_pdf_ranges(a)


if __name__ == "__main__":
    main()
