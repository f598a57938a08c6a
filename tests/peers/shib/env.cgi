#!/bin/sh
# The page the Shibboleth SP protects: what it received.
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'
echo "REMOTE_USER=$REMOTE_USER"
env | grep -E '^(Shib[-_]|displayName=|personalIdentityNumber=|orgAffiliation=|givenName=|sn=|o=|organizationIdentifier=|persistent-id=)' | sort
