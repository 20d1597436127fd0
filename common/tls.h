/*
 * tls: OpenSSL contexts for Flotilla's HTTP, on both ends. A client context
 * verifies the server's certificate chain (against a CA file, or the
 * system's store) and its name or address, and may present a client
 * certificate (etcd's client-cert-auth); a server context holds the
 * certificate and key a listener presents, and may require clients to
 * present one signed by a CA. TLS 1.2 at least. Key files are secrets: one
 * that others may write is refused, as secret_read refuses.
 */
#ifndef FL_COMMON_TLS_H
#define FL_COMMON_TLS_H

#include <stddef.h>

#include "err.h"

typedef struct tls_ctx tls_ctx;
struct ssl_st;

/* ca_file: "" or NULL for the system's store; cert_file and key_file both or neither. */
tls_ctx *tls_client_new(const char *ca_file, const char *cert_file, const char *key_file, fl_err *err);
/* client_ca_file: "" or NULL to accept clients without a certificate. */
tls_ctx *tls_server_new(const char *cert_file, const char *key_file, const char *client_ca_file, fl_err *err);
/* Another reference to c (each is freed with tls_ctx_free). */
tls_ctx *tls_ctx_ref(tls_ctx *c);
void tls_ctx_free(tls_ctx *c);

/* A client session for one connection to host: SNI for a name, and the name or address checked; NULL without memory. */
struct ssl_st *tls_client_session(tls_ctx *c, const char *host);
/* A server session for one accepted connection; NULL without memory. */
struct ssl_st *tls_server_session(tls_ctx *c);
/*
 * Why a TLS handshake or record failed, from an OpenSSL error code (0: the
 * first of the thread's error queue, which it empties) and the session's
 * verification result: "certificate verify failed: self-signed certificate
 * in certificate chain"; "" when OpenSSL recorded nothing.
 */
void tls_error_text(struct ssl_st *s, unsigned long e, char *buf, size_t len);

#endif
