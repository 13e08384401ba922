/*
 * recorder: append what a kept kernel's cells show to a text file, so that
 * output printed while no browser tab was connected is not lost.
 *
 * Why: jupyter_server buffers a closed tab's output only when no other
 * connection to the kernel is open, so while the agent holds its WebSocket a
 * tab that drops and reconnects loses what was printed in the gap
 * (jupyter_server services/kernels/kernelmanager.py: start_buffering on the
 * last close only, get_buffer drops it for another session; measured on
 * 1.23: 29 of 80 lines lost with the agent connected, 0 without). The agent receives every IOPub
 * message anyway; the recorder writes the readable part of it down.
 *
 * What a record holds, one or more whole lines per message:
 *
 *   === In [12] 2026-11-23 17:32:05 UTC, kernel 3f2a1b9c
 *   > for i in range(3):
 *   >     print(i)
 *   0
 *   [stderr] a warning
 *   Out[12]: 42
 *   [image/png, 12345 bytes]
 *   [error] ZeroDivisionError: division by zero
 *   Traceback (most recent call last): ...   (ANSI colour codes removed)
 *
 * Stream text keeps what a terminal would show of "\r" progress lines (the
 * last rewrite). Every line is cut at RECORDER_LINE_MAX bytes and every
 * message at RECORDER_MSG_MAX; data other than text/plain (images, HTML,
 * JSON, …) is one line naming the MIME type and its size. Messages larger
 * than kernel_ws's reassembly cap are one line saying so. When more than one
 * kernel can write to a file, every line starts with "[<8-char id>] ".
 *
 * Never recorded: status messages, replies, comms, and anything answering the
 * agent's own requests (its session id, or the agent's username).
 *
 * Files: created mode 0600 with O_APPEND | O_CLOEXEC, appended to across
 * runs, renamed to FILE.1 (replacing it) before a write would take FILE
 * past its maximum, so at most about twice the maximum is kept. Every write
 * is whole lines in one write(2), passed through log_redact() first, so no
 * registered secret (the tokens the agent knows) is ever written. One
 * recorder exists per path; targets naming the same file share it.
 *
 * Write errors are logged once (and again after a recovery), never fatal.
 */
#ifndef AGENT_RECORDER_H
#define AGENT_RECORDER_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "jmsg.h"

#define RECORDER_DEFAULT_MAX	(64LL * 1024 * 1024)	/* record_max default, bytes */
#define RECORDER_MIN_MAX	1024LL			/* smallest record_max accepted */
#define RECORDER_LINE_MAX	16384			/* longest line written, bytes */
#define RECORDER_MSG_MAX	(256u * 1024)		/* most text written for one message */

struct recorder;

/* ---- file side ---- */

/*
 * The recorder for path (shared when already open: a reference is taken),
 * or NULL when path is NULL or "off", or the file cannot be opened (logged at
 * WARN). max is record_max in bytes (0 = RECORDER_DEFAULT_MAX). multi says
 * this user may write more than one kernel to it (kernel = all); a second
 * user of the same file implies it too.
 */
struct recorder *recorder_open(const char *path, long long max, int multi);

/* Drop one reference; the last one closes the file. NULL is ignored. */
void recorder_close(struct recorder *r);

const char *recorder_path(const struct recorder *r);

/*
 * Record one parsed message of kernel kernel_id (m->root must be set, see
 * jmsg.h). own_session and own_username are the agent's: replies to its
 * own requests are skipped. NULL r or a NULL root is ignored.
 */
void recorder_message(struct recorder *r, const char *kernel_id, const struct jmsg_info *m,
		      const char *own_session, const char *own_username);

/*
 * A message of len bytes was too large to parse (limit is the cap); head is
 * its first head_len bytes, enough to see its type and parent session.
 */
void recorder_oversize(struct recorder *r, const char *kernel_id, size_t len, size_t limit,
		       const char *head, size_t head_len, const char *own_session);

/*
 * Can path be opened for appending (creating it mode 0600)? 0, or -1 with a
 * reason in err. For start-up checks of an explicit record = FILE.
 */
int recorder_check_path(const char *path, char *err, size_t errlen);

struct agent_config;

/*
 * Start-up, after flags: inside a notebook (kernel_id of the kernel the agent
 * was started from, else NULL) a discovered target that set no record =
 * records to recorder_default_path(state_dir, kernel_id). Then every target's
 * record file is opened once to check it: an explicit one that cannot be
 * opened is an error (printed to err, returns -1: exit 2), the default one
 * only a warning (recording is then off).
 */
int recorder_setup(struct agent_config *cfg, const char *state_dir, const char *kernel_id,
		   FILE *err);

/* ---- pure helpers (unit-tested) ---- */

/* Is a record = value a way of saying "no recording" (off, no, false, none, "")? */
int recorder_is_off(const char *value);

/*
 * "64M", "1G", "500k", "4096", "2MB", "1 GiB"-style sizes in bytes (K, M, G
 * are powers of 1024; a trailing B or iB is allowed). At least
 * RECORDER_MIN_MAX. Returns 0, or -1 with a reason in err.
 */
int recorder_parse_size(const char *s, long long *bytes, char *err, size_t errlen);

/* The in-notebook default: "<state_dir>/agent-kernel-<id8>-output.txt" (malloc'd, or NULL). */
char *recorder_default_path(const char *state_dir, const char *kernel_id);

/* A bounded text buffer; the formatters append to it. */
struct recorder_buf {
	char *s;		/* NUL-terminated when len > 0 */
	size_t len, cap;
	int cut;		/* something did not fit in RECORDER_MSG_MAX */
};

void recorder_buf_reset(struct recorder_buf *b);
void recorder_buf_free(struct recorder_buf *b);

/* How to format one message. */
struct recorder_fmt {
	const char *kernel_id;		/* named in "In [n]" lines */
	int prefix;			/* start every line with "[<id8>] " */
	const char *own_session;	/* the agent's session id, may be NULL */
	const char *own_username;	/* the agent's username, may be NULL */
	time_t now;			/* used when a message has no readable date */
};

/*
 * Append the record of one message (a whole Jupyter message object) to out.
 * Returns 1 when lines were added, 0 when the message is not recorded (status,
 * replies, comms, the agent's own), -1 when out of memory.
 */
int recorder_format(json_t *msg, const struct recorder_fmt *f, struct recorder_buf *out);

/* The one line for an unparsed oversize message (see recorder_oversize). Same returns. */
int recorder_format_oversize(const char *head, size_t head_len, size_t len, size_t limit,
			     const struct recorder_fmt *f, struct recorder_buf *out);

/*
 * Remove ANSI escape sequences (CSI, OSC, two-byte ESC sequences) and
 * control characters other than tab from s[0..len), in place. Returns the
 * new length. Keeps valid UTF-8 valid.
 */
size_t recorder_strip_ansi(char *s, size_t len);

/* Bytes of data a MIME bundle value carries: decoded size for base64 binary types. */
size_t recorder_data_size(const char *mime, json_t *value);

#endif
