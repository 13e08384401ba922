/* progress: see progress.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "progress.h"
#include "target.h"
#include "timer.h"

#define TICK_MS 1000			/* the status line's clock ("next in 41s") */
#define SUMMARY_MS (10 * 60 * 1000)	/* the quiet log's heartbeat */

struct progress {
	struct lws_context *ctx;
	int tty;
	struct target **const *targets;
	const size_t *ntargets;
	unsigned long acks_at_summary;
	lws_sorted_usec_list_t sul;
};

static size_t term_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/* "2 kernels · a1b2c3d4 busy 2h13m (safe) · … ", the part both forms share. */
static size_t describe(const struct progress *p, char *out, size_t outlen, double *next,
		       unsigned long *acks)
{
	unsigned kernels = 0;
	size_t n, i;

	*next = 0;
	*acks = 0;
	for (i = 0; i < *p->ntargets; i++) {
		const struct target *t = (*p->targets)[i];
		double nr = target_next_round(t);

		kernels += target_kernel_count(t);
		*acks += target_acks(t);
		if (nr > 0 && (!*next || nr < *next))
			*next = nr;
	}
	n = (size_t)snprintf(out, outlen, "%u kernel%s", kernels, kernels == 1 ? "" : "s");
	for (i = 0; i < *p->ntargets && n < outlen; i++) {
		n += (size_t)snprintf(out + n, outlen - n, " · ");
		if (n < outlen)
			n += target_brief((*p->targets)[i], out + n, outlen - n);
	}
	return n < outlen ? n : outlen - 1;
}

static void draw(struct progress *p)
{
	char line[1024], d[32];
	double next;
	unsigned long acks;
	size_t n = describe(p, line, sizeof(line), &next, &acks);
	double now = timer_wall_s();

	if (next > now && n < sizeof(line)) {
		timer_format_duration((long)(next - now + 0.999) * 1000, d, sizeof(d));
		snprintf(line + n, sizeof(line) - n, " · next in %s", d);
	}
	/* "keeping" first: the one word that says all is well */
	memmove(line + 8, line, strnlen(line, sizeof(line) - 9) + 1);
	memcpy(line, "keeping ", 8);
	log_status_set(line, term_width() - 1);
}

static void summary(struct progress *p)
{
	char line[1024];
	double next;
	unsigned long acks;

	describe(p, line, sizeof(line), &next, &acks);
	log_info(NULL, "still keeping %s; %lu keepalive%s acknowledged in the last 10 min", line,
		 acks - p->acks_at_summary, acks - p->acks_at_summary == 1 ? "" : "s");
	p->acks_at_summary = acks;
}

static void tick(lws_sorted_usec_list_t *sul)
{
	struct progress *p = lws_container_of(sul, struct progress, sul);

	if (p->tty)
		draw(p);
	else
		summary(p);
	timer_in_ms(p->ctx, &p->sul, tick, p->tty ? TICK_MS : SUMMARY_MS);
}

struct progress *progress_new(struct lws_context *ctx, int tty,
			      struct target **const *targets, const size_t *ntargets)
{
	struct progress *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->ctx = ctx;
	p->tty = tty;
	p->targets = targets;
	p->ntargets = ntargets;
	if (tty)
		log_status_enable(1);
	timer_in_ms(ctx, &p->sul, tick, tty ? TICK_MS : SUMMARY_MS);
	return p;
}

void progress_update(struct progress *p)
{
	if (p && p->tty)
		draw(p);
}

void progress_free(struct progress *p)
{
	if (!p)
		return;
	timer_cancel(p->ctx, &p->sul);
	if (p->tty)
		log_status_enable(0);
	free(p);
}
