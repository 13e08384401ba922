/* SPDX-License-Identifier: MIT */
/*
 * A test double for tests/portable_check.py, LD_PRELOADed into the portable
 * binary: the system's libcurl made to answer like libcurl 7.81 (Ubuntu
 * 22.04, Colab), which cannot run here. It reports version 7.81.0 and
 * rejects the options that 7.81 does not know, as that libcurl's
 * curl_easy_setopt does (CURLE_UNKNOWN_OPTION). Everything else goes to the
 * real libcurl.
 */
#define _GNU_SOURCE
#define CURL_DISABLE_TYPECHECK
#include <dlfcn.h>
#include <stdarg.h>
#include <curl/curl.h>

#define FAKE_VERSION_NUM 0x075100
#define FAKE_VERSION "7.81.0"

/*
 * An option's number is its type base (0, 10000, 20000, 30000, 40000)
 * plus its index; 7.81 knows indexes up to 315 (CURLOPT_MIME_OPTIONS). Newer
 * ones include CURLOPT_PROTOCOLS_STR (10318, 7.85.0).
 */
#define LAST_INDEX_781 315

CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	static CURLcode (*real)(CURL *, CURLoption, ...);
	va_list ap;
	void *arg;

	if ((int)opt % 10000 > LAST_INDEX_781)
		return CURLE_UNKNOWN_OPTION;
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "curl_easy_setopt");
	/* Every option takes one argument of pointer, long or curl_off_t size;
	 * on x86_64 all three travel in the same integer register. */
	va_start(ap, opt);
	arg = va_arg(ap, void *);
	va_end(ap);
	return real(h, opt, arg);
}

curl_version_info_data *curl_version_info(CURLversion v)
{
	static curl_version_info_data *(*real)(CURLversion);
	static curl_version_info_data d;

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "curl_version_info");
	d = *real(v);
	d.version_num = FAKE_VERSION_NUM;
	d.version = FAKE_VERSION;
	return &d;
}
