/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the INI handler and validation, duration and percent
 * parsing, and ${VAR} expansion, fed arbitrary bytes.
 * Build and run: make fuzz (or FUZZ_SECONDS=10 make fuzz).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_config cfg;
	struct config_errors errs = {0};
	char err[256], *s, *x;
	long ms;
	int pct;

	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	config_init(&cfg);
	config_load_string("fuzz.ini", s, &cfg, &errs);
	config_finish(&cfg, &errs);
	config_free(&cfg);
	config_errors_free(&errs);

	config_parse_duration(s, &ms, err, sizeof(err));
	config_parse_percent(s, &pct, err, sizeof(err));
	x = config_expand(s, err, sizeof(err));
	free(x);
	free(s);
	return 0;
}
