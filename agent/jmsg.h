/*
 * jmsg: building and reading Jupyter kernel messages (legacy JSON framing on
 * /api/kernels/<id>/channels). Nothing about sockets.
 *
 * Protocol facts (Jupyter messaging spec 5.3; checked against ipykernel 6.17
 * and 6.29, jupyter_server 1.23 and 2.15):
 *  - every message needs a fresh msg_id, all four dicts and an explicit channel;
 *  - the keepalive is an execute_request with silent=true, store_history=false,
 *    user_expressions={}, allow_stdin=false, stop_on_error=false;
 *  - the agent only needs status (execution_state, and whose request it
 *    answers), execute_reply (parent msg_id, status) and shutdown_reply
 *    (restart); everything else is drained unparsed by the caller.
 */
#ifndef AGENT_JMSG_H
#define AGENT_JMSG_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#define JMSG_UUID_LEN 37	/* 36 chars + NUL */

/* A random (version 4) UUID in lower-case hex with dashes. */
void jmsg_uuid(char out[JMSG_UUID_LEN]);

/* Current UTC time as "YYYY-MM-DDTHH:MM:SS.ffffffZ". */
void jmsg_now_iso(char *out, size_t outlen);

/*
 * Parse an ISO 8601 time as the servers write it ("2026-11-23T17:32:05.123456Z",
 * "+00:00" offsets, fraction optional). Returns 0 and seconds since the epoch
 * in *t, or -1.
 */
int jmsg_parse_iso(const char *s, double *t);

/* The "last_activity" of a REST object (a kernel, /api/status, a hub server) as epoch seconds, or 0. */
double jmsg_activity(json_t *o);

/*
 * Build an execute_request for the shell channel. session is the agent's
 * session id, code the keepalive code ("" by default). A fresh msg_id is
 * written to msg_id. Returns malloc'd JSON text, or NULL on allocation failure.
 */
char *jmsg_execute_request(const char *session, const char *username, const char *code,
			   char msg_id[JMSG_UUID_LEN]);

/*
 * Build a kernel_info_request for the control channel: ipykernel answers it
 * at once even while a cell runs, with a status busy/idle on IOPub. That is
 * activity to jupyter_server before 2.15, which after such a request may
 * also report a running kernel as idle (kernelmanager.py,
 * record_activity), and cull it. Returns malloc'd JSON text, or NULL.
 */
char *jmsg_kernel_info_request(const char *session, const char *username,
				char msg_id[JMSG_UUID_LEN]);

/* What the agent reads from one message. Strings are truncated to fit. */
struct jmsg_info {
	char msg_type[48];		/* header.msg_type */
	char channel[16];		/* "iopub", "shell", … */
	char parent_msg_id[80];		/* parent_header.msg_id, "" if none */
	char parent_msg_type[48];	/* parent_header.msg_type, "" if none */
	char execution_state[16];	/* content.execution_state for status */
	char reply_status[16];		/* content.status for *_reply: ok|error|aborted */
	int restart;			/* content.restart for shutdown_reply */
	/*
	 * The whole parsed message, borrowed: kernel_ws sets it for its
	 * message() handler (valid during that call only), so that the
	 * recorder reads the content without parsing the text again. NULL
	 * from jmsg_read().
	 */
	json_t *root;
};

/*
 * Read one complete text frame. Returns 0 and fills *out, or -1 when the
 * text is not a JSON object with a header.msg_type string (the reason is
 * written to err). Never crashes on arbitrary bytes; len may include no NUL.
 */
int jmsg_read(const char *buf, size_t len, struct jmsg_info *out, char *err, size_t errlen);

/*
 * The same, and on success hand the parsed message to the caller in *root
 * (a new reference to json_decref(); also stored in out->root). root may be
 * NULL (then this is jmsg_read()).
 */
int jmsg_parse(const char *buf, size_t len, struct jmsg_info *out, json_t **root,
	       char *err, size_t errlen);

#endif
