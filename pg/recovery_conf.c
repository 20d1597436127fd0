/*
 * recovery_conf: see recovery_conf.h.
 */
#include "recovery_conf.h"

#include <stdlib.h>
#include <string.h>

static bool starts(const char *line, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && memcmp(line, prefix, n) == 0;
}

char *recovery_conf_strip(const char *text, bool *found)
{
	size_t total = strlen(text);
	char *out = malloc(total + 1);
	if (out == NULL)
		return NULL;
	size_t o = 0;
	bool inside = false;
	*found = false;
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		size_t next = nl ? len + 1 : len;
		if (!inside && starts(line, len, RESTORE_SETTINGS_BEGIN)) {
			inside = true;
			*found = true;
			/* The empty line the restore wrote before its block goes with it. */
			if (o >= 2 && out[o - 1] == '\n' && out[o - 2] == '\n')
				o--;
			else if (o == 1 && out[0] == '\n')
				o = 0;
		} else if (inside) {
			if (len == strlen(RESTORE_SETTINGS_END) && starts(line, len, RESTORE_SETTINGS_END))
				inside = false;
		} else {
			memcpy(out + o, line, next);
			o += next;
		}
		line += next;
	}
	out[o] = '\0';
	return out;
}
