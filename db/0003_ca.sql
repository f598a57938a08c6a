-- The delegated OCSP signer of each CA (issue 3, certs/ca_init.c): its certificate (profile
-- ocsp-signer, issued by that CA, also stored in `certificates`) and its key in the HSM.
-- NULL when the CA has none: the OCSP responder then signs with the CA key itself.
ALTER TABLE cas ADD COLUMN ocsp_cert_der bytea;
ALTER TABLE cas ADD COLUMN ocsp_key_uri text;
ALTER TABLE cas ADD CONSTRAINT cas_ocsp_pair CHECK ((ocsp_cert_der IS NULL) = (ocsp_key_uri IS NULL));
