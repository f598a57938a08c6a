# The seal API's test set-up, shared by t_seal.sh (CAdES, TSA) and t_seal_xades.sh (XAdES):
#   seal_setup_ca        config (roles signer, ca), `efosctl ca init`, $CHAIN (signing CA + root)
#   seal_setup_tsa       a TSA key in the HSM with a `tsa` certificate, in the config
#   seal_setup_clients   organisation $ORGNR, seal keys main (EC P-256) and rsa (RSA-2048), API
#                        clients sysa (main, rsa; formats $SEAL_FORMATS_A, default cades),
#                        sysb (main, cades), sysc (not registered)
#   seal_start           tls.client_ca and efosd
# and the helpers sign, field, to_der. Source after lib.sh and lib-creds.sh, after t_init.

ORGNR=2021000001

seal_setup_ca() {
	creds_conf "$T/efos.conf" node.roles="signer ca" || { fail "write config"; t_done; }
	creds_ca_init ec:p256 || { fail "efosctl ca init"; t_done; }
	ok "efosctl ca init"
	CHAIN=$CREDS_DIR/sign-chain.pem
	cat "$CREDS_SIGN_PEM" "$CREDS_ROOT_PEM" >"$CHAIN"
}

seal_setup_tsa() {
	TSA_LABEL=tsa-$T_NAME-$$
	TSA_URI=$("$EFOSCTL" -c "$T_CONF" hsm keygen --label "$TSA_LABEL" --type ec:p256 2>"$T/tsa-keygen.log")
	if [ -n "$TSA_URI" ]; then ok "TSA key generated in the HSM"; else fail "TSA key" "$(cat "$T/tsa-keygen.log")"; t_done; fi
	t_on_exit "creds_hsm_delete_uri '$TSA_URI'"
	if creds_issue tsa "$T/tsa.pem" --key-uri "$TSA_URI" --cn "EFOS Test TSA" --o "EFOS" >"$T/tsa-issue.log" 2>&1; then
		ok "efosctl ca issue --profile tsa"
	else
		fail "efosctl ca issue --profile tsa" "$(cat "$T/tsa-issue.log")"; t_done
	fi
	out=$(openssl x509 -in "$T/tsa.pem" -noout -ext extendedKeyUsage 2>&1)
	expect_match "tsa certificate: EKU timeStamping, critical" "$out" 'critical'
	cat "$T/tsa.pem" "$CREDS_SIGN_PEM" "$CREDS_ROOT_PEM" >"$T/tsa-chain.pem"
	{
		echo "signer.tsa_key = $TSA_URI"
		echo "signer.tsa_cert = $T/tsa-chain.pem"
		echo "signer.tsa_policy = 1.2.3.4.5"
		echo "signer.tsa_accuracy = 500"
	} >>"$T_CONF"
}

seal_setup_clients() {
	psql_super "INSERT INTO organisations (orgnr, name) VALUES ('$ORGNR', 'Testmyndigheten')" >/dev/null ||
		{ fail "organisation"; t_done; }
	seal_keys_cleanup() {
		local uri
		for uri in $(psql_as "$T_PG" -c "SELECT key_uri FROM seal_keys" 2>/dev/null); do creds_hsm_delete_uri "$uri"; done
	}
	t_on_exit seal_keys_cleanup
	for spec in main:ec:p256 rsa:rsa:2048; do
		name=${spec%%:*}; type=${spec#*:}
		if "$EFOSCTL" -c "$T_CONF" seal key add --org $ORGNR --name "$name" --type "$type" --out "$T/seal-$name.pem" \
			>"$T/seal-key-$name.log" 2>&1; then
			ok "efosctl seal key add $name ($type)"
		else
			fail "efosctl seal key add $name ($type)" "$(cat "$T/seal-key-$name.log")"; t_done
		fi
	done
	out=$("$EFOSCTL" -c "$T_CONF" seal key add --org $ORGNR --name main 2>&1)
	expect_match "seal key add: a second key of the same name is refused" "$out" 'already'
	out=$(openssl x509 -in "$T/seal-main.pem" -noout -subject -nameopt RFC2253 2>&1)
	expect_match "seal certificate subject: organisation and organizationIdentifier" "$out" "Testmyndigheten"

	client_cert() {   # NAME -> $T/NAME.key, $T/NAME.pem (profile api-client)
		creds_csr "$T/$1.key" "$T/$1.csr" "/CN=$1" || return 1
		creds_issue api-client "$T/$1.pem" --csr "$T/$1.csr" --cn "$1" --o Testmyndigheten --org-id $ORGNR --c SE \
			>"$T/$1.issue.log" 2>&1 || { cat "$T/$1.issue.log"; return 1; }
	}
	check "api-client certificate (agency system A)" client_cert sysa
	check "api-client certificate (agency system B)" client_cert sysb
	check "api-client certificate (not registered)" client_cert sysc
	out=$("$EFOSCTL" -c "$T_CONF" seal client add --cert "$T/sysa.pem" --org $ORGNR --keys main,rsa --formats "${SEAL_FORMATS_A:-cades}" 2>&1)
	expect_match "efosctl seal client add (A: main, rsa)" "$out" '^api_client [0-9]+'
	out=$("$EFOSCTL" -c "$T_CONF" seal client add --cert "$T/sysb.pem" --org $ORGNR --keys main 2>&1)
	expect_match "efosctl seal client add (B: main)" "$out" '^api_client [0-9]+'
	out=$("$EFOSCTL" -c "$T_CONF" seal client add --cert "$T/sysc.pem" --org $ORGNR --keys nosuch 2>&1)
	expect_match "seal client add: a key the organisation does not have is refused" "$out" 'no seal key nosuch'
}

seal_start() {
	creds_client_ca || { fail "tls.client_ca with the EFOS CAs"; t_done; }
	efosd_start "$T_CONF" || { fail "efosd starts with roles signer, ca${TSA_URI:+ and a TSA}"; t_done; }
	ok "efosd starts with roles signer, ca${TSA_URI:+ and a TSA}"
}

# ---- helpers ----------------------------------------------------------------------------------
# $T/doc: 1 KiB of random bytes to sign, DOC_B64 its base64
head -c 1024 /dev/urandom >"$T/doc"
DOC_B64=$(base64 -w0 "$T/doc")
# sign CLIENT JSON OUTPREFIX: POST JSON; OUTPREFIX.json (body), prints the status code
sign() {
	curl -s -o "$3.json" -w '%{http_code}' --max-time 20 --cacert "$T_TLS/ca.crt" --cert "$T/$1.pem" --key "$T/$1.key" \
		-H 'Content-Type: application/json' --data-binary "$2" "$T_MTLS_URL/api/v1/sign"
}
# b64field FILE FIELD: a string member of a JSON answer
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$1" "$2"; }
to_der() { field "$1" signature | base64 -d >"$2"; }
cms_verify() {   # P7S [content]
	if [ -n "${2:-}" ]; then
		openssl cms -verify -binary -inform DER -in "$1" -content "$2" -CAfile "$CHAIN" -purpose any -out /dev/null 2>&1
	else
		openssl cms -verify -binary -inform DER -in "$1" -CAfile "$CHAIN" -purpose any -out "$1.content" 2>&1
	fi
}

