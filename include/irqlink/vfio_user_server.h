/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user server: one device, served to one client at a time over an
 * AF_UNIX stream socket, so that the device runs in its own process while
 * its interrupt eventfds still land straight in the client's KVM.
 *
 * Theory of operation
 * -------------------
 * The device is reached through the same VFIO-shaped ops the PCI glue uses
 * (struct irqlink_pci_ops, <irqlink/pci.h>): region info, region read and
 * write, GET_IRQ_INFO and SET_IRQS with eventfds. A device that can be
 * attached in-process can therefore be served unchanged. The eventfds a
 * client sends with SET_IRQS are passed to ops->set_irqs as received
 * (borrowed for the call, closed by the server after it), so the device's
 * interrupt model signals the very eventfds the client gave KVM.
 *
 * ACTION_UNMASK with DATA_EVENTFD keeps the kernel's meaning: the device
 * watches the eventfd and unmasks when it is signalled (the resamplefd of
 * the client's level irqfd). The protocol text says the opposite (the server
 * signals it on unmask); QEMU's client relies on the kernel's meaning, and so
 * do we (docs/SEMANTICS.md).
 *
 * Mappable memory. For a region the device lets be mapped
 * (ops.get_region_mmap), DEVICE_GET_REGION_INFO answers with the MMAP and
 * CAPS flags, the region's offset in the device's fd, the sparse mmap
 * capability listing the areas that may be mapped, and the fd itself; a
 * client whose argsz is too small for that gets the size it needs, and no
 * capability or fd, as the kernel answers. REGION_READ/WRITE still reach
 * all of the region through the device's ops.
 *
 * Connections. The server listens on a socket it creates with mode 0600
 * (the path must not exist). One client is served at a time; a second one
 * is accepted only to be told so (an error reply with EBUSY, at once) and
 * closed. With IRQLINK_VFU_REQUIRE_UID, a client
 * whose SO_PEERCRED uid differs is closed before it is read. VERSION must
 * come first: any other command before it gets EINVAL. When the client goes
 * away the server disables every interrupt index the device has (closing
 * every eventfd the device held for the client), unmaps every DMA range,
 * resets the device if it can, and waits for the next client.
 *
 * Never trusting the client: messages are framed from any split of the byte
 * stream; every size, offset, count, region and fd count is checked before
 * use; a malformed message gets an error reply with a kernel-style errno and
 * the connection and device state stay as they were. Only a header whose
 * size cannot be framed (below 16 bytes, or beyond the negotiated maximum)
 * ends the connection, since the stream cannot be resynchronized after it.
 * Fds that come with a message that takes none, or more than max_msg_fds,
 * are closed and the message refused with EINVAL.
 *
 * Event loop. irqlink_vfu_server_fd() is an epoll fd that is readable when
 * there is work; irqlink_vfu_server_process() does all of it without
 * blocking. irqlink_vfu_server_run() is the blocking loop around the two.
 * One thread drives a server (the loop thread); the DMA calls may come
 * from any thread.
 *
 * DMA. A range the client mapped with an fd is mapped here and the device
 * reads and writes it in place. A range without one is reached by asking
 * the client (DMA_READ / DMA_WRITE requests, at most the client's
 * max_data_xfer_size each) and waiting for its reply. From the loop
 * thread (a device op doing DMA) the wait reads the socket itself: the
 * client's commands that arrive meanwhile are kept and handled, in order,
 * after the op returns. From any other thread the loop must be running,
 * since it is the loop that receives the reply; the loop's own thread
 * outside process() (a device raising between two calls) gets -EDEADLK at
 * once: run such a device on a thread of its own.
 */
#ifndef IRQLINK_VFIO_USER_SERVER_H
#define IRQLINK_VFIO_USER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <irqlink/pci.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Config flags. */
/* Serve only a client whose SO_PEERCRED uid is @peer_uid. */
#define IRQLINK_VFU_REQUIRE_UID (1u << 0)

/*
 * struct irqlink_vfu_server_config - what irqlink_vfu_server_create() serves.
 * @path:       the socket path; must not exist, its directory writable.
 * @ops:        the device (required: get_region_info, region_read,
 *              region_write, get_irq_info, set_irqs).
 * @opaque:     passed to every op; kept alive by the caller until destroy.
 * @reset:      optional DEVICE_RESET (also run when a client goes away);
 *              without it DEVICE_GET_INFO does not report RESET and
 *              DEVICE_RESET fails with EINVAL, as vfio does.
 * @num_regions: regions reported (0 = VFIO_PCI_NUM_REGIONS).
 * @num_irqs:   interrupt indexes reported (0 = VFIO_PCI_NUM_IRQS).
 * @max_msg_fds: fds one message may carry to us (0 = 16, the most QEMU's
 *              client accepts; at most 253).
 * @max_data_xfer_size: largest REGION_READ/WRITE count (0 = 1 MiB).
 * @max_dma_maps: DMA_MAP ranges a client may have at once (0 = 65535, the
 *              protocol's default).
 * @flags:      IRQLINK_VFU_*.
 * @peer_uid:   with IRQLINK_VFU_REQUIRE_UID, the only uid served.
 * @dma_timeout_ms: how long a DMA_READ/DMA_WRITE request to the client
 *              waits for its reply (0 = 5000).
 */
struct irqlink_vfu_server_config {
	const char *path;
	const struct irqlink_pci_ops *ops;
	void *opaque;
	int (*reset)(void *opaque);
	uint32_t num_regions;
	uint32_t num_irqs;
	uint32_t max_msg_fds;
	uint32_t max_data_xfer_size;
	uint32_t max_dma_maps;
	uint32_t flags;
	uid_t peer_uid;
	unsigned int dma_timeout_ms;
};

struct irqlink_vfu_server;

/*
 * irqlink_vfu_server_create - create the socket at cfg->path and listen.
 * Returns 0 and *@out; -EINVAL for a bad config (NULL path, ops or required
 * op, unknown flags, max_msg_fds above 253, a path too long for sun_path);
 * -EEXIST if the path exists; the -errno of socket(), bind() or listen()
 * (-EACCES for a directory that is not writable, -ENOENT for a missing
 * one); -ENOMEM. Nothing is left behind on failure.
 */
int irqlink_vfu_server_create(const struct irqlink_vfu_server_config *cfg,
			      struct irqlink_vfu_server **out);

/*
 * irqlink_vfu_server_destroy - drop the client as a disconnect would
 * (interrupts disabled, device reset), close the socket and unlink its
 * path. NULL is a no-op.
 */
void irqlink_vfu_server_destroy(struct irqlink_vfu_server *s);

/* The epoll fd to poll for readability; owned by the server. */
int irqlink_vfu_server_fd(struct irqlink_vfu_server *s);

/*
 * irqlink_vfu_server_process - accept, read and answer whatever is ready,
 * without blocking. A client's misbehaviour is never an error here (it is
 * answered or disconnected and counted). Returns 0, or the -errno of a
 * failure of the server itself (epoll_wait(), accept()). An accept() that
 * finds the process out of fds (EMFILE, ENFILE) is not an error: the
 * connection stays in the backlog, the server stops watching the listening
 * socket for 100 ms (so a loop does not spin on it) and then tries again;
 * stats.accept_backoffs counts it.
 */
int irqlink_vfu_server_process(struct irqlink_vfu_server *s);

/*
 * irqlink_vfu_server_run - process until @stop_fd (any pollable fd, e.g.
 * an eventfd; borrowed) is readable. Returns 0 when stopped, or the error
 * of irqlink_vfu_server_process() or poll().
 */
int irqlink_vfu_server_run(struct irqlink_vfu_server *s, int stop_fd);

/* True while a client is connected (VERSION done or not). */
bool irqlink_vfu_server_connected(struct irqlink_vfu_server *s);

/*
 * irqlink_vfu_server_dma_read / irqlink_vfu_server_dma_write - the device
 * reads or writes guest memory at @iova, through the client's DMA_MAP
 * ranges: in place for one that came with an fd (mapped into this process
 * at DMA_MAP, no message), by DMA_READ / DMA_WRITE requests to the client
 * for one without (see "DMA" above). Any thread may call them; once
 * DMA_UNMAP is answered no access to an fd-backed range touches it. An
 * access may span adjacent ranges of one kind; it is checked whole before
 * any byte moves. Returns 0; -EFAULT if a byte lies outside every range or
 * in one that does not grant the access (DMA_MAP's READ flag lets the
 * device read, WRITE lets it write), or if the access spans an fd-backed
 * and a message range; for a message range, the client's error reply as
 * -errno (-EIO for an error reply without an errno), -EPROTO for a reply
 * that does not match the request, -ETIMEDOUT after dma_timeout_ms,
 * -ENOTCONN if no client is connected or it went away meanwhile, -EBUSY
 * when 16 requests are already in flight or, on the loop thread, 64
 * commands are waiting behind it; -EDEADLK from the loop's thread
 * outside process(); -EINVAL for NULL arguments.
 */
int irqlink_vfu_server_dma_read(struct irqlink_vfu_server *s, uint64_t iova,
				void *buf, size_t len);
int irqlink_vfu_server_dma_write(struct irqlink_vfu_server *s, uint64_t iova,
				 const void *buf, size_t len);

/*
 * struct irqlink_vfu_server_stats - what the server saw, since create.
 * @clients:      connections served.
 * @refused:      connections closed unserved (busy, wrong uid).
 * @disconnects:  served clients that went away (or were dropped).
 * @requests:     requests handled (answered with a reply or an error).
 * @errors:       error replies sent.
 * @framing:      connections dropped for a header that cannot be framed.
 * @dma_requests: DMA_READ/DMA_WRITE requests sent to the client.
 * @dma_failures: of those, the ones that failed (error reply, timeout,
 *                disconnect, bad reply).
 * @accept_backoffs: accepts put off because the process was out of fds.
 * @deferred:     client commands that arrived while the loop thread waited
 *                for a DMA reply, handled after it.
 */
struct irqlink_vfu_server_stats {
	uint64_t clients;
	uint64_t refused;
	uint64_t disconnects;
	uint64_t requests;
	uint64_t errors;
	uint64_t framing;
	uint64_t dma_requests;
	uint64_t dma_failures;
	uint64_t deferred;
	uint64_t accept_backoffs;
};

/* Copy the stats into *@st. 0, or -EINVAL for NULL arguments. */
int irqlink_vfu_server_get_stats(struct irqlink_vfu_server *s,
				 struct irqlink_vfu_server_stats *st);

#ifdef __cplusplus
}
#endif

#endif
