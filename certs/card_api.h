/* The enrollment and card API (role `ca`): JSON over mTLS, the registration officer
 * authenticated by the client certificate (registry_officer_from_chain) and authorised per
 * organisation by policy/roles.h inside certs/enroll.c and certs/lifecycle.c. Every change is
 * audited in its transaction; every refusal is audited too (outcome "denied" when the officer
 * may not, "failure" otherwise) and answered {"error": "...", "status": N, "request_id": "..."}.
 *
 *   POST /api/v1/enroll/begin    {pnr, orgnr, token_serial, csrs: {auth: PEM, sign: PEM}}
 *        201 {card_id, status: "pending", token_serial, pending_until, issued: {auth: {pem,
 *            serial, sha256, profile, status, not_after}, sign: {...}}, chain: [PEM, ...]}
 *   POST /api/v1/enroll/confirm  {card_id, token_serial, cert_sha256: {auth: HEX, sign: HEX}}
 *        200 {card_id, status: "active", ...as above}
 *   GET  /api/v1/cards[?pnr=&orgnr=&status=]    {cards: [card, ...]}
 *   GET  /api/v1/cards/{id}                      card: {card_id, status, token_serial, pnr,
 *            orgnr, person_id, affiliation_id, enrolled_by, created_at, pending_until,
 *            confirmed_at, revoked_at, suspended_reason, certificates: [{profile, serial,
 *            status, sha256, not_after, revoked_at, revocation_reason}]}
 *   POST /api/v1/cards/{id}/suspend  {why}               card
 *   POST /api/v1/cards/{id}/resume   {why}               card
 *   POST /api/v1/cards/{id}/revoke   {reason, why}       card
 *   POST /api/v1/cards/{id}/renew    {token_serial, csrs, why?}   {..., issued, chain}
 *   POST /api/v1/cards/{id}/replace  {token_serial, csrs, reason?, why?} 201 as begin
 *   POST /api/v1/cards/{id}/unblock  {token_serial, why}  card (the audited authorisation) */
#ifndef EFOS_CERTS_CARD_API_H
#define EFOS_CERTS_CARD_API_H

#include <stddef.h>
#include "core/http.h"

extern const struct http_route certs_card_routes[];
extern const size_t certs_card_n_routes;

#endif
