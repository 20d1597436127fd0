/*
 * table: the boxed tables of the read-only commands, drawn the way
 * patronictl draws them, with an optional title set into the top border:
 *
 *   + Cluster: local ---------+---------+-----------+----+-----------+
 *   | Member | Host            | Role    | State     | TL | Lag in MB |
 *   +--------+-----------------+---------+-----------+----+-----------+
 *   | n1     | 127.0.0.1:54310 | Leader  | running   |  1 |           |
 *   +--------+-----------------+---------+-----------+----+-----------+
 */
#ifndef FL_CLI_TABLE_H
#define FL_CLI_TABLE_H

#include <stdbool.h>
#include <stdio.h>

#define TABLE_MAX_COLS 8

typedef struct table table;

/* headers: ncols column names; right: which columns are right-aligned (numbers), may be NULL. */
table *table_new(int ncols, const char *const *headers, const bool *right);
/* Adds a row of ncols cells (copied; NULL prints empty). Returns -1 when out of memory. */
int table_add(table *t, const char *const *cells);
/* Prints the table; title (may be NULL) goes into the top border. */
void table_print(const table *t, const char *title, FILE *f);
void table_free(table *t);

#endif
