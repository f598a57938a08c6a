#!/usr/bin/python3
"""Reads an HTML page on stdin and prints one thing about its first form (tests only).

usage: html-form.py action            the form's action (entity-decoded)
       html-form.py field NAME        the value of the input NAME ("" when absent)
       html-form.py text              the visible text, whitespace squeezed"""
import sys
from html.parser import HTMLParser

class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.action = None
        self.fields = {}
        self.text = []
        self.in_form = 0
        self.skip = 0
    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = d.get("action", "")
            self.in_form = 1
        elif tag == "input" and self.in_form == 1 and d.get("name") and d.get("name") not in self.fields:
            self.fields[d["name"]] = d.get("value", "")
        elif tag in ("script", "style", "title"):
            self.skip += 1
    def handle_endtag(self, tag):
        if tag == "form" and self.in_form == 1:
            self.in_form = 2
        elif tag in ("script", "style", "title"):
            self.skip -= 1
    def handle_data(self, data):
        if not self.skip:
            self.text.append(data)

p = P()
p.feed(sys.stdin.read())
what = sys.argv[1]
if what == "action":
    print(p.action or "")
elif what == "field":
    print(p.fields.get(sys.argv[2], ""))
elif what == "text":
    print(" ".join(" ".join(p.text).split()))
