/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/*
 * An HdrHistogram interval log (format 1.3, as HistogramLogWriter
 * writes it and HistogramLogProcessor reads it): a header, then one line
 * an interval, each histogram in HdrHistogram's V2 encoding (ZigZag
 * LEB128 counts, zeros run-length encoded), deflated and in base64.
 * Values are nanoseconds; the histogram has 2 significant digits, the
 * finest HdrHistogram layout at least as fine as echoload's own buckets,
 * and each of echoload's buckets goes to the HdrHistogram bucket of its
 * largest value.  The deflate stream is made of stored blocks: any
 * inflater reads it, and echoload needs no zlib.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hist.h"
#include "load_hdrlog.h"
#include "util.h"

#define V2_ENCODING_COOKIE	(0x1c849303u | 0x10u)
#define V2_COMPRESSION_COOKIE	(0x1c849304u | 0x10u)
#define HDR_DIGITS		2
#define HDR_HALF_MAGNITUDE	7	/* 256 sub-buckets, half of them */
#define HDR_HALF		(1u << HDR_HALF_MAGNITUDE)
#define HDR_HIGHEST		(1ULL << 48)	/* ns: 78 hours */
#define HDR_HEADER_LEN		40
#define STORED_MAX		65535

/* The HdrHistogram counts index of v (lowest discernible value 1). */
static unsigned int
hdr_index(uint64_t v)
{
	unsigned int	 bucket;

	bucket = 64 - __builtin_clzll(v | (2 * HDR_HALF - 1)) -
	    (HDR_HALF_MAGNITUDE + 1);
	return ((bucket + 1) << HDR_HALF_MAGNITUDE) + (v >> bucket) - HDR_HALF;
}

static size_t
put_be(uint8_t *p, uint64_t v, int bytes)
{
	int	 i;

	for (i = bytes - 1; i >= 0; i--, v >>= 8)
		p[i] = v & 0xff;
	return bytes;
}

/* ZigZag, then LEB128 (HdrHistogram's ninth byte would hold 8 bits; no
 * count comes near 2^56). */
static size_t
put_zigzag(uint8_t *p, int64_t v)
{
	uint64_t	 z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	size_t		 n = 0;

	while (z >= 0x80) {
		p[n++] = (z & 0x7f) | 0x80;
		z >>= 7;
	}
	p[n++] = z;
	return n;
}

/* The V2 encoding of h, before compression; *len its length. */
static uint8_t *
hdr_encode(const struct hist *h, size_t *len)
{
	uint64_t	*counts, v;
	unsigned int	 i, limit, top = 0, zeros;
	uint8_t		*buf;
	size_t		 n;

	limit = hdr_index(HDR_HIGHEST) + 1;
	counts = xcalloc(limit, sizeof(*counts), "a histogram");
	for (i = 0; i < HIST_BUCKETS; i++) {
		if (h->buckets[i] == 0)
			continue;
		v = hist_bucket_high(i);
		if (v > h->max)
			v = h->max;
		if (v >= HDR_HIGHEST)
			v = HDR_HIGHEST - 1;
		counts[hdr_index(v)] += h->buckets[i];
		if (hdr_index(v) + 1 > top)
			top = hdr_index(v) + 1;
	}
	buf = xcalloc(HDR_HEADER_LEN + 10 * (size_t)(top + 1), 1, "a histogram");
	n = HDR_HEADER_LEN;
	for (i = 0; i < top; i++) {
		if (counts[i] != 0) {
			n += put_zigzag(buf + n, counts[i]);
			continue;
		}
		for (zeros = 0; i < top && counts[i] == 0; i++)
			zeros++;
		i--;
		n += put_zigzag(buf + n, -(int64_t)zeros);
	}
	put_be(buf, V2_ENCODING_COOKIE, 4);
	put_be(buf + 4, n - HDR_HEADER_LEN, 4);
	put_be(buf + 8, 0, 4);			/* normalizing index offset */
	put_be(buf + 12, HDR_DIGITS, 4);
	put_be(buf + 16, 1, 8);			/* lowest discernible value */
	put_be(buf + 24, HDR_HIGHEST, 8);
	put_be(buf + 32, 0x3ff0000000000000ULL, 8);	/* 1.0 */
	free(counts);
	*len = n;
	return buf;
}

/* A zlib stream of stored blocks holding len bytes of data. */
static uint8_t *
zlib_stored(const uint8_t *data, size_t len, size_t *out_len)
{
	uint32_t	 a = 1, b = 0;
	size_t		 i, n = 0, chunk;
	uint8_t		*out;

	out = xcalloc(len + 5 * (len / STORED_MAX + 1) + 6, 1, "a histogram");
	out[n++] = 0x78;
	out[n++] = 0x01;
	for (i = 0; i == 0 || i < len; i += chunk) {
		chunk = len - i > STORED_MAX ? STORED_MAX : len - i;
		out[n++] = i + chunk == len;	/* BFINAL, BTYPE 00 */
		out[n++] = chunk & 0xff;
		out[n++] = chunk >> 8;
		out[n++] = ~chunk & 0xff;
		out[n++] = (~chunk >> 8) & 0xff;
		memcpy(out + n, data + i, chunk);
		n += chunk;
		if (chunk == 0)
			break;
	}
	for (i = 0; i < len; i++) {
		a = (a + data[i]) % 65521;
		b = (b + a) % 65521;
	}
	n += put_be(out + n, (uint64_t)b << 16 | a, 4);
	*out_len = n;
	return out;
}

static void
base64_write(FILE *out, const uint8_t *p, size_t len)
{
	static const char	 digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t		 v;
	size_t			 i;

	for (i = 0; i < len; i += 3) {
		v = p[i] << 16 | (i + 1 < len ? p[i + 1] << 8 : 0) |
		    (i + 2 < len ? p[i + 2] : 0);
		fputc(digits[v >> 18], out);
		fputc(digits[(v >> 12) & 63], out);
		fputc(i + 1 < len ? digits[(v >> 6) & 63] : '=', out);
		fputc(i + 2 < len ? digits[v & 63] : '=', out);
	}
}

void
hdrlog_header(FILE *out, double start_epoch)
{
	char		 when[64];
	time_t		 t = (time_t)start_epoch;
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%a %b %d %H:%M:%S UTC %Y", &tm);
	fprintf(out, "#[Logged with echoload %s]\n"
	    "#[Histogram log format version 1.3]\n"
	    "#[StartTime: %.3f (seconds since epoch), %s]\n"
	    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
	    "\"Interval_Compressed_Histogram\"\n", PACKAGE_VERSION,
	    start_epoch, when);
}

/* One interval: its start (seconds since StartTime), length, histogram. */
void
hdrlog_interval(FILE *out, double start, double length, const struct hist *h)
{
	uint8_t		*enc, *z, *all;
	size_t		 enc_len, z_len;

	enc = hdr_encode(h, &enc_len);
	z = zlib_stored(enc, enc_len, &z_len);
	all = xcalloc(z_len + 8, 1, "a histogram");
	put_be(all, V2_COMPRESSION_COOKIE, 4);
	put_be(all + 4, z_len, 4);
	memcpy(all + 8, z, z_len);
	/* The maximum in milliseconds, as HistogramLogWriter gives it. */
	fprintf(out, "%.3f,%.3f,%.3f,", start, length,
	    h->count != 0 ? h->max / 1e6 : 0);
	base64_write(out, all, z_len + 8);
	fputc('\n', out);
	free(enc);
	free(z);
	free(all);
}
