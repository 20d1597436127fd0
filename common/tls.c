/*
 * tls: client and server SSL_CTX setup with clear errors.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct tls_ctx {
	SSL_CTX *ssl;
	int refs;
};

static bool given(const char *path) { return path != NULL && path[0] != '\0'; }

/* OpenSSL's first queued error as text ("no such file", "key values mismatch"), emptying the queue. */
static void queue_text(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	if (e == 0)
		snprintf(buf, len, "unknown OpenSSL error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

static int file_check(const char *what, const char *path, bool secret, fl_err *err)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return fl_fail(err, FL_ERR_CONFIG, "tls: %s %s cannot be read: %s", what, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fl_fail(err, FL_ERR_CONFIG, "tls: %s %s is not a file", what, path);
	if (secret && (st.st_mode & (S_IWGRP | S_IWOTH)))
		return fl_fail(err, FL_ERR_SECRET, "tls: %s %s is writable by others (mode %04o)\nHINT: chmod go-w %s",
			       what, path, (unsigned)(st.st_mode & 07777), path);
	return 0;
}

static tls_ctx *ctx_new(const SSL_METHOD *method, fl_err *err)
{
	tls_ctx *c = calloc(1, sizeof *c);
	if (c == NULL || (c->ssl = SSL_CTX_new(method)) == NULL) {
		free(c);
		fl_fail(err, FL_ERR_INTERNAL, "tls: cannot create an OpenSSL context");
		return NULL;
	}
	c->refs = 1;
	SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
	SSL_CTX_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
	return c;
}

static int load_pair(tls_ctx *c, const char *cert_file, const char *key_file, fl_err *err)
{
	char why[256];
	if (file_check("certificate", cert_file, false, err) < 0 || file_check("key", key_file, true, err) < 0)
		return -1;
	if (SSL_CTX_use_certificate_chain_file(c->ssl, cert_file) != 1) {
		queue_text(why, sizeof why);
		return fl_fail(err, FL_ERR_CONFIG, "tls: certificate %s cannot be loaded: %s", cert_file, why);
	}
	if (SSL_CTX_use_PrivateKey_file(c->ssl, key_file, SSL_FILETYPE_PEM) != 1) {
		queue_text(why, sizeof why);
		return fl_fail(err, FL_ERR_CONFIG, "tls: key %s cannot be loaded: %s", key_file, why);
	}
	if (SSL_CTX_check_private_key(c->ssl) != 1) {
		ERR_clear_error();
		return fl_fail(err, FL_ERR_CONFIG, "tls: key %s does not belong to certificate %s", key_file,
			       cert_file);
	}
	return 0;
}

static int load_ca(tls_ctx *c, const char *ca_file, fl_err *err)
{
	char why[256];
	if (file_check("CA file", ca_file, false, err) < 0)
		return -1;
	if (SSL_CTX_load_verify_locations(c->ssl, ca_file, NULL) != 1) {
		queue_text(why, sizeof why);
		return fl_fail(err, FL_ERR_CONFIG, "tls: CA file %s cannot be loaded: %s", ca_file, why);
	}
	return 0;
}

tls_ctx *tls_client_new(const char *ca_file, const char *cert_file, const char *key_file, fl_err *err)
{
	if (given(cert_file) != given(key_file)) {
		fl_fail(err, FL_ERR_CONFIG, "tls: a client certificate needs both its certificate and its key file");
		return NULL;
	}
	tls_ctx *c = ctx_new(TLS_client_method(), err);
	if (c == NULL)
		return NULL;
	int rc = given(ca_file) ? load_ca(c, ca_file, err) : 0;
	if (rc == 0 && !given(ca_file) && SSL_CTX_set_default_verify_paths(c->ssl) != 1) {
		ERR_clear_error();
		rc = fl_fail(err, FL_ERR_CONFIG, "tls: the system's CA store cannot be loaded\nHINT: give a CA file");
	}
	if (rc == 0 && given(cert_file))
		rc = load_pair(c, cert_file, key_file, err);
	if (rc < 0) {
		tls_ctx_free(c);
		return NULL;
	}
	SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
	return c;
}

tls_ctx *tls_server_new(const char *cert_file, const char *key_file, const char *client_ca_file, fl_err *err)
{
	if (!given(cert_file) || !given(key_file)) {
		fl_fail(err, FL_ERR_CONFIG, "tls: a server needs both its certificate and its key file");
		return NULL;
	}
	tls_ctx *c = ctx_new(TLS_server_method(), err);
	if (c == NULL)
		return NULL;
	int rc = load_pair(c, cert_file, key_file, err);
	if (rc == 0 && given(client_ca_file)) {
		rc = load_ca(c, client_ca_file, err);
		SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	if (rc < 0) {
		tls_ctx_free(c);
		return NULL;
	}
	return c;
}

tls_ctx *tls_ctx_ref(tls_ctx *c)
{
	if (c != NULL)
		c->refs++;
	return c;
}

void tls_ctx_free(tls_ctx *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	SSL_CTX_free(c->ssl);
	free(c);
}

struct ssl_st *tls_client_session(tls_ctx *c, const char *host)
{
	SSL *s = SSL_new(c->ssl);
	if (s == NULL)
		return NULL;
	unsigned char addr[sizeof(struct in6_addr)];
	bool numeric = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
	X509_VERIFY_PARAM *param = SSL_get0_param(s);
	int ok = numeric ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
			 : SSL_set_tlsext_host_name(s, host) == 1 && SSL_set1_host(s, host) == 1;
	if (!ok) {
		SSL_free(s);
		ERR_clear_error();
		return NULL;
	}
	return s;
}

struct ssl_st *tls_server_session(tls_ctx *c) { return SSL_new(c->ssl); }

void tls_error_text(struct ssl_st *s, unsigned long e, char *buf, size_t len)
{
	buf[0] = '\0';
	if (e == 0)
		e = ERR_peek_error();
	long verify = s ? SSL_get_verify_result(s) : X509_V_OK;
	if (e == 0 && verify == X509_V_OK)
		return;
	/* "certificate verify failed", without OpenSSL's "error:0A000086:SSL routines::" */
	char code[160];
	const char *reason = e ? ERR_reason_error_string(e) : NULL;
	if (e != 0 && reason == NULL) {
		ERR_error_string_n(e, code, sizeof code);
		reason = code;
	}
	const char *text = reason ? reason : "certificate verify failed";
	ERR_clear_error();
	if (verify != X509_V_OK)
		snprintf(buf, len, "TLS: %s: %s", text, X509_verify_cert_error_string(verify));
	else
		snprintf(buf, len, "TLS: %s", text);
}
