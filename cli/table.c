/*
 * table: rows kept as copied strings, widths computed at print time. Widths
 * count bytes, which is right for the ASCII names and addresses a cluster
 * has.
 */
#include "table.h"

#include <stdlib.h>
#include <string.h>

struct table {
	int ncols;
	char *headers[TABLE_MAX_COLS];
	bool right[TABLE_MAX_COLS];
	int nrows, cap;
	char **cells; /* nrows * ncols */
};

table *table_new(int ncols, const char *const *headers, const bool *right)
{
	if (ncols < 1 || ncols > TABLE_MAX_COLS)
		return NULL;
	table *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->ncols = ncols;
	for (int c = 0; c < ncols; c++) {
		t->headers[c] = strdup(headers[c]);
		t->right[c] = right != NULL && right[c];
		if (t->headers[c] == NULL) {
			table_free(t);
			return NULL;
		}
	}
	return t;
}

void table_free(table *t)
{
	if (t == NULL)
		return;
	for (int i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	for (int c = 0; c < t->ncols; c++)
		free(t->headers[c]);
	free(t);
}

int table_add(table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		int cap = t->cap ? 2 * t->cap : 8;
		char **grown = realloc(t->cells, (size_t)cap * (size_t)t->ncols * sizeof *grown);
		if (grown == NULL)
			return -1;
		t->cells = grown;
		t->cap = cap;
	}
	char **row = &t->cells[t->nrows * t->ncols];
	for (int c = 0; c < t->ncols; c++) {
		row[c] = strdup(cells[c] ? cells[c] : "");
		if (row[c] == NULL) {
			while (c-- > 0)
				free(row[c]);
			return -1;
		}
	}
	t->nrows++;
	return 0;
}

/* "+------+----+", with title written over its start when given. */
static void border_print(const table *t, const size_t *width, const char *title, FILE *f)
{
	size_t total = 1;
	for (int c = 0; c < t->ncols; c++)
		total += width[c] + 3;
	char *line = malloc(total + 1);
	if (line == NULL)
		return;
	size_t at = 0;
	line[at++] = '+';
	for (int c = 0; c < t->ncols; c++) {
		memset(line + at, '-', width[c] + 2);
		at += width[c] + 2;
		line[at++] = '+';
	}
	line[at] = '\0';
	if (title == NULL) {
		fprintf(f, "%s\n", line);
	} else if (strlen(title) + 4 <= total) {
		/* "+ title " then the rest of the border. */
		fprintf(f, "+ %s %s\n", title, line + strlen(title) + 3);
	} else {
		fprintf(f, "+ %s +\n", title);
	}
	free(line);
}

static void row_print(const table *t, const size_t *width, char *const *cells, FILE *f)
{
	for (int c = 0; c < t->ncols; c++)
		fprintf(f, t->right[c] ? "| %*s " : "| %-*s ", (int)width[c], cells[c]);
	fprintf(f, "|\n");
}

void table_print(const table *t, const char *title, FILE *f)
{
	size_t width[TABLE_MAX_COLS];
	for (int c = 0; c < t->ncols; c++) {
		width[c] = strlen(t->headers[c]);
		for (int r = 0; r < t->nrows; r++) {
			size_t n = strlen(t->cells[r * t->ncols + c]);
			if (n > width[c])
				width[c] = n;
		}
	}
	border_print(t, width, title, f);
	row_print(t, width, t->headers, f);
	border_print(t, width, NULL, f);
	for (int r = 0; r < t->nrows; r++)
		row_print(t, width, &t->cells[r * t->ncols], f);
	border_print(t, width, NULL, f);
}
