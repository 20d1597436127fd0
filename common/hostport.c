/*
 * hostport: the address parser.
 */
#include "hostport.h"

#include <stdlib.h>
#include <string.h>

int hostport_parse(const char *text, char *host, size_t len, int *port)
{
	const char *colon = text ? strrchr(text, ':') : NULL;
	if (colon == NULL || colon == text || colon[1] < '0' || colon[1] > '9')
		return -1;
	char *end = NULL;
	long p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535)
		return -1;
	const char *start = text;
	size_t n = (size_t)(colon - text);
	if (text[0] == '[') {
		if (n < 3 || colon[-1] != ']')
			return -1;
		start++;
		n -= 2;
	} else if (memchr(text, ']', n) || memchr(text, '[', n)) {
		return -1;
	}
	if (n == 0 || n >= len)
		return -1;
	/* A host name, an IPv4 or (bracketed) IPv6 address: nothing that could end a connection string's value. */
	for (size_t i = 0; i < n; i++) {
		char c = start[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '-' || c == '_' || c == ':' || c == '%'))
			return -1;
	}
	memcpy(host, start, n);
	host[n] = '\0';
	*port = (int)p;
	return 0;
}

bool hostport_valid(const char *text)
{
	char host[256];
	int port;
	return hostport_parse(text, host, sizeof host, &port) == 0;
}
