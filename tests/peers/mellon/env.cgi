#!/bin/sh
# The page mellon protects: what the SP received.
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'
echo "REMOTE_USER=$REMOTE_USER"
env | grep -E '^(MELLON_|displayName=|personalIdentityNumber=|orgAffiliation=|givenName=|sn=)' | grep -v '^MELLON_SESSION=' | sort
# the session dump holds the decrypted assertion: its AuthnContextClassRef
s=${MELLON_SESSION:-}
case $s in *'<'*) ;; *) s=$(printf '%s' "$s" | base64 -d 2>/dev/null);; esac
printf '%s' "$s" | grep -oE 'AuthnContextClassRef>[^<]+' | sed 's/^AuthnContextClassRef>/AUTHN_CONTEXT=/' | sort -u
