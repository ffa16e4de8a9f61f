/* SPDX-License-Identifier: MIT */
/*
 * vfio-user's wire messages: the 16-byte header, framing a byte stream
 * into messages with the fds that came with them, sending a message with
 * its fds, and the VERSION payload (two u16 and a JSON object).
 *
 * Theory of operation
 * -------------------
 * vfio-user runs over an AF_UNIX stream socket, so the kernel keeps no
 * message boundaries: a read may return part of a message or several, and
 * a write may take part of one. The receiver (struct il_vfu_rx) is fed
 * whatever the caller's reads returned and says when one whole message is
 * held; it never reads the socket itself, so it works from any event loop.
 * Everything the peer sends is checked before it is trusted: the header's
 * size against the negotiated maximum before a byte of payload is kept,
 * the number of fds against the negotiated max_msg_fds.
 *
 * File descriptors
 * ----------------
 * SCM_RIGHTS fds belong to the bytes of the sendmsg() that carried them.
 * il_vfu_send() sends a message's fds with its first bytes, and Linux never
 * returns the fds of one sendmsg() together with bytes that follow them in
 * a later one, so a receiver that never reads past the end of the message
 * it is assembling (il_vfu_rx_want() says how far that is) gets every fd
 * with the message it belongs to. il_vfu_rx_recv() does read past it, to
 * take a whole message (and whatever follows it) in one recvmsg(): Linux
 * also ends a read with the bytes that carried fds, so the fds of one read
 * belong to the message holding its last byte, and they wait with the
 * bytes read ahead until that message is assembled. Fds the receiver is
 * given are its own until il_vfu_rx_take() hands them on, and it closes
 * any it still holds on reset.
 *
 * Not thread-safe: one receiver per socket direction, used by one thread.
 * All integers are host-endian, as the protocol says.
 */
#ifndef IRQLINK_SRC_VFIO_USER_MSG_H
#define IRQLINK_SRC_VFIO_USER_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct il_vfu_hdr {
	uint16_t id;            /* the sender's; a reply echoes it */
	uint16_t cmd;           /* enum il_vfu_cmd */
	uint32_t size;          /* the whole message, header included */
	uint32_t flags;         /* IL_VFU_F_* */
	uint32_t error;         /* an errno, in a reply with IL_VFU_F_ERROR */
};

#define IL_VFU_HDR_SIZE 16
_Static_assert(sizeof(struct il_vfu_hdr) == IL_VFU_HDR_SIZE,
	       "the vfio-user header is 16 bytes on the wire");

enum il_vfu_cmd {
	IL_VFU_CMD_VERSION = 1,
	IL_VFU_CMD_DMA_MAP = 2,
	IL_VFU_CMD_DMA_UNMAP = 3,
	IL_VFU_CMD_DEVICE_GET_INFO = 4,
	IL_VFU_CMD_DEVICE_GET_REGION_INFO = 5,
	IL_VFU_CMD_DEVICE_GET_REGION_IO_FDS = 6,
	IL_VFU_CMD_DEVICE_GET_IRQ_INFO = 7,
	IL_VFU_CMD_DEVICE_SET_IRQS = 8,
	IL_VFU_CMD_REGION_READ = 9,
	IL_VFU_CMD_REGION_WRITE = 10,
	IL_VFU_CMD_DMA_READ = 11,
	IL_VFU_CMD_DMA_WRITE = 12,
	IL_VFU_CMD_DEVICE_RESET = 13,
	IL_VFU_CMD_REGION_WRITE_MULTI = 15,
	IL_VFU_CMD_DEVICE_FEATURE = 16,
	IL_VFU_CMD_MIG_DATA_READ = 17,
	IL_VFU_CMD_MIG_DATA_WRITE = 18,
};

#define IL_VFU_F_TYPE_MASK      0xfu    /* bits 0-3: the message type */
#define IL_VFU_F_TYPE_COMMAND   0x0u
#define IL_VFU_F_TYPE_REPLY     0x1u
#define IL_VFU_F_NO_REPLY       0x10u
#define IL_VFU_F_ERROR          0x20u

/* The most fds one sendmsg() may carry on Linux (SCM_MAX_FD). */
#define IL_VFU_MAX_FDS 253

/* Check a received header: 0 if it may be framed and dispatched; -EINVAL
 * if its size is below the header's own 16 bytes or its type is neither
 * command nor reply; -EMSGSIZE if its size is beyond @max_msg_size. Whether
 * a reply was expected, the command is known, or an error reply's error is
 * non-zero (0 is allowed) is the caller's to judge. */
int il_vfu_hdr_check(const struct il_vfu_hdr *h, size_t max_msg_size);

/* How far il_vfu_rx_recv() reads past the message it assembles: room for
 * a burst of small messages, or a 4 KiB access with its header, in one
 * recvmsg(). A longer remainder is read in place, exactly. */
#define IL_VFU_RX_AHEAD (64u << 10)

/* The receiver. Fields are private; a zeroed struct is not initialized. */
struct il_vfu_rx {
	uint8_t *buf;           /* max_msg_size bytes: header, then payload */
	size_t max_msg_size;
	size_t have;            /* bytes of the current message in buf */
	int *fds;               /* max_fds slots, nfds of them owned */
	size_t max_fds;
	size_t nfds;
	bool ready;             /* buf holds one whole message */
	bool fds_overflow;      /* the message came with too many fds */
	int err;                /* a bad header: sticky until reset */
	/* The stream's, not a message's: il_vfu_rx_swap_storage() leaves
	 * them. Bytes il_vfu_rx_recv() read past the current message, and
	 * the fds that came with the last of them. */
	uint8_t *ahead;         /* IL_VFU_RX_AHEAD bytes */
	size_t ahead_off, ahead_len;
	int ahead_fds[IL_VFU_MAX_FDS];
	size_t ahead_nfds;
	bool sock_more;         /* the last recvmsg() may have left bytes */
};

/* A message handed out by il_vfu_rx_take(). @payload and the @fds array
 * live in the receiver, valid until its next feed, reset or fini; the fd
 * numbers in @fds are the caller's to close. */
struct il_vfu_msg {
	struct il_vfu_hdr hdr;
	const uint8_t *payload;
	size_t len;             /* hdr.size - IL_VFU_HDR_SIZE */
	const int *fds;
	size_t nfds;
};

/* Make a receiver for messages of at most @max_msg_size bytes (header
 * included) carrying at most @max_fds fds each (the negotiated
 * max_msg_fds, at most IL_VFU_MAX_FDS). 0, -EINVAL (@max_msg_size below
 * the header size, or beyond UINT32_MAX, or @max_fds beyond
 * IL_VFU_MAX_FDS) or -ENOMEM. */
int il_vfu_rx_init(struct il_vfu_rx *rx, size_t max_msg_size, size_t max_fds);

/* Close every fd the receiver still owns and free it. */
void il_vfu_rx_fini(struct il_vfu_rx *rx);

/* Drop the current message and the bytes read ahead, close every fd the
 * receiver still owns and clear a bad-header error: the receiver is as
 * after init, e.g. for a new connection. */
void il_vfu_rx_reset(struct il_vfu_rx *rx);

/* How many bytes the current message still needs (the rest of its header,
 * then the rest of its payload); 0 when one is ready or after a bad
 * header. Reading no more than this keeps every received fd with its
 * message (see "File descriptors"). */
size_t il_vfu_rx_want(const struct il_vfu_rx *rx);

/* Feed @n bytes read from the stream. Sets *@consumed to how many were
 * kept and returns 1 when a whole message is ready (take it before feeding
 * the bytes after *@consumed), 0 when all @n were kept and more are
 * needed. A header that il_vfu_hdr_check() refuses gives its -EINVAL or
 * -EMSGSIZE (*@consumed counts the header); framing is lost, so every
 * later feed gives the same error until il_vfu_rx_reset(). -EBUSY (nothing
 * consumed) while a ready message has not been taken. */
int il_vfu_rx_feed(struct il_vfu_rx *rx, const void *bytes, size_t n,
		   size_t *consumed);

/* Give the receiver @n fds received with the bytes about to be fed (add
 * them before feeding those bytes): they join the message being assembled
 * and the receiver owns them, whatever the result. 0; or -EINVAL when the
 * message would hold more than max_fds: every fd it held and all @n are
 * closed, and il_vfu_rx_take() reports the message as malformed; -EBUSY
 * (all @n closed) while a ready message has not been taken, since these
 * fds cannot be its own. */
int il_vfu_rx_add_fds(struct il_vfu_rx *rx, const int *fds, size_t n);

/* Hand the ready message to the caller in *@msg and start on the next:
 * the fds in msg->fds are the caller's from now. 0; -EAGAIN if no whole
 * message is held; -EINVAL if the message came with more fds than allowed
 * (*@msg is filled, with no fds, so that the caller can send an error
 * reply to its id; the fds are already closed). */
int il_vfu_rx_take(struct il_vfu_rx *rx, struct il_vfu_msg *msg);

/* Exchange the storage (message buffer and fd array) of two receivers of
 * the same sizes, both between messages (nothing held: just after init,
 * reset or take). The payload and fd array of a message taken from @a stay
 * valid in @b's storage while @a receives the next messages: how a
 * handler that waits for a reply on the same stream keeps its own request.
 * Bytes read ahead stay with the stream they came from. 0, or -EBUSY if
 * either holds part of a message or the sizes differ. */
int il_vfu_rx_swap_storage(struct il_vfu_rx *a, struct il_vfu_rx *b);

/* At most one recvmsg() on the stream socket @sock, straight into the
 * message buffer: up to IL_VFU_RX_AHEAD bytes (or exactly what the current
 * message still needs, when that is more), so that a whole message usually
 * takes one call. Bytes past the current message, and the fds of a read
 * that went past it, are kept for the next calls, which take them without
 * a recvmsg() (see "File descriptors"). @flags go to recvmsg()
 * (MSG_DONTWAIT for a non-blocking read); fds are received close-on-exec.
 * Returns 1 when a whole message is ready (il_vfu_rx_take() it), 0 when
 * more bytes are needed, -EAGAIN when nothing was there (or a blocking
 * read's SO_RCVTIMEO passed), -ECONNRESET when the peer has closed the
 * stream, the -EINVAL or -EMSGSIZE of a header the receiver refuses
 * (framing is lost: rx->err stays set), or the -errno of recvmsg(). EINTR
 * is retried with MSG_DONTWAIT; a blocking read returns it, so that a
 * caller with a deadline can check it. */
int il_vfu_rx_recv(struct il_vfu_rx *rx, int sock, int flags);

/* Whether the receiver holds a whole message or bytes read ahead, which
 * il_vfu_rx_recv() takes without a recvmsg(). The socket's readability
 * says nothing of them: whoever stops reading must take them first. */
bool il_vfu_rx_held(const struct il_vfu_rx *rx);

/* Whether il_vfu_rx_recv() may find more without @sock becoming readable
 * again: il_vfu_rx_held(), or the last recvmsg() filled its buffer or
 * stopped at fds, so the socket may hold more. False after a read that
 * found the socket empty: a caller on a level-triggered poll waits for it
 * instead of trying a read that would give -EAGAIN. */
bool il_vfu_rx_more(const struct il_vfu_rx *rx);

/* Send one message on the stream socket @sock: @hdr (its size field is
 * ignored and set to the header plus @len) followed by @len bytes of
 * @payload, with @nfds fds as SCM_RIGHTS on the first bytes. The fds are
 * borrowed. Loops over partial writes, EINTR, and EAGAIN on a non-blocking
 * socket (waiting in poll()), so a message is either sent whole or the
 * connection is unusable; never raises SIGPIPE. 0; -EINVAL (@nfds beyond
 * IL_VFU_MAX_FDS), -EMSGSIZE (the size does not fit 32 bits) or the -errno
 * of sendmsg() or poll() (-EPIPE: the peer has gone). */
int il_vfu_send(int sock, const struct il_vfu_hdr *hdr, const void *payload,
		size_t len, const int *fds, size_t nfds);

/* VERSION capabilities. After il_vfu_version_parse(), each has_* says
 * whether the peer sent that capability; the value of one it did not send
 * is the spec's default. For il_vfu_version_build(), has_* choose which are
 * sent. */
struct il_vfu_caps {
	uint32_t max_msg_fds;           /* default 1 */
	uint64_t max_data_xfer_size;    /* default 1 MiB */
	uint32_t max_dma_maps;          /* default 65535 */
	uint64_t pgsizes;               /* default 4096 */
	bool write_multiple;            /* default false */
	bool has_max_msg_fds;
	bool has_max_data_xfer_size;
	bool has_max_dma_maps;
	bool has_pgsizes;
	bool has_write_multiple;
};

#define IL_VFU_DEFAULT_MAX_MSG_FDS              1
#define IL_VFU_DEFAULT_MAX_DATA_XFER_SIZE       (1u << 20)
#define IL_VFU_DEFAULT_MAX_DMA_MAPS             65535
#define IL_VFU_DEFAULT_PGSIZES                  4096

/* Parse a VERSION payload (request or reply) of @len bytes: major and minor
 * into *@major and *@minor, capabilities into *@caps. The version data
 * after them is optional in the spec: without it every capability takes
 * its default. When present it must be one JSON object ending in a NUL at
 * the payload's last byte. Unknown members and capabilities are ignored
 * (e.g. "migration", "twin_socket"). 0; -EINVAL for a payload shorter than
 * 4 bytes, data without its NUL or with one inside, JSON that does not
 * parse or is not an object, "capabilities" that is not an object, or a
 * known capability of the wrong type (numbers must be non-negative
 * integers that fit the field, write_multiple a boolean); -ENOMEM. */
int il_vfu_version_parse(const void *payload, size_t len, uint16_t *major,
			 uint16_t *minor, struct il_vfu_caps *caps);

/* Build a VERSION payload into @buf (@cap bytes): @major, @minor and a
 * NUL-terminated JSON object with a "capabilities" object holding the
 * capabilities whose has_* is set. Returns the payload's length (NUL
 * included), -ENOSPC if it does not fit in @cap, or -ENOMEM. */
int il_vfu_version_build(void *buf, size_t cap, uint16_t major, uint16_t minor,
			 const struct il_vfu_caps *caps);


/* ---- command payloads that <linux/vfio.h> does not lay out as such ---- */

struct il_vfu_device_info {
	uint32_t argsz, flags, num_regions, num_irqs;
};

struct il_vfu_region_access {
	uint64_t offset;
	uint32_t region, count;
};

#define IL_VFU_REGION_INFO_SIZE 32u        /* struct vfio_region_info's fields */
_Static_assert(sizeof(struct il_vfu_device_info) == 16, "wire layout");
_Static_assert(sizeof(struct il_vfu_region_access) == 16, "wire layout");

struct il_vfu_dma_map {
	uint32_t argsz, flags;
	uint64_t offset, address, size;
};

struct il_vfu_dma_unmap {
	uint32_t argsz, flags;
	uint64_t address, size;
};

/* DMA_READ / DMA_WRITE (server to client) and their replies: then the
 * data, in a DMA_WRITE request and a DMA_READ reply. */
struct il_vfu_dma_rw {
	uint64_t addr, count;
};

_Static_assert(sizeof(struct il_vfu_dma_map) == 32, "wire layout");
_Static_assert(sizeof(struct il_vfu_dma_rw) == 16, "wire layout");
_Static_assert(sizeof(struct il_vfu_dma_unmap) == 24, "wire layout");

/* One sub-region of a GET_REGION_IO_FDS reply, as the protocol lays out
 * an ioeventfd. */
struct il_vfu_io_fd {
	uint64_t offset, size;
	uint32_t fd_index, type, flags, padding;
	uint64_t datamatch;
};

_Static_assert(sizeof(struct il_vfu_io_fd) == 40, "wire layout");

#define IL_VFU_IO_FD_TYPE_IOEVENTFD 0u

/* The protocol version both ends speak. */
#define IL_VFU_MAJOR 0
#define IL_VFU_MINOR 1

#endif
