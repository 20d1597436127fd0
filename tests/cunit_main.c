/*
 * cunit_main: runs the suites a test binary registered, verbosely, and exits
 * with the number of failed assertions (at most 125).
 */
#include "cunit_main.h"

#include <CUnit/Basic.h>

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
