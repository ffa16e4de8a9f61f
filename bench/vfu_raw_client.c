/* SPDX-License-Identifier: MIT */
/*
 * irqlink-bench, vfio-user: the bench's synchronous SET_IRQS client.
 *
 * The bench's own few lines of vfio-user (a 16-byte header, VERSION with
 * a json-c payload, SET_IRQS with SCM_RIGHTS), written from the protocol
 * rather than from the library's internal headers, which are not ours to
 * use.
 */
#include "vfu_internal.h"
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Exactly @len bytes, blocking. 0, -ECONNRESET or -errno. */
static int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One message: header, payload, @nfds fds with its first bytes. */
static int wire_send(struct sync_client *s, uint16_t cmd, const void *payload,
		     size_t len, const int *fds, size_t nfds, uint16_t *id)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(SYNC_MAX_FDS * sizeof(int))];
	} ctl;
	uint8_t msg[512];
	struct wire_hdr h = { .id = s->id++, .cmd = cmd,
			      .size = (uint32_t)(HDR_SIZE + len) };
	struct iovec iov = { .iov_base = msg, .iov_len = HDR_SIZE + len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (len > sizeof(msg) - HDR_SIZE || nfds > SYNC_MAX_FDS)
		return -EINVAL;
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + HDR_SIZE, payload, len);
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		m.msg_control = ctl.buf;
		m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	do
		n = sendmsg(s->sock, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	*id = h.id;
	/* The fds went with the first bytes; the rest go without. */
	return vfu_send_all(s->sock, msg + n, HDR_SIZE + len - (size_t)n,
			    false);
}

/* The reply to request @id: its payload into @buf (@cap bytes, *@len
 * set), or the server's error as -errno. A blocking read: the cheapest
 * way to wait for it, so the synchronous row is a lower bound for a client
 * that waits any other way (on another thread that reads the socket, say). */
static int wire_reply(struct sync_client *s, uint16_t id, uint16_t cmd,
		      uint8_t *buf, size_t cap, size_t *len)
{
	struct wire_hdr h;
	int r = read_full(s->sock, &h, sizeof(h));

	if (r)
		return r;
	if (h.size < HDR_SIZE || h.size - HDR_SIZE > cap ||
	    (h.flags & F_TYPE_MASK) != F_TYPE_REPLY || h.id != id ||
	    h.cmd != cmd)
		return -EPROTO;
	r = read_full(s->sock, buf, h.size - HDR_SIZE);
	if (r)
		return r;
	if (len)
		*len = h.size - HDR_SIZE;
	if (h.flags & F_ERROR)
		return h.error ? -(int)h.error : -EIO;
	return 0;
}

int vfu_wire_call(struct sync_client *s, uint16_t cmd, const void *payload,
		  size_t len, const int *fds, size_t nfds)
{
	uint8_t rep[64];
	uint16_t id;
	int r = wire_send(s, cmd, payload, len, fds, nfds, &id);

	return r ? r : wire_reply(s, id, cmd, rep, sizeof(rep), NULL);
}

/* The fds per message the server's VERSION reply grants (the spec's
 * default, 1, when it says nothing). */
static unsigned int granted_fds(const uint8_t *payload, size_t len)
{
	struct json_object *o, *caps, *v;
	unsigned int per = 1;
	int64_t n;

	if (len <= 4 || payload[len - 1] != '\0')
		return per;
	o = json_tokener_parse((const char *)payload + 4);
	if (o && json_object_object_get_ex(o, "capabilities", &caps) &&
	    json_object_object_get_ex(caps, "max_msg_fds", &v)) {
		n = json_object_get_int64(v);
		if (n > 0)
			per = n < UINT32_MAX ? (unsigned int)n : UINT32_MAX;
	}
	json_object_put(o);
	return per;
}

int vfu_sync_connect(struct sync_client *s, const char *path, char *why,
		     size_t len)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	uint8_t pay[256], rep[1024];
	struct json_object *o, *caps;
	const char *text;
	uint16_t ver[2] = { 0, 1 };
	size_t n, rlen = 0;
	uint16_t id;
	int r;

	s->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->sock < 0)
		return bench_say(why, len, -errno, "socket: %s", strerror(errno));
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(s->sock, (struct sockaddr *)&a, sizeof(a)))
		return bench_say(why, len, -errno, "the raw client cannot connect "
			   "to %s: %s", path, strerror(errno));
	o = json_object_new_object();
	caps = json_object_new_object();
	if (!o || !caps) {
		json_object_put(o);
		json_object_put(caps);
		return bench_say(why, len, -ENOMEM, "out of memory");
	}
	json_object_object_add(caps, "max_msg_fds",
			       json_object_new_int(SYNC_MAX_FDS));
	json_object_object_add(o, "capabilities", caps);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	n = strlen(text) + 1;
	if (n > sizeof(pay) - sizeof(ver)) {
		json_object_put(o);
		return bench_say(why, len, -ENOSPC, "VERSION payload too long");
	}
	memcpy(pay, ver, sizeof(ver));
	memcpy(pay + sizeof(ver), text, n);
	json_object_put(o);
	r = wire_send(s, CMD_VERSION, pay, sizeof(ver) + n, NULL, 0, &id);
	if (!r)
		r = wire_reply(s, id, CMD_VERSION, rep, sizeof(rep), &rlen);
	if (r)
		return bench_say(why, len, r, "the raw client's VERSION handshake: "
			   "%s", strerror(-r));
	s->granted = granted_fds(rep, rlen);
	s->per = s->granted < SYNC_MAX_FDS ? s->granted : SYNC_MAX_FDS;
	return 0;
}

/* QEMU's way: a range that needs several messages is enabled whole first
 * (this server, like vfio, sizes MSI-X by the enabling SET_IRQS), then one
 * chunk at a time, each reply awaited before the next chunk goes. */
int vfu_sync_set_irqs(struct sync_client *s, const struct vfio_irq_set *set,
		      const int *fds)
{
	struct vfio_irq_set part = *set;
	uint32_t i, k;
	int r;

	part.argsz = sizeof(part);
	if (set->count > s->per) {
		r = vfu_wire_call(s, CMD_SET_IRQS, &part, sizeof(part), NULL,
				  0);
		s->messages++;
		if (r)
			return r;
	}
	for (i = 0; i < set->count; i += k) {
		k = set->count - i < s->per ? set->count - i : s->per;
		part.start = set->start + i;
		part.count = k;
		r = vfu_wire_call(s, CMD_SET_IRQS, &part, sizeof(part),
				  fds + i, k);
		s->messages++;
		if (r)
			return r;
	}
	return 0;
}
