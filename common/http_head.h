/*
 * http_head: the parse of an HTTP/1.x request head (request line and
 * headers), for the daemons' servers. Pure: it reads the bytes received so
 * far and says whether the head is complete, incomplete or malformed; a
 * malformed one gets the status to answer and a reason naming the problem.
 * Only what the servers use is kept: method, target, Authorization,
 * Content-Length. Transfer codings are refused (411), obsolete line folding,
 * a header line without ':' and a second, different Content-Length are 400.
 */
#ifndef FL_COMMON_HTTP_HEAD_H
#define FL_COMMON_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_METHOD_MAX 16
#define HTTP_TARGET_MAX 2048
#define HTTP_AUTH_MAX 1024

typedef struct http_head {
	char method[HTTP_METHOD_MAX];
	char target[HTTP_TARGET_MAX];
	int minor; /* HTTP/1.<minor> */
	char authorization[HTTP_AUTH_MAX];
	bool has_authorization;
	size_t content_length; /* 0 when absent */
} http_head;

/*
 * buf holds len bytes received so far. Returns the length of the head
 * (through its blank line) once complete, 0 when more is needed (and len is
 * within max), or -1 with *status (400, 411, 413, 414, 431, 501 or 505) and
 * *why set.
 */
long http_head_parse(const char *buf, size_t len, size_t max, size_t body_max, http_head *h, int *status,
		     const char **why);

#endif
