/*
 * cunit_main: runs the suites a test binary registered, verbosely.
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
	unsigned failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	return failures > 0 ? 1 : 0;
}
