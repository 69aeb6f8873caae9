/*
 * standin.c - entry point of the local OpenRouter stand-in used by the
 * openrouter extension's tests: command line, loopback-only listening
 * address, optional TLS, starting libmicrohttpd (one thread per
 * connection), the "standin listening on PORT" line, and a clean stop on
 * SIGTERM/SIGINT.
 *
 *   openrouter-standin --port N [--host 127.0.0.1]
 *                      [--tls-cert FILE --tls-key FILE]
 *                      [--log FILE] [--fixtures DIR]
 */
#define _GNU_SOURCE
#include "standin.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <pthread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define CONNECTION_LIMIT 2000
#define THREAD_STACK (1024 * 1024)
#define CONNECTION_MEMORY (128 * 1024)

struct standin_config g_cfg;

struct options
{
	long		port;
	const char *host;
	const char *tls_cert;
	const char *tls_key;
	const char *log;
	const char *fixtures;
};

/* A loopback listening address, IPv4 or IPv6. */
struct listen_addr
{
	struct sockaddr_storage ss;
	bool		ipv6;
};

static void
usage(FILE *f)
{
	fprintf(f,
			"usage: openrouter-standin --port N [--host 127.0.0.1]\n"
			"                          [--tls-cert FILE --tls-key FILE]\n"
			"                          [--log FILE] [--fixtures DIR]\n");
}

static int
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"port", required_argument, NULL, 'p'},
		{"host", required_argument, NULL, 'H'},
		{"tls-cert", required_argument, NULL, 'c'},
		{"tls-key", required_argument, NULL, 'k'},
		{"log", required_argument, NULL, 'l'},
		{"fixtures", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int			c;
	char	   *end;

	memset(o, 0, sizeof(*o));
	o->port = -1;
	o->host = "127.0.0.1";
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
	{
		switch (c)
		{
			case 'p':
				o->port = strtol(optarg, &end, 10);
				if (*optarg == '\0' || *end != '\0' || o->port < 0 || o->port > 65535)
					o->port = -2;
				break;
			case 'H': o->host = optarg; break;
			case 'c': o->tls_cert = optarg; break;
			case 'k': o->tls_key = optarg; break;
			case 'l': o->log = optarg; break;
			case 'f': o->fixtures = optarg; break;
			case 'h': usage(stdout); exit(0);
			default: return -1;
		}
	}
	if (optind != argc || o->port < 0 || (!o->tls_cert != !o->tls_key))
		return -1;
	return 0;
}

/* Resolve host to a loopback address; anything else is refused. */
static int
loopback_address(const char *host, long port, struct listen_addr *la)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *) &la->ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &la->ss;

	memset(la, 0, sizeof(*la));
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1)
	{
		if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127)
			return -1;
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t) port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1)
	{
		if (!IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr))
			return -1;
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t) port);
		la->ipv6 = true;
		return 0;
	}
	return -1;
}

/* Enough descriptors for CONNECTION_LIMIT connections. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static struct MHD_Daemon *
start_daemon(const struct listen_addr *la, const char *cert, const char *key)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ERROR_LOG;

	if (la->ipv6)
		flags |= MHD_USE_IPv6;
	if (cert)
		flags |= MHD_USE_TLS;
	return MHD_start_daemon(flags, 0, NULL, NULL, standin_access, NULL,
							MHD_OPTION_SOCK_ADDR, (const struct sockaddr *) &la->ss,
							MHD_OPTION_CONNECTION_LIMIT, (unsigned int) CONNECTION_LIMIT,
							MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int) 1024,
							MHD_OPTION_THREAD_STACK_SIZE, (size_t) THREAD_STACK,
							MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) CONNECTION_MEMORY,
							MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 0,
							MHD_OPTION_NOTIFY_COMPLETED, standin_request_completed, NULL,
							MHD_OPTION_NOTIFY_CONNECTION, standin_connection_notify, NULL,
							/* without TLS the list ends here */
							cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
							MHD_OPTION_HTTPS_MEM_KEY, key,
							MHD_OPTION_END);
}

static unsigned int
bound_port(struct MHD_Daemon *d, long requested)
{
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);

	return info ? info->port : (unsigned int) requested;
}

/* Block until SIGTERM or SIGINT (masked in every thread). */
static void
wait_for_stop_signal(const sigset_t *set)
{
	int			sig;

	while (sigwait(set, &sig) != 0)
		;
}

static int
load_tls(const struct options *o, char **cert, char **key)
{
	*cert = *key = NULL;
	if (o->tls_cert == NULL)
		return 0;
	if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
	{
		fprintf(stderr, "standin: libmicrohttpd was built without TLS\n");
		return -1;
	}
	*cert = read_file(o->tls_cert, NULL);
	*key = read_file(o->tls_key, NULL);
	if (*cert == NULL || *key == NULL)
	{
		fprintf(stderr, "standin: cannot read --tls-cert/--tls-key\n");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct options o;
	struct listen_addr la;
	struct MHD_Daemon *daemon;
	char	   *cert = NULL,
			   *key = NULL;
	sigset_t	set;
	int			rc = 1;

	if (parse_options(argc, argv, &o) != 0)
	{
		usage(stderr);
		return 2;
	}
	if (loopback_address(o.host, o.port, &la) != 0)
	{
		fprintf(stderr, "standin: --host must be a loopback address, not %s\n", o.host);
		return 2;
	}
	g_cfg.fixtures_dir = o.fixtures;
	if (load_tls(&o, &cert, &key) != 0 || (o.log && log_open(o.log) != 0))
		goto out;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	raise_fd_limit();
	counters_init();

	daemon = start_daemon(&la, cert, key);
	if (daemon == NULL)
	{
		fprintf(stderr, "standin: cannot listen on %s port %ld\n", o.host, o.port);
		goto out;
	}
	printf("standin listening on %u\n", bound_port(daemon, o.port));
	fflush(stdout);

	wait_for_stop_signal(&set);
	g_cfg.stopping = 1;
	MHD_stop_daemon(daemon);
	counters_destroy();
	rc = 0;
out:
	log_close();
	free(cert);
	free(key);
	return rc;
}
