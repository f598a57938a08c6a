/* The admin API (role `admin`): JSON over mTLS, the officer authenticated by the client
 * certificate (registry_officer_from_chain), each request authorised per organisation by
 * policy/roles.h. Every change is audited in its transaction; every refusal by policy is
 * audited (outcome "denied"). Errors: {"error": "...", "status": N, "request_id": "..."}.
 *
 *   GET  /api/v1/admin/whoami                        the officer and its roles
 *   POST /api/v1/admin/organisations                 {orgnr, name}                 org.write (global)
 *   GET  /api/v1/admin/organisations[/{orgnr}]
 *   POST /api/v1/admin/organisations/{orgnr}/suspend {reason}    /resume           org.write (global)
 *   POST /api/v1/admin/persons                       {pnr, given_name, surname, display_name?, orgnr?}
 *                                                    person.write (in orgnr, else in any organisation)
 *   GET  /api/v1/admin/persons[?orgnr=]              registry.read (in orgnr, else global)
 *   GET  /api/v1/admin/persons/{pnr}                 the person, affiliations, proofings
 *   POST /api/v1/admin/persons/{pnr}                 {given_name?, surname?, display_name?} person.write
 *   POST /api/v1/admin/persons/{pnr}/suspend|resume  {reason}                      person.suspend
 *   POST /api/v1/admin/affiliations                  {pnr, orgnr, local_id, title?} affiliation.write
 *   GET  /api/v1/admin/affiliations?pnr=|orgnr=
 *   POST /api/v1/admin/affiliations/{id}/end         {reason}                      affiliation.write
 *   POST /api/v1/admin/proofings                     {pnr, document_type, document_number, checked}
 *   GET  /api/v1/admin/proofings?pnr=                                              proofing.write / read
 *   POST /api/v1/admin/officers                      {name, cert_pem, pnr?, roles?: [{role, orgnr?}]}
 *   GET  /api/v1/admin/officers[/{id}]
 *   POST /api/v1/admin/officers/{id}/roles           {role, orgnr?}  grant         officer.write (global)
 *   DELETE /api/v1/admin/officers/{id}/roles?role=&orgnr=             revoke
 *   POST /api/v1/admin/officers/{id}/deactivate|activate
 */
#ifndef EFOS_CERTS_ADMIN_API_H
#define EFOS_CERTS_ADMIN_API_H

#include <stddef.h>
#include "core/http.h"

extern const struct http_route admin_routes[];
extern const size_t admin_n_routes;

#endif
