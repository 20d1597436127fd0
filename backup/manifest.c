/*
 * manifest: a backup_manifest's summary; see manifest.h.
 */
#include "manifest.h"

#include <jansson.h>
#include <string.h>

#include "cluster/lsn.h"

static int range_lsn(json_t *range, const char *field, int i, uint64_t *out, fl_err *err)
{
	json_t *v = json_object_get(range, field);
	if (!json_is_string(v) || lsn_parse(json_string_value(v), out) < 0)
		return fl_fail(err, FL_ERR_CONFIG, "backup_manifest: WAL-Ranges[%d].%s is not an LSN", i, field);
	return 0;
}

int manifest_parse(const char *text, size_t len, manifest_info *out, fl_err *err)
{
	memset(out, 0, sizeof *out);
	json_error_t je;
	json_t *root = json_loadb(text, len, 0, &je);
	if (root == NULL)
		return fl_fail(err, FL_ERR_CONFIG, "backup_manifest: not JSON (line %d: %s)", je.line, je.text);
	int rc = -1;
	json_t *version = json_object_get(root, "PostgreSQL-Backup-Manifest-Version");
	json_t *files = json_object_get(root, "Files");
	json_t *ranges = json_object_get(root, "WAL-Ranges");
	if (!json_is_integer(version) || json_integer_value(version) < 1 || json_integer_value(version) > 2) {
		fl_fail(err, FL_ERR_CONFIG, "backup_manifest: PostgreSQL-Backup-Manifest-Version is not 1 or 2");
		goto out;
	}
	if (!json_is_array(files) || json_array_size(files) == 0) {
		fl_fail(err, FL_ERR_CONFIG, "backup_manifest: Files is not a list of files");
		goto out;
	}
	if (!json_is_array(ranges) || json_array_size(ranges) == 0) {
		fl_fail(err, FL_ERR_CONFIG, "backup_manifest: WAL-Ranges is not a list of ranges");
		goto out;
	}
	size_t i;
	json_t *f;
	json_array_foreach(files, i, f)
	{
		json_t *size = json_object_get(f, "Size");
		if (!json_is_integer(size) || json_integer_value(size) < 0) {
			fl_fail(err, FL_ERR_CONFIG, "backup_manifest: Files[%zu].Size is not a size", i);
			goto out;
		}
		out->bytes += (uint64_t)json_integer_value(size);
		out->files++;
	}
	json_t *r;
	json_array_foreach(ranges, i, r)
	{
		json_t *tli = json_object_get(r, "Timeline");
		uint64_t start = 0, end = 0;
		if (!json_is_integer(tli) || json_integer_value(tli) < 1 || json_integer_value(tli) > UINT32_MAX) {
			fl_fail(err, FL_ERR_CONFIG, "backup_manifest: WAL-Ranges[%zu].Timeline is not a timeline", i);
			goto out;
		}
		if (range_lsn(r, "Start-LSN", (int)i, &start, err) < 0 ||
		    range_lsn(r, "End-LSN", (int)i, &end, err) < 0)
			goto out;
		if (end < start) {
			fl_fail(err, FL_ERR_CONFIG, "backup_manifest: WAL-Ranges[%zu] ends before it starts", i);
			goto out;
		}
		/* Ranges of several timelines (a backup across a promotion) may come in either order. */
		if (i == 0 || start < out->start_lsn) {
			out->timeline = (uint32_t)json_integer_value(tli);
			out->start_lsn = start;
		}
		if (i == 0 || end > out->end_lsn) {
			out->end_timeline = (uint32_t)json_integer_value(tli);
			out->end_lsn = end;
		}
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}
