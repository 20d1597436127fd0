/*
 * cunit_main: runs the suites a test binary registered, verbosely, and exits
 * with the number of failed assertions (at most 125).
 */
#include "cunit_main.h"

#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

char *cunit_printed(void (*print)(FILE *f))
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return NULL;
	print(f);
	fclose(f);
	return text;
}

bool cunit_doc_holds(const char *path, const char *text, const char *what)
{
	FILE *d = fopen(path, "r");
	if (d == NULL) {
		fprintf(stderr, "cannot read %s\n", path);
		return false;
	}
	char *doc = calloc(1, 1 << 20);
	size_t n = doc ? fread(doc, 1, (1 << 20) - 1, d) : 0;
	fclose(d);
	bool ok = doc && text && strstr(doc, text) != NULL;
	if (!ok)
		fprintf(stderr, "%s must hold %s:\n%s", path, what, text ? text : "(nothing printed)");
	(void)n;
	free(doc);
	return ok;
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	suite_register();
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	/* Failed assertions: as many as an exit status holds (a shell reserves 126 and up). */
	unsigned failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures > 125 ? 125 : (int)failures;
}
