/* SPDX-License-Identifier: MIT */
/*
 * vfio-user wire messages: header checks, framing, sending, VERSION.
 *
 * Theory of operation: the receiver keeps one buffer of the negotiated
 * maximum message size and fills it in two steps, the header first, so
 * that the declared size is checked before any payload is copied and a
 * hostile size can never make it allocate or overrun. Fds are counted
 * against max_msg_fds as they arrive; a message with too many is still
 * framed (the byte stream stays in step) but handed out as malformed with
 * its fds closed, so the caller can answer it with an error reply and keep
 * the connection, as the spec wants of a server.
 *
 * il_vfu_rx_recv() reads into that same buffer, past the header and up
 * to IL_VFU_RX_AHEAD bytes, so that a message usually costs one recvmsg()
 * whatever its size up to that; bytes beyond the message's end (the next
 * ones, sent behind it) are moved aside and fed to the next message from
 * there. A header read that way is checked before anything beyond it is
 * trusted, as with feeding.
 *
 * The VERSION JSON goes through json-c both ways, so quoting, escapes and
 * number formats are json-c's and never our own string handling.
 */
#include "vfio_user_msg.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <json-c/json.h>

#define IL_VFU_VERSION_FIXED 4  /* major u16, minor u16 */

int il_vfu_hdr_check(const struct il_vfu_hdr *h, size_t max_msg_size)
{
	uint32_t type = h->flags & IL_VFU_F_TYPE_MASK;

	if (h->size < IL_VFU_HDR_SIZE)
		return -EINVAL;
	if (h->size > max_msg_size)
		return -EMSGSIZE;
	if (type != IL_VFU_F_TYPE_COMMAND && type != IL_VFU_F_TYPE_REPLY)
		return -EINVAL;
	return 0;
}

int il_vfu_rx_init(struct il_vfu_rx *rx, size_t max_msg_size, size_t max_fds)
{
	memset(rx, 0, sizeof(*rx));
	if (max_msg_size < IL_VFU_HDR_SIZE || max_msg_size > UINT32_MAX ||
	    max_fds > IL_VFU_MAX_FDS)
		return -EINVAL;
	rx->buf = malloc(max_msg_size);
	/* calloc(0) may return NULL: one slot keeps the NULL check a check. */
	rx->fds = calloc(max_fds ? max_fds : 1, sizeof(*rx->fds));
	rx->ahead = malloc(IL_VFU_RX_AHEAD);
	if (!rx->buf || !rx->fds || !rx->ahead) {
		free(rx->buf);
		free(rx->fds);
		free(rx->ahead);
		memset(rx, 0, sizeof(*rx));
		return -ENOMEM;
	}
	rx->max_msg_size = max_msg_size;
	rx->max_fds = max_fds;
	return 0;
}

static void close_fds(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

static void rx_close_fds(struct il_vfu_rx *rx)
{
	close_fds(rx->fds, rx->nfds);
	rx->nfds = 0;
}

static void rx_drop_ahead(struct il_vfu_rx *rx)
{
	close_fds(rx->ahead_fds, rx->ahead_nfds);
	rx->ahead_nfds = 0;
	rx->ahead_off = rx->ahead_len = 0;
	rx->sock_more = false;
}

/* Start on the next message; the fds already handed out or closed. */
static void rx_next(struct il_vfu_rx *rx)
{
	rx->have = 0;
	rx->nfds = 0;
	rx->ready = false;
	rx->fds_overflow = false;
}

void il_vfu_rx_reset(struct il_vfu_rx *rx)
{
	rx_close_fds(rx);
	rx_drop_ahead(rx);
	rx_next(rx);
	rx->err = 0;
}

void il_vfu_rx_fini(struct il_vfu_rx *rx)
{
	rx_close_fds(rx);
	rx_drop_ahead(rx);
	free(rx->buf);
	free(rx->fds);
	free(rx->ahead);
	memset(rx, 0, sizeof(*rx));
}

static uint32_t rx_hdr_size(const struct il_vfu_rx *rx)
{
	struct il_vfu_hdr h;

	memcpy(&h, rx->buf, sizeof(h));
	return h.size;
}

size_t il_vfu_rx_want(const struct il_vfu_rx *rx)
{
	if (rx->err || rx->ready)
		return 0;
	if (rx->have < IL_VFU_HDR_SIZE)
		return IL_VFU_HDR_SIZE - rx->have;
	return rx_hdr_size(rx) - rx->have;
}

/* @n more bytes of the stream are at buf + have. The header is checked
 * as soon as it is whole. 1 when the message is (bytes beyond its end are
 * the caller's to move; ready is the caller's to set, once the message's
 * fds are in), 0 when it needs more, or the header's error. */
static int rx_advance(struct il_vfu_rx *rx, size_t n)
{
	bool had_hdr = rx->have >= IL_VFU_HDR_SIZE;

	rx->have += n;
	if (rx->have < IL_VFU_HDR_SIZE)
		return 0;
	if (!had_hdr) {
		struct il_vfu_hdr h;

		memcpy(&h, rx->buf, sizeof(h));
		rx->err = il_vfu_hdr_check(&h, rx->max_msg_size);
		if (rx->err)
			return rx->err;
	}
	return rx->have >= rx_hdr_size(rx);
}

int il_vfu_rx_feed(struct il_vfu_rx *rx, const void *bytes, size_t n,
		   size_t *consumed)
{
	const uint8_t *p = bytes;
	int r = 0;

	*consumed = 0;
	if (rx->err)
		return rx->err;
	if (rx->ready)
		return -EBUSY;
	/* The header step first, so that its size is checked before a byte
	 * of payload is kept. */
	while (!r && *consumed < n) {
		size_t k = il_vfu_rx_want(rx);

		if (k > n - *consumed)
			k = n - *consumed;
		memcpy(rx->buf + rx->have, p + *consumed, k);
		*consumed += k;
		r = rx_advance(rx, k);
	}
	if (r == 1)
		rx->ready = true;
	return r;
}

int il_vfu_rx_add_fds(struct il_vfu_rx *rx, const int *fds, size_t n)
{
	size_t i;

	if (rx->ready) {
		for (i = 0; i < n; i++)
			close(fds[i]);
		return -EBUSY;
	}
	if (rx->fds_overflow || n > rx->max_fds - rx->nfds) {
		for (i = 0; i < n; i++)
			close(fds[i]);
		rx_close_fds(rx);
		rx->fds_overflow = true;
		return -EINVAL;
	}
	if (n)
		memcpy(rx->fds + rx->nfds, fds, n * sizeof(*fds));
	rx->nfds += n;
	return 0;
}

int il_vfu_rx_take(struct il_vfu_rx *rx, struct il_vfu_msg *msg)
{
	int r = rx->fds_overflow ? -EINVAL : 0;

	if (!rx->ready)
		return -EAGAIN;
	memcpy(&msg->hdr, rx->buf, sizeof(msg->hdr));
	msg->payload = rx->buf + IL_VFU_HDR_SIZE;
	msg->len = msg->hdr.size - IL_VFU_HDR_SIZE;
	msg->fds = rx->fds;
	msg->nfds = rx->nfds;
	rx_next(rx);
	return r;
}

int il_vfu_rx_swap_storage(struct il_vfu_rx *a, struct il_vfu_rx *b)
{
	uint8_t *buf;
	int *fds;

	if (a->have || a->nfds || a->ready || b->have || b->nfds ||
	    b->ready || a->max_msg_size != b->max_msg_size ||
	    a->max_fds != b->max_fds)
		return -EBUSY;
	buf = a->buf;
	fds = a->fds;
	a->buf = b->buf;
	a->fds = b->fds;
	b->buf = buf;
	b->fds = fds;
	return 0;
}

/* Drop @n sent bytes from the front of the iovec array. */
static void iov_advance(struct iovec **iov, int *cnt, size_t n)
{
	while (*cnt && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

static int wait_writable(int sock)
{
	struct pollfd p = { .fd = sock, .events = POLLOUT };

	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* Feed the bytes read ahead, up to the end of the current message. The
 * fds that came with them join the message holding their last byte. */
static int rx_feed_ahead(struct il_vfu_rx *rx)
{
	int r = 0;

	while (!r && rx->ahead_len) {
		size_t k = il_vfu_rx_want(rx), used;

		if (k >= rx->ahead_len) {
			k = rx->ahead_len;
			(void)il_vfu_rx_add_fds(rx, rx->ahead_fds,
						rx->ahead_nfds);
			rx->ahead_nfds = 0;
		}
		r = il_vfu_rx_feed(rx, rx->ahead + rx->ahead_off, k, &used);
		rx->ahead_off += used;
		rx->ahead_len -= used;
	}
	return r;
}

/* @n bytes were read in place at buf + have, with @nfds fds (ours). */
static int rx_commit(struct il_vfu_rx *rx, size_t n, const int *fds,
		     size_t nfds)
{
	int r = rx_advance(rx, n);
	size_t end;

	if (r < 0) {
		close_fds(fds, nfds);
		return r;
	}
	end = r ? rx_hdr_size(rx) : rx->have;
	if (rx->have > end) {
		/* The read went on into the next messages: their bytes, and
		 * the fds that came with the last of them, wait aside. */
		rx->ahead_off = 0;
		rx->ahead_len = rx->have - end;
		memcpy(rx->ahead, rx->buf + end, rx->ahead_len);
		rx->have = end;
		memcpy(rx->ahead_fds, fds, nfds * sizeof(int));
		rx->ahead_nfds = nfds;
	} else {
		(void)il_vfu_rx_add_fds(rx, fds, nfds);
	}
	if (r)
		rx->ready = true;
	return r;
}

int il_vfu_rx_recv(struct il_vfu_rx *rx, int sock, int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(IL_VFU_MAX_FDS * sizeof(int))];
	} ctl;
	int fds[IL_VFU_MAX_FDS];
	size_t want = il_vfu_rx_want(rx), nfds = 0, len;
	struct iovec iov = { .iov_base = rx->buf + rx->have };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t n;

	if (rx->err)
		return rx->err;
	if (rx->ready)
		return 1;
	if (rx->ahead_len)
		return rx_feed_ahead(rx);
	/* Past the message's end at most IL_VFU_RX_AHEAD bytes in all, so
	 * that whatever goes past it fits aside. */
	len = want > IL_VFU_RX_AHEAD ? want : IL_VFU_RX_AHEAD;
	if (len > rx->max_msg_size - rx->have)
		len = rx->max_msg_size - rx->have;
	iov.iov_len = len;
	for (;;) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
		if (n >= 0 || errno != EINTR || !(flags & MSG_DONTWAIT))
			break;
	}
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		const int *p = (const int *)CMSG_DATA(c);
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		/* The buffer holds no more than this in all, but a cmsg's
		 * length is the kernel's word, not ours. */
		for (size_t i = 0; i < k; i++) {
			if (nfds < IL_VFU_MAX_FDS)
				fds[nfds++] = p[i];
			else
				close(p[i]);
		}
	}
	/* Linux ends a read after bytes that carried fds. */
	rx->sock_more = (size_t)n == len || nfds;
	if (n == 0) {
		close_fds(fds, nfds);
		return -ECONNRESET;
	}
	return rx_commit(rx, (size_t)n, fds, nfds);
}

bool il_vfu_rx_held(const struct il_vfu_rx *rx)
{
	return rx->ready || rx->ahead_len;
}

bool il_vfu_rx_more(const struct il_vfu_rx *rx)
{
	return il_vfu_rx_held(rx) || rx->sock_more;
}

int il_vfu_send(int sock, const struct il_vfu_hdr *hdr, const void *payload,
		size_t len, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(IL_VFU_MAX_FDS * sizeof(int))];
	} ctl;
	struct il_vfu_hdr h = *hdr;
	struct iovec vec[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	struct iovec *iov = vec;
	int cnt = len ? 2 : 1;
	struct msghdr m = { 0 };
	ssize_t n;
	int r;

	if (nfds > IL_VFU_MAX_FDS)
		return -EINVAL;
	if (len > UINT32_MAX - IL_VFU_HDR_SIZE)
		return -EMSGSIZE;
	h.size = (uint32_t)(IL_VFU_HDR_SIZE + len);
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
	while (cnt) {
		m.msg_iov = iov;
		m.msg_iovlen = cnt;
		n = sendmsg(sock, &m, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				r = wait_writable(sock);
				if (r)
					return r;
				continue;
			}
			return -errno;
		}
		/* The fds went with the bytes just sent; never again. */
		m.msg_control = NULL;
		m.msg_controllen = 0;
		iov_advance(&iov, &cnt, (size_t)n);
	}
	return 0;
}

/* A known numeric capability under @key, if present: a non-negative
 * integer no larger than @max goes to *@val and sets *@has. */
static int caps_number(struct json_object *obj, const char *key, uint64_t max,
		       uint64_t *val, bool *has)
{
	struct json_object *v;
	uint64_t x;

	if (!json_object_object_get_ex(obj, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0)
		return -EINVAL;
	x = json_object_get_uint64(v);
	if (x > max)
		return -EINVAL;
	*val = x;
	*has = true;
	return 0;
}

static int caps_parse(struct json_object *obj, struct il_vfu_caps *caps)
{
	uint64_t fds = caps->max_msg_fds, maps = caps->max_dma_maps;
	struct json_object *v;
	int r;

	r = caps_number(obj, "max_msg_fds", UINT32_MAX, &fds,
			&caps->has_max_msg_fds);
	if (!r)
		r = caps_number(obj, "max_data_xfer_size", UINT64_MAX,
				&caps->max_data_xfer_size,
				&caps->has_max_data_xfer_size);
	if (!r)
		r = caps_number(obj, "max_dma_maps", UINT32_MAX, &maps,
				&caps->has_max_dma_maps);
	if (!r)
		r = caps_number(obj, "pgsizes", UINT64_MAX, &caps->pgsizes,
				&caps->has_pgsizes);
	if (r)
		return r;
	caps->max_msg_fds = (uint32_t)fds;
	caps->max_dma_maps = (uint32_t)maps;
	if (json_object_object_get_ex(obj, "write_multiple", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			return -EINVAL;
		caps->write_multiple = json_object_get_boolean(v);
		caps->has_write_multiple = true;
	}
	return 0;
}

/* Parse @len bytes of JSON text (no NUL among them) that must be one
 * object, with nothing after it but white space. */
static int json_parse_object(const char *text, size_t len,
			     struct json_object **out)
{
	struct json_tokener *tok;
	struct json_object *obj;
	const char *end;
	int r = 0;

	if (len > INT_MAX)
		return -EINVAL;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	obj = json_tokener_parse_ex(tok, text, (int)len);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(obj, json_type_object)) {
		r = -EINVAL;
	} else {
		end = text + json_tokener_get_parse_end(tok);
		while (end < text + len && isspace((unsigned char)*end))
			end++;
		if (end != text + len)
			r = -EINVAL;
	}
	json_tokener_free(tok);
	if (r) {
		json_object_put(obj);
		return r;
	}
	*out = obj;
	return 0;
}

int il_vfu_version_parse(const void *payload, size_t len, uint16_t *major,
			 uint16_t *minor, struct il_vfu_caps *caps)
{
	const char *text = (const char *)payload + IL_VFU_VERSION_FIXED;
	struct il_vfu_caps c = {
		.max_msg_fds = IL_VFU_DEFAULT_MAX_MSG_FDS,
		.max_data_xfer_size = IL_VFU_DEFAULT_MAX_DATA_XFER_SIZE,
		.max_dma_maps = IL_VFU_DEFAULT_MAX_DMA_MAPS,
		.pgsizes = IL_VFU_DEFAULT_PGSIZES,
	};
	struct json_object *root, *cobj;
	size_t tlen;
	int r = 0;

	if (len < IL_VFU_VERSION_FIXED)
		return -EINVAL;
	if (len > IL_VFU_VERSION_FIXED) {
		tlen = len - IL_VFU_VERSION_FIXED - 1;
		if (text[tlen] != '\0' || memchr(text, '\0', tlen))
			return -EINVAL;
		r = json_parse_object(text, tlen, &root);
		if (r)
			return r;
		if (json_object_object_get_ex(root, "capabilities", &cobj))
			r = json_object_is_type(cobj, json_type_object) ?
				caps_parse(cobj, &c) : -EINVAL;
		json_object_put(root);
		if (r)
			return r;
	}
	memcpy(major, payload, sizeof(*major));
	memcpy(minor, (const uint8_t *)payload + sizeof(*major),
	       sizeof(*minor));
	*caps = c;
	return 0;
}

/* Add @v (NULL when its allocation failed) under @key. A failed add leaves
 * @v with us, so it is released here and @v is gone either way. */
static int caps_add(struct json_object *obj, const char *key,
		    struct json_object *v)
{
	if (!v)
		return -ENOMEM;
	if (json_object_object_add(obj, key, v)) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static int caps_build(struct json_object *obj, const struct il_vfu_caps *c)
{
	const struct {
		const char *key;
		bool has;
		uint64_t val;
	} num[] = {
		{ "max_msg_fds", c->has_max_msg_fds, c->max_msg_fds },
		{ "max_data_xfer_size", c->has_max_data_xfer_size,
		  c->max_data_xfer_size },
		{ "max_dma_maps", c->has_max_dma_maps, c->max_dma_maps },
		{ "pgsizes", c->has_pgsizes, c->pgsizes },
	};
	size_t i;
	int r = 0;

	for (i = 0; i < sizeof(num) / sizeof(num[0]) && !r; i++)
		if (num[i].has)
			r = caps_add(obj, num[i].key,
				     json_object_new_uint64(num[i].val));
	if (!r && c->has_write_multiple)
		r = caps_add(obj, "write_multiple",
			     json_object_new_boolean(c->write_multiple));
	return r;
}

int il_vfu_version_build(void *buf, size_t cap, uint16_t major, uint16_t minor,
			 const struct il_vfu_caps *caps)
{
	struct json_object *root = json_object_new_object();
	struct json_object *cobj = json_object_new_object();
	const char *text;
	size_t need;
	int r;

	if (!root || !cobj) {
		json_object_put(root);
		json_object_put(cobj);
		return -ENOMEM;
	}
	r = caps_build(cobj, caps);
	if (r) {
		json_object_put(cobj);
		json_object_put(root);
		return r;
	}
	r = caps_add(root, "capabilities", cobj);
	if (r)
		goto out;
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	need = IL_VFU_VERSION_FIXED + strlen(text) + 1;
	if (need > cap || need > INT_MAX) {
		r = -ENOSPC;
		goto out;
	}
	memcpy(buf, &major, sizeof(major));
	memcpy((uint8_t *)buf + sizeof(major), &minor, sizeof(minor));
	memcpy((uint8_t *)buf + IL_VFU_VERSION_FIXED, text,
	       need - IL_VFU_VERSION_FIXED);
	r = (int)need;
out:
	json_object_put(root);
	return r;
}
