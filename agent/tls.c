/* tls: see tls.h. */
#include <openssl/x509_vfy.h>

#include "tls.h"

const char *tls_cert_reason(long v)
{
	switch (v) {
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return "the server's TLS certificate is self-signed and not trusted"
		       " (to trust it: --ca-file FILE, or ca_file = FILE in a config file)";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return "the server's TLS certificate is from an unknown issuer"
		       " (to trust it: --ca-file FILE, or ca_file = FILE in a config file)";
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "the server's TLS certificate has expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "the server's TLS certificate is not valid yet";
	case X509_V_OK:
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return "the server's TLS certificate is not for this host name";
	default:
		return "the server's TLS certificate is not trusted";
	}
}
