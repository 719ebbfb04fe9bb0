/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
#include "config.h"

#include <sys/types.h>
#include <stdlib.h>
#include <string.h>

#include "payload.h"

static const char all_digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";

int
payload_init(struct payload *p, const char *prefix, size_t len,
    enum reply_framing framing, bool datagram, const char **why)
{
	size_t	 n = 0, i;
	char	 skip;

	memset(p, 0, sizeof(*p));
	if (len < PAYLOAD_MIN || len > PAYLOAD_MAX) {
		*why = "out of range";
		return -1;
	}
	p->prefix_len = strlen(prefix);
	if (p->prefix_len >= sizeof(p->prefix)) {
		*why = "longer than 255 bytes";
		return -1;
	}
	memcpy(p->prefix, prefix, p->prefix_len);
	skip = p->prefix_len > 0 ? prefix[0] : '\0';
	if (framing == REPLY_CHUNK && skip == '\n') {
		*why = "starts with a newline, which chunk framing cannot "
		    "tell from the data";
		return -1;
	}
	for (i = 0; all_digits[i] != '\0' && n < sizeof(p->digits); i++)
		if (all_digits[i] != skip)
			p->digits[n++] = all_digits[i];
	p->sep = skip == ':' ? '-' : ':';
	p->len = p->len_max = len;
	p->framing = p->prefix_len == 0 ? REPLY_LINE : framing;
	p->datagram = datagram;
	return 0;
}

static size_t
put_number(const struct payload *p, char *out, uint64_t v)
{
	char	 tmp[16];
	size_t	 n = 0, i;

	do {
		tmp[n++] = p->digits[v & 31];
		v >>= 5;
	} while (v != 0);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

/* Requests from p->len to max bytes long (max checked by the caller). */
void
payload_set_range(struct payload *p, size_t max)
{
	p->len_max = max;
}

/*
 * The length of request seq of connection conn: spread evenly over the
 * range, but a function of the two, so the checker knows it too.
 */
size_t
payload_len(const struct payload *p, uint32_t conn, uint64_t seq)
{
	uint64_t	 z;

	if (p->len_max == p->len)
		return p->len;
	/* splitmix64's finaliser */
	z = seq + ((uint64_t)conn << 40) + 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return p->len + z % (p->len_max - p->len + 1);
}

/* Request seq of connection conn, payload_len() bytes, into out. */
void
payload_request(const struct payload *p, uint32_t conn, uint64_t seq,
    char *out)
{
	size_t	 len = payload_len(p, conn, seq);
	size_t	 i, end = p->datagram ? len : len - 1;

	i = put_number(p, out, conn);
	out[i++] = p->sep;
	i += put_number(p, out + i, seq);
	out[i++] = p->sep;
	memset(out + i, p->digits[10 + (conn + seq) % 22], end - i);
	if (!p->datagram)
		out[end] = '\n';
}

static int
get_number(const struct payload *p, const char *s, size_t len, size_t *at,
    uint64_t max, uint64_t *v)
{
	const char	*d;
	size_t		 start = *at;

	*v = 0;
	while (*at < len && s[*at] != p->sep) {
		if (*at - start >= 13 || s[*at] == '\0' ||
		    (d = memchr(p->digits, s[*at], sizeof(p->digits))) == NULL)
			return -1;
		*v = *v << 5 | (uint64_t)(d - p->digits);
		(*at)++;
	}
	if (*at == start || *at == len || *v > max)
		return -1;
	(*at)++;
	return 0;
}

/* The connection and number a request names; -1 if it names none. */
int
payload_parse(const struct payload *p, const char *req, size_t len,
    uint32_t *conn, uint64_t *seq)
{
	uint64_t	 c;
	size_t		 at = 0;

	if (get_number(p, req, len, &at, UINT32_MAX, &c) == -1 ||
	    get_number(p, req, len, &at, UINT64_MAX, seq) == -1)
		return -1;
	*conn = c;
	return 0;
}

/*
 * A datagram's reply: PREFIX + the very request it names, of connection
 * conn.  scratch holds p->len_max bytes.
 */
bool
payload_check_datagram(const struct payload *p, const char *reply, size_t len,
    uint32_t conn, uint64_t *seq, char *scratch)
{
	uint32_t	 c;

	if (len < p->prefix_len + p->len ||
	    memcmp(reply, p->prefix, p->prefix_len) != 0 ||
	    payload_parse(p, reply + p->prefix_len, len - p->prefix_len, &c,
	    seq) == -1 || c != conn ||
	    len != p->prefix_len + payload_len(p, conn, *seq))
		return false;
	payload_request(p, conn, *seq, scratch);
	return memcmp(reply + p->prefix_len, scratch, len - p->prefix_len) ==
	    0;
}

int
verify_init(struct verify *v, const struct payload *p, uint32_t conn)
{
	memset(v, 0, sizeof(*v));
	v->conn = conn;
	if ((v->expect = malloc((p->framing == REPLY_LINE ? p->prefix_len :
	    0) + p->len_max)) == NULL)
		return -1;
	verify_restart(v, p, 0);
	return 0;
}

void
verify_free(struct verify *v)
{
	free(v->expect);
	v->expect = NULL;
}

/* A new stream (a new connection) whose first reply answers seq. */
void
verify_restart(struct verify *v, const struct payload *p, uint64_t seq)
{
	size_t	 pre = p->framing == REPLY_LINE ? p->prefix_len : 0;

	v->seq = seq;
	v->off = 0;
	v->prefix_seen = 0;
	v->offset = 0;
	memcpy(v->expect, p->prefix, pre);
	payload_request(p, v->conn, seq, v->expect + pre);
	v->expect_len = pre + payload_len(p, v->conn, seq);
}

static ssize_t
verify_fail(struct verify *v, struct mismatch *m, size_t at, int expected,
    int got)
{
	m->offset = v->offset + at;
	m->seq = v->seq;
	m->expected = expected;
	m->got = got;
	return -1;
}

/*
 * Chunk framing: a prefix may stand before any byte; requests never hold
 * its first byte, so that byte starts one.
 */
static ssize_t
verify_chunk(struct verify *v, const struct payload *p, const char *buf,
    size_t n, bool *done, struct mismatch *m)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		unsigned char	 c = buf[i];

		if (v->prefix_seen > 0 || c == (unsigned char)p->prefix[0]) {
			if (c != (unsigned char)p->prefix[v->prefix_seen])
				return verify_fail(v, m, i,
				    (unsigned char)p->prefix[v->prefix_seen],
				    c);
			if (++v->prefix_seen == p->prefix_len)
				v->prefix_seen = 0;
			continue;
		}
		if (c != (unsigned char)v->expect[v->off])
			return verify_fail(v, m, i,
			    (unsigned char)v->expect[v->off], c);
		if (++v->off == v->expect_len) {
			i++;
			*done = true;
			break;
		}
	}
	return i;
}

/*
 * Checks what arrived against what is due, up to the end of one reply at
 * most (*done then says so, and the next reply is due).  Returns the
 * bytes taken, or -1 with *m filled at the first wrong byte.
 */
ssize_t
verify_feed(struct verify *v, const struct payload *p, const char *buf,
    size_t n, bool *done, struct mismatch *m)
{
	size_t	 take, i;
	ssize_t	 used;

	*done = false;
	if (p->framing == REPLY_CHUNK)
		used = verify_chunk(v, p, buf, n, done, m);
	else {
		take = v->expect_len - v->off;
		if (take > n)
			take = n;
		if (memcmp(buf, v->expect + v->off, take) != 0) {
			for (i = 0; buf[i] == v->expect[v->off + i]; i++)
				;
			return verify_fail(v, m, i,
			    (unsigned char)v->expect[v->off + i],
			    (unsigned char)buf[i]);
		}
		v->off += take;
		used = take;
		*done = v->off == v->expect_len;
	}
	if (used == -1)
		return -1;
	v->offset += used;
	if (*done) {
		uint64_t	 offset = v->offset;

		verify_restart(v, p, v->seq + 1);
		v->offset = offset;
	}
	return used;
}
