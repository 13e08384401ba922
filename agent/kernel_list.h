/* SPDX-License-Identifier: MIT */
/*
 * kernel_list: which kernels a target keeps, read from the server's lists:
 * GET api/kernels (an array of kernel models: id, name, last_activity,
 * execution_state, ...) and GET api/sessions (an array of sessions: id,
 * path, kernel {id, ...}), as jupyter_server's REST API answers them.
 *
 * Pure functions over a reply's body (NUL-terminated): no I/O, no state.
 * The target lists again each round when its kernel is not fixed, and uses
 * these to choose (kernel_list_pick), to tell a kernel that went away from
 * one it merely stopped choosing (kernel_list_has), to name what a notebook
 * selection could have matched (kernel_list_paths), and to resolve a short
 * kernel id (kernel_list_prefix).
 */
#ifndef AGENT_KERNEL_LIST_H
#define AGENT_KERNEL_LIST_H

#include <stddef.h>
#include <jansson.h>

#include "config.h"

/*
 * Choose the kernels to keep from a /api/kernels (array) or /api/sessions
 * reply. sel/arg as in the config: KSEL_AUTO the most recently active
 * kernel, KSEL_ALL every one, KSEL_NOTEBOOK the kernels of sessions whose
 * path is arg (a leading '/' does not matter), KSEL_ID the kernel arg.
 * Returns a JSON array of ids (new reference; empty when none match), or
 * NULL when the body is not the expected JSON shape.
 */
json_t *kernel_list_pick(enum kernel_select sel, const char *arg, const char *body);

/* Does a kernel list or a session list name kernel id? 1 or 0. */
int kernel_list_has(const char *body, const char *id);

/*
 * The notebook paths of an /api/sessions reply, comma-separated, into out
 * ("none" when there are none, "..." appended when cut). Returns out.
 */
char *kernel_list_paths(const char *body, char *out, size_t outlen);

/* The kernels of a /api/kernels reply whose id starts with a prefix. */
struct kernel_list_match {
	size_t n;		/* how many */
	char first[80];		/* the first's id, "" when none */
	char second[80];	/* the second's, "" when fewer than two */
	char running[300];	/* every listed kernel's short id, comma-separated */
};

/* Match prefix (case-insensitive, as ids are hex) against the ids in body. Returns m->n. */
size_t kernel_list_prefix(const char *body, const char *prefix, struct kernel_list_match *m);

#endif
