#!/usr/bin/python3
"""Writes an unsigned SAML metadata aggregate of N SP entities shaped like a federation's (entity
categories, mdui names in two languages, a signing and an encryption certificate, two ACS), with
a ds:Signature template on the root for xmlsec1 --sign, for the metadata benchmark
(bench/6-metadata.sh). The certificates come from a pool of --keys RSA-2048 keys (making 10,000
keys would take minutes; EFOS parses every entity's certificate anyway).

usage: mk-aggregate.py OUT N [--keys K] [--valid-days D]"""
import argparse, base64, datetime
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ap = argparse.ArgumentParser()
ap.add_argument("out"); ap.add_argument("n", type=int)
ap.add_argument("--keys", type=int, default=16); ap.add_argument("--valid-days", type=int, default=7)
a = ap.parse_args()

now = datetime.datetime.now(datetime.timezone.utc)
certs = []
for i in range(a.keys):
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench sp %d" % i)])
    c = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=365)).sign(k, hashes.SHA256()))
    certs.append(base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode())

until = (now + datetime.timedelta(days=a.valid_days)).strftime("%Y-%m-%dT%H:%M:%SZ")
ECS = ("http://id.elegnamnden.se/ec/1.0/loa4-pnr", "http://id.swedenconnect.se/ec/1.0/loa4-orgid",
       "http://id.swedenconnect.se/contract/sc/prepaid-auth-2021")
with open(a.out, "w", encoding="utf-8") as f:
    f.write('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
            'xmlns:mdattr="urn:oasis:names:tc:SAML:metadata:attribute" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" '
            'ID="_bench_aggregate" Name="urn:bench:aggregate" validUntil="%s">\n' % until)
    f.write('<ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
            '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
            '<ds:Reference URI="#_bench_aggregate"><ds:Transforms>'
            '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
            '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>'
            '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>'
            '</ds:SignedInfo><ds:SignatureValue/></ds:Signature>\n')
    for i in range(a.n):
        c = certs[i % len(certs)]
        host = "sp%05d.bench.example.se" % i
        f.write('<md:EntityDescriptor entityID="https://%s/sp"><md:Extensions><mdattr:EntityAttributes>'
                '<saml:Attribute Name="http://macedir.org/entity-category" '
                'NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">%s</saml:Attribute>'
                '</mdattr:EntityAttributes></md:Extensions>'
                '<md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" '
                'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
                '<md:Extensions><mdui:UIInfo><mdui:DisplayName xml:lang="sv">Tjänst %d</mdui:DisplayName>'
                '<mdui:DisplayName xml:lang="en">Service %d</mdui:DisplayName></mdui:UIInfo></md:Extensions>'
                '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s'
                '</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>'
                '<md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s'
                '</ds:X509Certificate></ds:X509Data></ds:KeyInfo>'
                '<md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>'
                '<md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/></md:KeyDescriptor>'
                '<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>'
                '<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
                'Location="https://%s/acs" index="0"/>'
                '<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
                'Location="https://%s/acs2" index="1"/>'
                '</md:SPSSODescriptor></md:EntityDescriptor>\n'
                % (host, "".join("<saml:AttributeValue>%s</saml:AttributeValue>" % ec for ec in ECS),
                   i, i, c, c, host, host))
    f.write('</md:EntitiesDescriptor>\n')
