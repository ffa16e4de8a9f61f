/* SPDX-License-Identifier: MIT */
/*
 * The open-file limit the bench's large parts need: every MSI-X vector
 * pins several descriptors (the eventfd and the duplicates the device
 * model, consumer, relay entry and irqfd keep), and 2048 of them pass a
 * default soft limit of 1024. Raised as irqlink-vm raises it, and said in
 * the user's terms when the hard limit is in the way.
 */
#include "bench.h"

#include <errno.h>
#include <string.h>

int bench_nofile_room(rlim_t need, const char *what, struct rlimit *old,
		      char *why, size_t len)
{
	struct rlimit cur, rl;

	if (getrlimit(RLIMIT_NOFILE, &cur))
		return bench_say(why, len, -errno, "getrlimit: %s",
				 strerror(errno));
	if (old)
		*old = cur;
	if (cur.rlim_cur >= need)
		return 0;
	if (cur.rlim_max != RLIM_INFINITY && cur.rlim_max < need)
		return bench_say(why, len, -EMFILE, "%s need about %llu file "
				 "descriptors and the hard limit is %llu "
				 "(ulimit -Hn)", what, (unsigned long long)need,
				 (unsigned long long)cur.rlim_max);
	rl = cur;
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return bench_say(why, len, -errno, "cannot raise the open file "
				 "limit to %llu: %s", (unsigned long long)need,
				 strerror(errno));
	return 0;
}
