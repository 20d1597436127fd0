/*
 * daemon_args: the daemons' shared command line; see daemon_args.h.
 */
#include "daemon_args.h"

#include <getopt.h>
#include <stdio.h>

#include "err.h"
#include "log.h"

static void usage(const daemon_info *d, FILE *f)
{
	fprintf(f,
		"usage: %1$s [--config FILE]\n"
		"       %1$s --check [--config FILE]  validate the configuration and exit\n"
		"       %1$s --sample-config          print a documented configuration\n"
		"       %1$s --config-doc             print the settings as a markdown table\n"
		"       %1$s --version\n\n%2$s\n\n"
		"Every setting can come from its FLOTILLA_* environment variable, over the\n"
		"file's value; without --config the environment alone configures the daemon.\n"
		"Secrets come from files only: FLOTILLA_*_FILE names the file.\n",
		d->program, d->summary);
}

static int daemon_args_parse(const daemon_info *d, int argc, char **argv, const char **config_path, bool *check)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check", no_argument, NULL, 'k'},
		{"sample-config", no_argument, NULL, 's'},
		{"config-doc", no_argument, NULL, 'd'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*config_path = NULL;
	*check = false;
	int c;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			*config_path = optarg;
			break;
		case 'k':
			*check = true;
			break;
		case 's':
			config_print_sample(d->table, d->table_len, stdout);
			return 0;
		case 'd':
			config_print_markdown(d->table, d->table_len, stdout);
			return 0;
		case 'V':
			printf("%s %s\n", d->program, FLOTILLA_VERSION);
			return 0;
		case 'h':
			usage(d, stdout);
			return 0;
		default:
			usage(d, stderr);
			return FL_ERR_USAGE;
		}
	}
	if (optind != argc) {
		usage(d, stderr);
		return FL_ERR_USAGE;
	}
	return DAEMON_ARGS_RUN;
}

int daemon_args_start(const daemon_info *d, int argc, char **argv, void *opts, const char **config_path)
{
	bool check = false;
	log_setup(d->component, NULL);
	int rc = daemon_args_parse(d, argc, argv, config_path, &check);
	if (rc != DAEMON_ARGS_RUN)
		return rc;
	fl_err err = {0};
	if (d->load(opts, *config_path, &err) < 0) {
		d->free(opts);
		return daemon_fail(&err);
	}
	log_setup(d->component, *(char **)((char *)opts + d->name_offset));
	log_level_parse(*(char **)((char *)opts + d->level_offset), &log_threshold);
	if (!check)
		return DAEMON_ARGS_RUN;
	if (*config_path)
		printf("configuration %s is valid\n", *config_path);
	else
		printf("configuration from the environment is valid\n");
	d->free(opts);
	return 0;
}

int daemon_fail(const fl_err *err)
{
	log_error("%s", err->msg);
	return err->code ? (int)err->code : FL_ERR_INTERNAL;
}
