/*
 * hostport: "host:port" and "[v6]:port", the one parser of addresses in
 * settings, member records and the CLI. The host must be non-empty, the port
 * a decimal number in 1..65535 with nothing after it; brackets only delimit
 * an IPv6 address and are not part of the host, which holds only letters,
 * digits and ".-_:%" (no space, quote or '=' that could reach a connection
 * string).
 */
#ifndef FL_COMMON_HOSTPORT_H
#define FL_COMMON_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>

/* Splits text into host (without brackets) and port; -1 when it is not host:port or the host does not fit. */
int hostport_parse(const char *text, char *host, size_t len, int *port);
/* Whether text is host:port. */
bool hostport_valid(const char *text);

#endif
