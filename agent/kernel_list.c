/* SPDX-License-Identifier: MIT */
/* kernel_list: choosing kernels from the server's lists. See kernel_list.h. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "jmsg.h"
#include "kernel_list.h"

/* "train.ipynb" and "/train.ipynb" name the same notebook. */
static int same_path(const char *a, const char *b)
{
	while (*a == '/')
		a++;
	while (*b == '/')
		b++;
	return strcmp(a, b) == 0;
}

json_t *kernel_list_pick(enum kernel_select sel, const char *arg, const char *body)
{
	json_t *doc, *ids, *item;
	json_t *best = NULL;
	size_t i, junk = 0;

	doc = json_loads(body, 0, NULL);
	if (!json_is_array(doc)) {
		json_decref(doc);
		return NULL;
	}
	ids = json_array();
	json_array_foreach(doc, i, item) {
		json_t *kernel = item;
		const char *id;

		if (sel == KSEL_NOTEBOOK) {
			const char *path = json_string_value(json_object_get(item, "path"));

			if (!path || !arg || !same_path(path, arg))
				continue;
			kernel = json_object_get(item, "kernel");
		}
		id = json_string_value(json_object_get(kernel, "id"));
		if (!id) {
			junk++;
			continue;
		}
		switch (sel) {
		case KSEL_ALL:
		case KSEL_NOTEBOOK:
			json_array_append_new(ids, json_string(id));
			break;
		case KSEL_AUTO:
			if (!best || jmsg_activity(kernel) > jmsg_activity(best))
				best = kernel;
			break;
		case KSEL_ID:
			if (arg && !strcmp(id, arg))
				json_array_append_new(ids, json_string(id));
			break;
		}
	}
	if (best)
		json_array_append_new(ids, json_string(json_string_value(json_object_get(best, "id"))));
	/* Entries, none of them a kernel or session: not what a Jupyter server sends. */
	if (junk && junk == json_array_size(doc)) {
		json_decref(ids);
		ids = NULL;
	}
	json_decref(doc);
	return ids;
}

char *kernel_list_paths(const char *body, char *out, size_t outlen)
{
	json_t *doc = json_loads(body ? body : "", 0, NULL), *item;
	size_t i, n = 0;

	if (!outlen)
		return out;
	out[0] = '\0';
	json_array_foreach(doc, i, item) {
		const char *path = json_string_value(json_object_get(item, "path"));
		int w;

		if (!path)
			continue;
		w = snprintf(out + n, outlen - n, "%s%s", n ? ", " : "", path);
		if (w < 0 || (size_t)w >= outlen - n) {
			/* cut: end with an ellipsis that fits */
			if (outlen >= 4)
				snprintf(out + (outlen - 4 > n ? outlen - 4 : n), 4, "...");
			break;
		}
		n += (size_t)w;
	}
	json_decref(doc);
	if (!out[0])
		snprintf(out, outlen, "none");
	return out;
}

/* Does a kernel list (/api/kernels) or session list (/api/sessions) name kernel id? */
int kernel_list_has(const char *body, const char *id)
{
	json_t *doc = json_loads(body, 0, NULL), *item;
	size_t i;
	int found = 0;

	json_array_foreach(doc, i, item) {
		const char *a = json_string_value(json_object_get(item, "id"));
		const char *b = json_string_value(json_object_get(json_object_get(item, "kernel"), "id"));

		if ((a && !strcmp(a, id)) || (b && !strcmp(b, id)))
			found = 1;
	}
	json_decref(doc);
	return found;
}

size_t kernel_list_prefix(const char *body, const char *prefix, struct kernel_list_match *m)
{
	json_t *doc = json_loads(body ? body : "", 0, NULL), *item;
	size_t i, used = 0;

	memset(m, 0, sizeof(*m));
	json_array_foreach(doc, i, item) {
		const char *id = json_string_value(json_object_get(item, "id"));

		if (!id)
			continue;
		if (used < sizeof(m->running))
			used += (size_t)snprintf(m->running + used, sizeof(m->running) - used, "%s%.8s",
						 used ? ", " : "", id);
		if (strncasecmp(id, prefix, strlen(prefix)))
			continue;
		if (!m->n++)
			snprintf(m->first, sizeof(m->first), "%s", id);
		else if (m->n == 2)
			snprintf(m->second, sizeof(m->second), "%s", id);
	}
	json_decref(doc);
	return m->n;
}
