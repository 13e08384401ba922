/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for jmsg: every frame a server sends reaches jmsg_read,
 * and every last_activity it reports reaches jmsg_parse_iso, so neither may
 * crash, overrun or leave an unterminated field on any input.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -Iagent $(pkg-config --cflags jansson) \
 *     tests/fuzz/fuzz_jmsg.c agent/jmsg.c $(pkg-config --libs jansson) -o fz
 *   ./fz -max_total_time=60 tests/fuzz/corpus/jmsg
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jmsg.h"

static void check_terminated(const char *s, size_t size)
{
	if (memchr(s, '\0', size) == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jmsg_info info;
	char err[96];
	double t;

	/* The exact bytes, with no NUL after them, as lws hands a frame over. */
	if (jmsg_read((const char *)data, size, &info, err, sizeof err) == 0) {
		check_terminated(info.msg_type, sizeof info.msg_type);
		check_terminated(info.channel, sizeof info.channel);
		check_terminated(info.parent_msg_id, sizeof info.parent_msg_id);
		check_terminated(info.execution_state, sizeof info.execution_state);
		check_terminated(info.reply_status, sizeof info.reply_status);
	} else {
		check_terminated(err, sizeof err);
	}

	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)jmsg_parse_iso(s, &t);
	free(s);
	return 0;
}
