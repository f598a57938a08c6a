#!/usr/bin/env bash
# Makes the seeds of fuzz_sp_response (tests/fuzz/corpus/fuzz_sp_response/) with xmlsec1 and the
# fixed test key tests/fuzz/sp_response_idp_key.pem (its certificate, sp_response_idp_cert.pem,
# is embedded in fuzz_sp_response.c as the IdP's metadata key). The fuzz target's clock is fixed
# at 2026-01-01T00:00:10Z, the times below fit it. Run it again only to change the seeds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/corpus/fuzz_sp_response
key=$here/sp_response_idp_key.pem
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
SIG='<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#REF"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>'
RESP_OPEN='<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2026-01-01T00:00:00Z" Destination="https://sign.example.se/sign/acs" InResponseTo="_req1"><saml:Issuer>https://idp.example.se/idp</saml:Issuer>'
SUCCESS='<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
ASSERTION_BODY='<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">abc123</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="2026-01-01T00:05:00Z" Recipient="https://sign.example.se/sign/acs" InResponseTo="_req1" Address="192.0.2.7"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="2025-12-31T23:59:00Z" NotOnOrAfter="2026-01-01T00:05:00Z"><saml:AudienceRestriction><saml:Audience>https://sign.example.se/sigservice</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="2026-01-01T00:00:00Z"><saml:AuthnContext><saml:AuthnContextClassRef>http://id.elegnamnden.se/loa/1.0/loa4</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="urn:oid:1.2.752.29.4.13" FriendlyName="personalIdentityNumber"><saml:AttributeValue>195006262546</saml:AttributeValue></saml:Attribute><saml:Attribute Name="urn:oid:1.2.752.201.3.14"><saml:AttributeValue>http://www.w3.org/2001/04/xmlenc#sha256;0yKaSVsYeh+PX2Q6diqO2w89+a3Dm303tp3AVjgxwj0=</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>'
ASSERTION="<saml:Assertion ID=\"_a1\" Version=\"2.0\" IssueInstant=\"2026-01-01T00:00:00Z\"><saml:Issuer>https://idp.example.se/idp</saml:Issuer>${SIG/REF/_a1}${ASSERTION_BODY}</saml:Assertion>"

sign() {   # in out id-attr-node
	xmlsec1 --sign --privkey-pem "$key" --id-attr:ID "$3" --output "$2" "$1" 2>/dev/null
	tr -d '\n' <"$2" | sed 's/^<?xml[^>]*>//' >"$2.tmp" && mv "$2.tmp" "$2"
}

# 1: an unsigned Response with a signed plain Assertion (passes every check)
printf '%s' "${RESP_OPEN}${SUCCESS}${ASSERTION}</samlp:Response>" >"$tmp/a.xml"
sign "$tmp/a.xml" "$out/signed_assertion.xml" urn:oasis:names:tc:SAML:2.0:assertion:Assertion
# 2: a signed error Response (cancel)
printf '%s' "${RESP_OPEN}${SIG/REF/_r1}<samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Responder\"><samlp:StatusCode Value=\"http://id.elegnamnden.se/status/1.0/cancel\"/></samlp:StatusCode><samlp:StatusMessage>cancelled</samlp:StatusMessage></samlp:Status></samlp:Response>" >"$tmp/b.xml"
sign "$tmp/b.xml" "$out/status_cancel.xml" urn:oasis:names:tc:SAML:2.0:protocol:Response
# 3: an EncryptedAssertion (refused: no decryption key in the fuzz target) with both xenc shapes
printf '%s' "${RESP_OPEN}${SUCCESS}<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" Type=\"http://www.w3.org/2001/04/xmlenc#Element\"><xenc:EncryptionMethod Algorithm=\"http://www.w3.org/2009/xmlenc11#aes256-gcm\"/><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p\"><ds:DigestMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#sha1\"/></xenc:EncryptionMethod><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion></samlp:Response>" >"$out/encrypted.xml"
ls -l "$out"
