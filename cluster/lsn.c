/*
 * lsn: parsing and formatting of WAL positions.
 */
#include "lsn.h"

#include <stdio.h>

int lsn_parse(const char *text, uint64_t *out)
{
	unsigned hi, lo;
	char tail;
	if (text == NULL || sscanf(text, "%X/%X%c", &hi, &lo, &tail) != 2)
		return -1;
	*out = ((uint64_t)hi << 32) | lo;
	return 0;
}

void lsn_format(uint64_t lsn, char *buf, int len)
{
	snprintf(buf, (size_t)len, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
}
