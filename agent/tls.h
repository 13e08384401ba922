/*
 * tls: the agent's words for a failed certificate check, shared by the REST
 * calls (curl) and the kernel WebSocket (libwebsockets), so that both say
 * the same thing whatever either library's own wording is this release.
 */
#ifndef AGENT_TLS_H
#define AGENT_TLS_H

/*
 * A sentence for OpenSSL's verify result v (SSL_get_verify_result or
 * CURLINFO_SSL_VERIFYRESULT). X509_V_OK means the chain verified, so the
 * host name check is what failed. Never NULL; static storage.
 */
const char *tls_cert_reason(long v);

#endif
