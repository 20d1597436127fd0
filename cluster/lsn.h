/*
 * lsn: PostgreSQL's WAL positions, as 64-bit integers and as the "X/X" text
 * PostgreSQL prints.
 */
#ifndef FL_CLUSTER_LSN_H
#define FL_CLUSTER_LSN_H

#include <stdint.h>

/* "0/3000060" -> 64-bit LSN; -1 on anything else (trailing characters included). */
int lsn_parse(const char *text, uint64_t *out);
void lsn_format(uint64_t lsn, char *buf, int len);

#endif
