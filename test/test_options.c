/* Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE. */
/* Unit tests: the command line. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "options.h"
#include "util.h"

struct parsed {
	struct options		 opts;
	enum options_result	 result;
	char			*out;
	char			*err;
};

static void
parse(struct parsed *p, const char *const *args)
{
	char	*argv[32];
	int	 argc = 0;
	size_t	 outlen, errlen;
	FILE	*out = open_memstream(&p->out, &outlen);
	FILE	*err = open_memstream(&p->err, &errlen);

	argv[argc++] = "echod";
	while (*args != NULL)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	p->result = options_parse(&p->opts, argc, argv, out, err);
	fclose(out);
	fclose(err);
	echod_keep_log(p->err);
}

static void
parsed_free(struct parsed *p)
{
	options_free(&p->opts);
	free(p->out);
	free(p->err);
}

#define PARSE(p, ...) parse((p), (const char *const[]){ __VA_ARGS__, NULL })

TestSuite(options, .timeout = 10);

Test(options, defaults_match_the_tutorial)
{
	struct parsed	 p;

	parse(&p, (const char *const[]){ NULL });
	cr_assert_eq(p.result, OPTIONS_RUN);
	cr_assert_eq(p.opts.port, 25000);
	cr_assert_str_eq(p.opts.prefix, "GOT:");
	cr_assert_eq(p.opts.prefix_len, 4);
	cr_assert_eq(p.opts.framing, FRAMING_LINE);
	cr_assert_eq(p.opts.read_size, 1000);
	cr_assert_eq(p.opts.max_line, 65536);
	cr_assert_eq(p.opts.output_limit, DEFAULT_OUTPUT_LIMIT);
	cr_assert_eq(p.opts.idle_timeout, 0);
	cr_assert_eq(p.opts.drain_timeout, 5);
	cr_assert_eq(p.opts.max_connections, 0);
	/* Every IPv4 and every IPv6 address. */
	cr_assert_eq(p.opts.listen.count, 2);
	cr_assert_eq(p.opts.listen.addrs[0].ss.ss_family, AF_INET);
	cr_assert_eq(p.opts.listen.addrs[1].ss.ss_family, AF_INET6);
	cr_assert(p.opts.listen.addrs[1].optional);
	cr_assert_str_empty(p.err);
	parsed_free(&p);
}

Test(options, every_option_long_and_short)
{
	struct parsed	 p;

	PARSE(&p, "-l", "127.0.0.1:7", "--listen", "[::1]:8", "-p", "9",
	    "-P", ">> ", "-f", "chunk", "--read-size", "2K", "--max-line",
	    "100", "--output-limit", "1M", "-c", "50", "-t", "30",
	    "--drain-timeout", "0", "-q");
	cr_assert_eq(p.result, OPTIONS_RUN, "%s", p.err);
	cr_assert_eq(p.opts.listen.count, 2);
	cr_assert_eq(addr_port((struct sockaddr *)&p.opts.listen.addrs[0].ss),
	    7);
	cr_assert_eq(addr_port((struct sockaddr *)&p.opts.listen.addrs[1].ss),
	    8);
	cr_assert_eq(p.opts.port, 9);
	cr_assert_str_eq(p.opts.prefix, ">> ");
	cr_assert_eq(p.opts.framing, FRAMING_CHUNK);
	cr_assert_eq(p.opts.read_size, 2048);
	cr_assert_eq(p.opts.max_line, 100);
	cr_assert_eq(p.opts.output_limit, 1 << 20);
	cr_assert_eq(p.opts.max_connections, 50);
	cr_assert_eq(p.opts.idle_timeout, 30);
	cr_assert_eq(p.opts.drain_timeout, 0);
	cr_assert_eq(p.opts.log_level, 0);
	parsed_free(&p);
}

Test(options, proxy_from_and_ipv6_prefix)
{
	struct parsed	 p;

	PARSE(&p, "--proxy-from", "192.0.2.0/24", "--proxy-from",
	    "2001:db8::1", "--ipv6-prefix", "56");
	cr_assert_eq(p.result, OPTIONS_RUN, "%s", p.err);
	cr_assert_eq(p.opts.proxy_from.count, 2);
	cr_assert_eq(p.opts.proxy_from.blocks[0].bits, 24);
	cr_assert_eq(p.opts.proxy_from.blocks[1].bits, 128);
	cr_assert_eq(p.opts.ipv6_prefix, 56);
	parsed_free(&p);
	PARSE(&p, "--proxy-from", "192.0.2.0/33");
	cr_assert_eq(p.result, OPTIONS_EXIT_USAGE);
	cr_assert_str_eq(p.err, "echod: invalid --proxy-from '192.0.2.0/33': "
	    "prefix length must be 0 to 32 (see echod --help)\n");
	parsed_free(&p);
	PARSE(&p, "--ipv6-prefix", "0");
	cr_assert_eq(p.result, OPTIONS_EXIT_USAGE);
	parsed_free(&p);
	parse(&p, (const char *const[]){ NULL });
	cr_assert_eq(p.opts.ipv6_prefix, 64);
	cr_assert_eq(p.opts.proxy_from.count, 0);
	parsed_free(&p);
}

Test(options, udp_limits_defaults_and_ranges)
{
	struct parsed	 p;

	PARSE(&p, "-U");
	cr_assert_eq(p.result, OPTIONS_RUN, "%s", p.err);
	cr_assert_eq(p.opts.udp_limits.source_dgrams, 10000);
	cr_assert_eq(p.opts.udp_limits.source_bytes, 1 << 20);
	cr_assert_eq(p.opts.udp_limits.total_dgrams, 100000);
	cr_assert_eq(p.opts.udp_limits.total_bytes, 32 << 20);
	cr_assert_eq(p.opts.udp_repeats, 1000);
	parsed_free(&p);
	PARSE(&p, "--udp-repeats", "0");
	cr_assert_eq(p.result, OPTIONS_RUN, "%s", p.err);
	cr_assert_eq(p.opts.udp_repeats, 0);
	parsed_free(&p);
	PARSE(&p, "--udp-repeats", "65535");
	cr_assert_eq(p.result, OPTIONS_RUN, "%s", p.err);
	cr_assert_eq(p.opts.udp_repeats, 65535);
	parsed_free(&p);
	PARSE(&p, "--udp-repeats", "65536");
	cr_assert_eq(p.result, OPTIONS_EXIT_USAGE);
	cr_assert_str_eq(p.err, "echod: invalid --udp-repeats '65536': "
	    "must be a whole number from 0 to 65535 (see echod --help)\n");
	parsed_free(&p);
	PARSE(&p, "--udp-source-rate", "0", "--udp-source-bytes", "2K",
	    "--udp-total-rate", "100000000", "--udp-total-bytes", "1G");
	cr_assert_eq(p.result, OPTIONS_RUN, "%s", p.err);
	cr_assert_eq(p.opts.udp_limits.source_dgrams, 0);
	cr_assert_eq(p.opts.udp_limits.source_bytes, 2048);
	cr_assert_eq(p.opts.udp_limits.total_dgrams, 100000000);
	cr_assert_eq(p.opts.udp_limits.total_bytes, 1 << 30);
	parsed_free(&p);
	PARSE(&p, "--udp-total-rate", "100000001");
	cr_assert_eq(p.result, OPTIONS_EXIT_USAGE);
	cr_assert_str_eq(p.err, "echod: invalid --udp-total-rate '100000001': "
	    "must be a whole number from 0 to 100000000 (see echod --help)\n");
	parsed_free(&p);
	PARSE(&p, "--udp-source-bytes", "-1");
	cr_assert_eq(p.result, OPTIONS_EXIT_USAGE);
	parsed_free(&p);
}

Test(options, port_applies_to_default_and_portless_listen)
{
	struct parsed	 p;

	/* -p after -l still applies to it. */
	PARSE(&p, "-l", "127.0.0.1", "-p", "4242");
	cr_assert_eq(p.result, OPTIONS_RUN, "%s", p.err);
	cr_assert_eq(p.opts.listen.count, 1);
	cr_assert_eq(addr_port((struct sockaddr *)&p.opts.listen.addrs[0].ss),
	    4242);
	parsed_free(&p);
}

Test(options, threads_auto_is_one_per_cpu)
{
	struct parsed	 p;

	PARSE(&p, "--threads", "auto");
	cr_assert_eq(p.result, OPTIONS_RUN, "%s", p.err);
	cr_assert_eq(p.opts.threads, (unsigned int)sysconf(_SC_NPROCESSORS_ONLN));
	parsed_free(&p);
	parse(&p, (const char *const[]){ NULL });
	cr_assert_eq(p.opts.threads, 1);
	parsed_free(&p);
}

Test(options, empty_prefix_is_allowed)
{
	struct parsed	 p;

	PARSE(&p, "--prefix", "");
	cr_assert_eq(p.result, OPTIONS_RUN);
	cr_assert_eq(p.opts.prefix_len, 0);
	parsed_free(&p);
}

Test(options, help_lists_every_option_with_its_default)
{
	struct parsed	 p;
	const char	*names[] = { "--listen", "--port", "--prefix",
	    "--framing", "--read-size", "--max-line", "--output-limit",
	    "--max-connections", "--idle-timeout", "--drain-timeout",
	    "--quiet", "--verbose", "--help", "--version", "--user",
	    "--max-per-ip", "--threads", "--unix-mode", "--udp", "--metrics",
	    "--proxy-protocol", "--tls-cert", "--tls-key", "--udp-source-rate",
	    "--udp-source-bytes", "--udp-total-rate", "--udp-total-bytes",
	    "--udp-repeats",
	    "--handshake-timeout", "--proxy-from", "--ipv6-prefix",
	    "--metrics-max-connections", "(default 16)", "--memory-limit",
	    "--tls-ticket-lifetime", "(default 3600)",
	    "(default 64M)", "--reuse-port",
	    "default 25000", "(default 10000)", "(default 1024K)",
	    "(default 100000)", "(default 32M)",
	    "default \"GOT:\"", "default 1000", "default 65536",
	    "default 16384", "default 5", NULL };
	size_t		 i;

	PARSE(&p, "--help");
	cr_assert_eq(p.result, OPTIONS_EXIT_OK);
	for (i = 0; names[i] != NULL; i++)
		cr_assert_not_null(strstr(p.out, names[i]), "--help lacks %s",
		    names[i]);
	parsed_free(&p);
}

Test(options, version)
{
	struct parsed	 p;

	PARSE(&p, "-V");
	cr_assert_eq(p.result, OPTIONS_EXIT_OK);
	cr_assert(strncmp(p.out, "echod " PACKAGE_VERSION, 10) == 0, "%s",
	    p.out);
	parsed_free(&p);
}

struct bad_case {
	const char	*args[4];
	const char	*message;
};

Test(options, usage_errors_name_the_problem)
{
	static const struct bad_case cases[] = {
		{ { "--bogus" }, "unknown option '--bogus'" },
		{ { "-x" }, "unknown option '-x'" },
		{ { "-p" }, "option '-p' needs a value" },
		{ { "--port" }, "option '--port' needs a value" },
		{ { "--quiet=x" }, "option '--quiet' takes no value" },
		{ { "--quiet-ish" }, "unknown option '--quiet-ish'" },
		{ { "-p", "65536" }, "invalid --port '65536'" },
		{ { "-p", "-1" }, "invalid --port '-1'" },
		{ { "-p", "80x" }, "invalid --port '80x'" },
		{ { "-p", " 80" }, "invalid --port ' 80'" },
		{ { "-p", "" }, "invalid --port ''" },
		{ { "--read-size", "0" }, "invalid --read-size '0'" },
		{ { "--read-size", "17M" }, "invalid --read-size '17M'" },
		{ { "--max-line", "99999999999999999999" },
		    "invalid --max-line" },
		{ { "--output-limit", "1X" }, "invalid --output-limit '1X'" },
		{ { "--output-limit", "20000000000G" },
		    "invalid --output-limit" },
		{ { "-c", "0" }, "invalid --max-connections '0'" },
		{ { "-t", "1.5" }, "invalid --idle-timeout '1.5'" },
		{ { "-t", "1K" }, "invalid --idle-timeout '1K'" },
		{ { "--drain-timeout", "x" }, "invalid --drain-timeout 'x'" },
		{ { "-f", "word" }, "invalid --framing 'word'" },
		{ { "-l", "1.2.3.4.5:80" }, "invalid --listen '1.2.3.4.5:80'" },
		{ { "-l", "127.0.0.1:99999" }, "bad port '99999'" },
		{ { "-l", "[::1" }, "invalid --listen '[::1'" },
		{ { "-l", "[nonsense]:80" }, "bad IPv6 address" },
		{ { "-l", "" }, "empty address" },
		{ { "stray" }, "unexpected argument 'stray'" },
		{ { "--threads", "0" }, "invalid --threads '0'" },
		{ { "--threads", "257" }, "invalid --threads '257'" },
		{ { "--threads", "many" }, "invalid --threads 'many'" },
		{ { "--tls-ticket-lifetime", "604801" },
		    "invalid --tls-ticket-lifetime '604801'" },
		{ { "--tls-ticket-lifetime", "1h" },
		    "invalid --tls-ticket-lifetime '1h'" },
	};
	struct parsed	 p;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse(&p, cases[i].args);
		cr_assert_eq(p.result, OPTIONS_EXIT_USAGE, "%s accepted",
		    cases[i].args[0]);
		cr_assert_not_null(strstr(p.err, cases[i].message),
		    "for %s %s: got '%s'", cases[i].args[0],
		    cases[i].args[1] ? cases[i].args[1] : "", p.err);
		cr_assert_not_null(strstr(p.err, "echod --help"));
		/* One line. */
		cr_assert_eq(strchr(p.err, '\n'), p.err + strlen(p.err) - 1,
		    "%s", p.err);
		parsed_free(&p);
	}
}

Test(options, tls_ticket_lifetime)
{
	struct parsed	 p;

	PARSE(&p, "-p", "1");
	cr_assert_eq(p.opts.tls_ticket_lifetime, 3600);
	parsed_free(&p);
	PARSE(&p, "--tls-ticket-lifetime", "0");
	cr_assert_eq(p.result, OPTIONS_RUN);
	cr_assert_eq(p.opts.tls_ticket_lifetime, 0);
	parsed_free(&p);
	PARSE(&p, "--tls-ticket-lifetime=604800");
	cr_assert_eq(p.result, OPTIONS_RUN);
	cr_assert_eq(p.opts.tls_ticket_lifetime, 604800);
	parsed_free(&p);
}

Test(options, parse_number_ranges)
{
	uint64_t	 v;

	cr_assert_eq(parse_number("0", 0, 10, false, &v), 0);
	cr_assert_eq(v, 0);
	cr_assert_eq(parse_number("10", 0, 10, false, &v), 0);
	cr_assert_eq(parse_number("11", 0, 10, false, &v), -1);
	cr_assert_eq(parse_number("18446744073709551615", 0, UINT64_MAX, false,
	    &v), 0);
	cr_assert_eq(v, UINT64_MAX);
	cr_assert_eq(parse_number("18446744073709551616", 0, UINT64_MAX, false,
	    &v), -1);
	cr_assert_eq(parse_number("16G", 0, UINT64_MAX, true, &v), 0);
	cr_assert_eq(v, 16ULL << 30);
	cr_assert_eq(parse_number("17179869184G", 0, UINT64_MAX, true, &v),
	    -1);
	cr_assert_eq(parse_number("+1", 0, 10, false, &v), -1);
	cr_assert_eq(parse_number("1k", 0, 10000, false, &v), -1);
	cr_assert_eq(parse_number("1kk", 0, 10000, true, &v), -1);
}

Test(options, unix_mode_is_octal_and_bounded)
{
	struct parsed	 p;

	parse(&p, (const char *const[]){ NULL });
	cr_assert_eq(p.opts.unix_mode, 0666);
	parsed_free(&p);
	PARSE(&p, "--unix-mode", "0600");
	cr_assert_eq(p.result, OPTIONS_RUN);
	cr_assert_eq(p.opts.unix_mode, 0600);
	parsed_free(&p);
	PARSE(&p, "--unix-mode", "640");
	cr_assert_eq(p.opts.unix_mode, 0640);
	parsed_free(&p);
	PARSE(&p, "--unix-mode", "0888");
	cr_assert_eq(p.result, OPTIONS_EXIT_USAGE);
	cr_assert_str_eq(p.err, "echod: invalid --unix-mode '0888': must be "
	    "an octal mode from 0 to 0777 (see echod --help)\n");
	parsed_free(&p);
	PARSE(&p, "--unix-mode", "1777");
	cr_assert_eq(p.result, OPTIONS_EXIT_USAGE);
	parsed_free(&p);
	PARSE(&p, "--unix-mode", "");
	cr_assert_eq(p.result, OPTIONS_EXIT_USAGE);
	parsed_free(&p);
}

Test(options, unix_listen_path_is_checked)
{
	struct parsed	 p;
	char		 longpath[200];

	PARSE(&p, "-l", "unix:");
	cr_assert_eq(p.result, OPTIONS_EXIT_USAGE);
	cr_assert_str_eq(p.err, "echod: invalid --listen 'unix:': empty "
	    "socket path (see echod --help)\n");
	parsed_free(&p);
	memset(longpath, 'a', sizeof(longpath));
	memcpy(longpath, "unix:/", 6);
	longpath[sizeof(longpath) - 1] = '\0';
	PARSE(&p, "-l", longpath);
	cr_assert_eq(p.result, OPTIONS_EXIT_USAGE);
	cr_assert(strstr(p.err, "socket path longer than 107 bytes") != NULL,
	    "%s", p.err);
	parsed_free(&p);
}

Test(options, udp_is_off_unless_asked)
{
	struct parsed	 p;

	parse(&p, (const char *const[]){ NULL });
	cr_assert_not(p.opts.udp);
	parsed_free(&p);
	PARSE(&p, "-U");
	cr_assert(p.opts.udp);
	parsed_free(&p);
	PARSE(&p, "--udp");
	cr_assert(p.opts.udp);
	parsed_free(&p);
}

Test(options, metrics_needs_a_tcp_address)
{
	struct parsed	 p;

	parse(&p, (const char *const[]){ NULL });
	cr_assert_eq(p.opts.metrics.count, 0);
	parsed_free(&p);
	PARSE(&p, "--metrics", "127.0.0.1:9100");
	cr_assert_eq(p.result, OPTIONS_RUN);
	cr_assert_eq(p.opts.metrics.count, 1);
	parsed_free(&p);
	PARSE(&p, "--metrics", "unix:/tmp/m");
	cr_assert_eq(p.result, OPTIONS_EXIT_USAGE);
	cr_assert_str_eq(p.err, "echod: invalid --metrics 'unix:/tmp/m': a "
	    "TCP address is needed (see echod --help)\n");
	parsed_free(&p);
	PARSE(&p, "--metrics", "127.0.0.1:99999");
	cr_assert_eq(p.result, OPTIONS_EXIT_USAGE);
	parsed_free(&p);
}

Test(options, tls_listener_needs_certificate_and_key)
{
	struct parsed	 p;

	PARSE(&p, "-l", "tls:127.0.0.1:443");
	cr_assert_eq(p.result, OPTIONS_EXIT_USAGE);
	cr_assert_str_eq(p.err, "echod: a tls: listener needs --tls-cert and "
	    "--tls-key (see echod --help)\n");
	parsed_free(&p);
	PARSE(&p, "--tls-cert", "c.pem", "-l", "tls:443");
	cr_assert_eq(p.result, OPTIONS_EXIT_USAGE);
	cr_assert_str_eq(p.err, "echod: --tls-cert given without --tls-key "
	    "(see echod --help)\n");
	parsed_free(&p);
	PARSE(&p, "--tls-key", "k.pem");
	cr_assert_eq(p.result, OPTIONS_EXIT_USAGE);
	cr_assert_str_eq(p.err, "echod: --tls-key given without --tls-cert "
	    "(see echod --help)\n");
	parsed_free(&p);
	PARSE(&p, "--tls-cert", "c.pem", "--tls-key", "k.pem", "-l",
	    "tls:127.0.0.1:443", "-l", "127.0.0.1:7");
	cr_assert_eq(p.result, OPTIONS_RUN, "%s", p.err);
	cr_assert(p.opts.listen.addrs[0].tls);
	cr_assert_not(p.opts.listen.addrs[1].tls);
	cr_assert_str_eq(p.opts.tls_cert, "c.pem");
	cr_assert_str_eq(p.opts.tls_key, "k.pem");
	parsed_free(&p);
}
