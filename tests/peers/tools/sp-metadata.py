#!/usr/bin/python3
"""Decorates an SP's generated metadata for registration with the EFOS IdP (tests only).

usage: sp-metadata.py IN OUT --name-sv S --name-en E [--ec URI]... [--acs URL]...

Adds, as the Swedish eID Framework expects of an SP (spec §1.2, §4): md:Extensions with
mdattr:EntityAttributes (entity categories: service ECs and the contract category) on the
EntityDescriptor, and mdui:UIInfo (DisplayName sv/en) on the SPSSODescriptor. --acs adds
extra HTTP-POST AssertionConsumerService locations (index after the last)."""
import argparse
import xml.etree.ElementTree as ET

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
MDATTR = "urn:oasis:names:tc:SAML:metadata:attribute"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
MDUI = "urn:oasis:names:tc:SAML:metadata:ui"
for p, u in (("md", MD), ("mdattr", MDATTR), ("saml", SAML), ("mdui", MDUI),
             ("ds", "http://www.w3.org/2000/09/xmldsig#")):
    ET.register_namespace(p, u)

ap = argparse.ArgumentParser()
ap.add_argument("inp"); ap.add_argument("out")
ap.add_argument("--name-sv", required=True); ap.add_argument("--name-en", required=True)
ap.add_argument("--ec", action="append", default=[])
ap.add_argument("--acs", action="append", default=[])
a = ap.parse_args()

tree = ET.parse(a.inp)
ed = tree.getroot()
for old in ed.findall("{%s}Extensions" % MD):
    ed.remove(old)
ext = ET.Element("{%s}Extensions" % MD)
ea = ET.SubElement(ext, "{%s}EntityAttributes" % MDATTR)
attr = ET.SubElement(ea, "{%s}Attribute" % SAML, Name="http://macedir.org/entity-category",
                     NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri")
for ec in a.ec:
    ET.SubElement(attr, "{%s}AttributeValue" % SAML).text = ec
pos = 0
for i, ch in enumerate(list(ed)):
    if ch.tag == "{http://www.w3.org/2000/09/xmldsig#}Signature":
        pos = i + 1
ed.insert(pos, ext)

sp = ed.find("{%s}SPSSODescriptor" % MD)
for old in sp.findall("{%s}Extensions" % MD):
    sp.remove(old)
spext = ET.Element("{%s}Extensions" % MD)
ui = ET.SubElement(spext, "{%s}UIInfo" % MDUI)
for lang, name in (("sv", a.name_sv), ("en", a.name_en)):
    dn = ET.SubElement(ui, "{%s}DisplayName" % MDUI)
    dn.set("{http://www.w3.org/XML/1998/namespace}lang", lang)
    dn.text = name
sp.insert(0, spext)
acss = sp.findall("{%s}AssertionConsumerService" % MD)
idx = max([int(x.get("index", "0")) for x in acss] + [0]) + 1
for url in a.acs:
    ET.SubElement(sp, "{%s}AssertionConsumerService" % MD,
                  Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", Location=url, index=str(idx))
    idx += 1
tree.write(a.out, xml_declaration=True, encoding="UTF-8")
