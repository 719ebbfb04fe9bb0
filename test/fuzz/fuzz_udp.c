/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * libFuzzer target: the UDP guard on any datagram from any sender.  The
 * input is a control byte, a prefix length, a sender address (family,
 * length, bytes), a clock step and the datagram.  Beyond ASan, every
 * answer must keep the promises of echod(1): no reply to a low,
 * reflecting or own port, nor to the prefix; never more than twice the
 * request on the wire; never more than one datagram holds; with a
 * prefix, never the last reply come back from where it went.
 */
#include "config.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "udpguard.h"
#include "check.h"

#define OWN_PORT	25000

static struct udp_guard	*guard;
static size_t		 prefix_len;	/* the guard's */
static uint64_t		 now_ms = 1;
static const char	 prefix[] = "GOT:0123456789abcdefghijklmnopqrstuvwxyz";

/* The last datagram answered: to whom, what, when. */
static struct {
	bool			 valid;
	struct sockaddr_storage	 to;
	size_t			 tolen;
	uint8_t			 payload[65536];
	size_t			 len;
	uint64_t		 at;
} last;

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Whether the datagram is the last reply come back, within the time. */
static bool
returned(const struct sockaddr_storage *from, size_t fromlen,
    const uint8_t *data, size_t size)
{
	size_t	 tail = prefix_len + last.len;

	return last.valid && prefix_len != 0 && fromlen == last.tolen &&
	    memcmp(from, &last.to, fromlen) == 0 &&
	    now_ms - last.at <= UDP_RETURN_MSEC && size >= tail &&
	    memcmp(data + size - tail, prefix, prefix_len) == 0 &&
	    memcmp(data + size - last.len, last.payload, last.len) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct siphash_key key = { 7, 11 };
	struct udp_limits	 limits = { 50, 4096, 200, 16384 };
	struct sockaddr_storage	 ss;
	const struct sockaddr_in6 *sin6 = (const void *)&ss;
	const struct sockaddr_in *sin = (const void *)&ss;
	size_t			 salen, reply = 0, headers;
	size_t			 addr_bytes;
	enum udp_verdict	 v;
	uint16_t		 port;

	if (size < 4)
		return 0;
	/* A new guard now and then: a fresh table, another prefix. */
	if (guard == NULL || (data[0] & 0x80)) {
		udp_guard_free(guard);
		prefix_len = data[1] % (sizeof(prefix));
		if (data[0] & 0x40)
			memset(&limits, 0, sizeof(limits));
		guard = udp_guard_new(prefix, prefix_len, &limits, &key);
		last.valid = false;
		check(guard != NULL);
		udp_guard_own_port(guard, OWN_PORT);
		/* Now and then a client's port repeats little (--udp-repeats). */
		if (data[0] & 0x20)
			udp_guard_client_repeats(guard, data[1] % 4);
	}
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (data[0] & 1) ? AF_INET6 : AF_INET;
	if (data[0] & 2)
		ss.ss_family = data[2];
	salen = data[3] % (sizeof(ss) + 1);
	data += 4;
	size -= 4;
	/* The address's bytes after the family, as far as the input has. */
	addr_bytes = salen > 2 ? salen - 2 : 0;
	if (addr_bytes > size)
		addr_bytes = size;
	memcpy((char *)&ss + 2, data, addr_bytes);
	data += addr_bytes;
	size -= addr_bytes;
	if (size > 0) {
		now_ms += data[0] * 7;
		data++;
		size--;
	}
	v = udp_guard_judge(guard, (struct sockaddr *)&ss, salen, data, size,
	    now_ms, &reply);
	check(udp_verdict_reason(v) != NULL);
	check(v != UDP_ANSWER || !returned(&ss, salen, data, size));
	if (v != UDP_ANSWER) {
		check(reply == 0 || udp_verdict_is_limit(v));
		return 0;
	}
	check(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
	if (ss.ss_family == AF_INET) {
		check(salen >= sizeof(*sin));
		port = ntohs(sin->sin_port);
		headers = 28;
	} else {
		check(salen >= sizeof(*sin6));
		port = ntohs(sin6->sin6_port);
		headers = IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) ? 28 : 48;
	}
	check(port >= 1024 && port != OWN_PORT && !udp_port_is_service(port));
	check(reply <= size);
	check(prefix_len + reply <= (headers == 28 ? UDP_MAX_V4 : UDP_MAX_V6));
	check(reply == size || prefix_len + reply ==
	    (headers == 28 ? UDP_MAX_V4 : UDP_MAX_V6));
	check(headers + prefix_len + reply <= 2 * (headers + size));
	check(prefix_len == 0 || size < prefix_len ||
	    memcmp(data, prefix, prefix_len) != 0);
	check(udp_guard_sources(guard) <= UDP_GUARD_SETS * UDP_GUARD_WAYS);
	last.valid = true;
	memcpy(&last.to, &ss, salen);
	last.tolen = salen;
	memcpy(last.payload, data, reply);
	last.len = reply;
	last.at = now_ms;
	return 0;
}
