#!/usr/bin/python3
"""Writes a valid PDF of about SIZE bytes (one page of text, padded with an incompressible
image XObject) for the PAdES benchmark. usage: mk-pdf.py OUT SIZE"""
import os, sys

out, size = sys.argv[1], int(sys.argv[2])
pad = os.urandom(max(0, size - 1200))
objs = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
    b"/Resources << /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >> >>",
]
text = b"BT /F1 12 Tf 72 770 Td (EFOS benchmark document) Tj ET"
objs.append(b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream")
objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
w = max(1, len(pad) // 3)
objs.append(b"<< /Type /XObject /Subtype /Image /Width %d /Height 1 /ColorSpace /DeviceRGB "
            b"/BitsPerComponent 8 /Length %d >>\nstream\n" % (w, w * 3) + pad[:w * 3] + b"\nendstream")
body = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
offs = []
for i, o in enumerate(objs, 1):
    offs.append(len(body))
    body += b"%d 0 obj\n" % i + o + b"\nendobj\n"
xref = len(body)
body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
for off in offs:
    body += b"%010d 00000 n \n" % off
body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
open(out, "wb").write(body)
