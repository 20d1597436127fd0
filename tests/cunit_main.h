/*
 * cunit_main: the shared runner of every CUnit suite. A suite file defines
 * `suite_register()`, which adds its suite and tests; the runner exits with
 * the number of failed assertions (at most 125) so that CTest reports them.
 */
#ifndef FL_CUNIT_MAIN_H
#define FL_CUNIT_MAIN_H

#include <CUnit/CUnit.h>

void suite_register(void);

#include <stdbool.h>
#include <stdio.h>

/* What print wrote, as a malloc'd string. */
char *cunit_printed(void (*print)(FILE *f));
/* Whether the file at path (a doc of the tree) holds text; says what is missing when not. */
bool cunit_doc_holds(const char *path, const char *text, const char *what);

#endif
