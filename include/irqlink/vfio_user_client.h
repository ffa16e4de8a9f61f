/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user client: a device served by another process
 * (<irqlink/vfio_user_server.h>, or any vfio-user server) reached through
 * the same device ops the PCI glue uses for an in-process device.
 *
 * Theory of operation
 * -------------------
 * irqlink_vfu_client_ops is a struct irqlink_pci_ops whose opaque pointer
 * is the client: give both to irqlink_pci_create() and the glue drives the
 * remote device exactly as it drives testdev, one message per op. The
 * glue never learns the difference, which is what keeps one interrupt
 * path for both.
 *
 * Interrupts. SET_IRQS sends the very eventfds the glue gave its
 * consumers, so the server's device model signals eventfds that KVM's
 * irqfds read: no process sits between the device and the guest. The
 * device model that would register those eventfds as bypass producers
 * lives in the other process, so the client registers a proxy producer
 * for each trigger eventfd it sends successfully (and unregisters it when
 * the vector is de-assigned or its index disabled); the glue's consumers
 * pair with the proxies through the bypass manager and go in-kernel on
 * their own. A proxy has no stop/start: the remote device cannot be paused
 * from a callback, and need not be, because an eventfd counts what is
 * signalled while a consumer switches and the consumer's switch drains
 * and re-delivers that count (<irqlink/consumer.h>).
 *
 * Eventfds in SET_IRQS travel in as few messages as the server's
 * max_msg_fds allows (a run of -1 entries goes as DATA_EVENTFD without
 * fds, which de-assigns it), all sent before the first reply is awaited.
 * If any of them fails, the client de-assigns the whole range with one
 * more message and returns the first error: the device is never left
 * with half a range.
 *
 * Mappable memory. A REGION_INFO reply with the MMAP flag carries the
 * region's fd and, for a region only partly mappable, the sparse mmap
 * capability; the client keeps both (the fd is its own) and hands them
 * out through ops.get_region_mmap, valid until the region is asked about
 * again, a reconnect, or destroy. Everything else is a message.
 *
 * Doorbells. At connect the client asks DEVICE_GET_REGION_IO_FDS for each
 * BAR and keeps the eventfds the server sent: ops.get_ioeventfds hands them
 * to the glue, which registers them with KVM_IOEVENTFD, so a guest's
 * doorbell write reaches the remote device without a userspace exit.
 *
 * Server-to-client requests (DMA_READ / DMA_WRITE) may arrive between a
 * request and its reply; the client answers them in between and keeps
 * waiting. When no request of ours is in flight, nothing reads the socket
 * unless the caller polls irqlink_vfu_client_fd() and calls
 * irqlink_vfu_client_process(): a VMM that maps ranges without an fd (or
 * whose server may ask for fd-backed ones by message) must do so. A
 * DMA_READ / DMA_WRITE is served when all of it lies in one range of ours
 * whose DMA_MAP flags grant it (READ lets the device read): through the
 * range's handler, or by pread/pwrite of the range's fd; otherwise it is
 * refused with EFAULT. Other server requests get ENOSYS, as QEMU's client
 * answers them.
 *
 * A reply that does not come within the timeout fails the op with
 * -ETIMEDOUT (a late reply is recognised by its id and dropped). A server
 * that closes the connection fails every later op with -ENOTCONN.
 *
 * Thread safety: every function may be called from any thread; requests
 * are serialized on the client's mutex. The ops are called by the glue
 * under its own lock, and proxy registration calls into the bypass
 * manager from inside them: the same lock order an in-process device
 * model has.
 */
#ifndef IRQLINK_VFIO_USER_CLIENT_H
#define IRQLINK_VFIO_USER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <irqlink/bypass.h>
#include <irqlink/pci.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * struct irqlink_vfu_client_config - what irqlink_vfu_client_connect() does.
 * @path:        the server's socket path.
 * @bypass:      where the proxy producers are registered (the manager the
 *               glue's consumers use), or NULL for none: then nothing
 *               pairs and the relay delivers.
 * @max_msg_fds: fds we accept in one message from the server (0 = 16).
 * @timeout_ms:  how long to wait for a reply (0 = 5000, QEMU's value).
 * @flags:       reserved, must be 0.
 */
struct irqlink_vfu_client_config {
	const char *path;
	struct irqlink_bypass *bypass;
	uint32_t max_msg_fds;
	unsigned int timeout_ms;
	uint32_t flags;
};

struct irqlink_vfu_client;

/*
 * irqlink_vfu_client_connect - connect to the server at cfg->path,
 * negotiate VERSION, read DEVICE_GET_INFO, the interrupt counts and the
 * doorbells of every BAR.
 *
 * Returns 0 and *@out; -EINVAL for a bad config (NULL path, a path too
 * long for sun_path, flags, max_msg_fds above 253); the -errno of socket()
 * or connect() (-ENOENT: no such socket, -ECONNREFUSED: nobody listens);
 * -EPROTO for a server whose VERSION reply is not major 0, or that is not
 * a PCI device; -ETIMEDOUT; the error reply of a command (a server that is
 * busy with another client answers EBUSY); -ENOMEM. Nothing is left behind
 * on failure.
 */
int irqlink_vfu_client_connect(const struct irqlink_vfu_client_config *cfg,
			       struct irqlink_vfu_client **out);

/*
 * irqlink_vfu_client_destroy - unregister every proxy producer, close the
 * connection (the server then drops every eventfd and DMA range of ours
 * and resets the device) and every doorbell eventfd. Destroy the glue
 * that uses the client first. NULL is a no-op.
 */
void irqlink_vfu_client_destroy(struct irqlink_vfu_client *c);

/* The device ops; opaque is the struct irqlink_vfu_client. They return the
 * server's error replies as -errno, -ETIMEDOUT or -ENOTCONN. */
extern const struct irqlink_pci_ops irqlink_vfu_client_ops;

/*
 * irqlink_vfu_client_dma_map - offer [@iova, @iova + @size) to the device
 * (DMA_MAP): backed by @fd at @offset (borrowed; the server maps it, so the
 * device reaches that memory without a message), or @fd = -1 for a range
 * without one. @flags: VFIO_DMA_MAP_FLAG_READ / _WRITE, what the device
 * may do. Returns 0 or the server's error (-EEXIST for an overlap).
 */
int irqlink_vfu_client_dma_map(struct irqlink_vfu_client *c, uint64_t iova,
			       uint64_t size, uint32_t flags, int fd,
			       uint64_t offset);

/*
 * irqlink_vfu_dma_fn - a range's handler: the device reads (@write false:
 * fill @buf) or writes (@write true: @buf holds the data) @len bytes at
 * @iova, all within the range. Called with the client's lock held, from
 * whichever thread is reading the socket: it must not call the client.
 * Returns 0, or -errno for the error reply the device gets.
 */
typedef int (*irqlink_vfu_dma_fn)(void *opaque, uint64_t iova, void *buf,
				  size_t len, bool write);

/*
 * irqlink_vfu_client_dma_map_handler - DMA_MAP [@iova, @iova + @size)
 * without an fd: the device reaches it by DMA_READ / DMA_WRITE requests,
 * which @fn serves (e.g. an MSI doorbell window). @flags as above. Returns
 * 0, -EINVAL for a NULL @fn, -ENOMEM, or the server's error.
 */
int irqlink_vfu_client_dma_map_handler(struct irqlink_vfu_client *c,
				       uint64_t iova, uint64_t size,
				       uint32_t flags, irqlink_vfu_dma_fn fn,
				       void *opaque);

/* DMA_UNMAP exactly one range of an earlier map; once it returns 0 the
 * device holds no reference to it and the client serves no request for
 * it. -ENOENT-like server errors as -errno. */
int irqlink_vfu_client_dma_unmap(struct irqlink_vfu_client *c, uint64_t iova,
				 uint64_t size);

/* The connected socket, to poll for readability (owned by the client). */
int irqlink_vfu_client_fd(struct irqlink_vfu_client *c);

/*
 * irqlink_vfu_client_process - answer the server's requests that are
 * waiting (DMA_READ / DMA_WRITE), without blocking; late replies are
 * dropped. Any thread. 0; -ENOTCONN once the server has gone (also when
 * it goes now); -EINVAL for NULL.
 */
int irqlink_vfu_client_process(struct irqlink_vfu_client *c);

/*
 * irqlink_vfu_client_connected - false once the server has gone (closed
 * the connection, or sent what cannot be framed): every op then fails
 * with -ENOTCONN until irqlink_vfu_client_reconnect() succeeds. A server
 * that goes away shows on irqlink_vfu_client_fd() as POLLHUP, which a
 * VMM can watch for with no events asked.
 */
bool irqlink_vfu_client_connected(struct irqlink_vfu_client *c);

/*
 * irqlink_vfu_client_reconnect - after the server went away, connect to
 * the same socket path again (a restarted server) and restore what is
 * the client's: VERSION, the device's info (it must be the same shape:
 * the same INTx/MSI/MSI-X counts), its doorbells (new eventfds: a glue
 * must take them, irqlink_pci_device_replaced()), and every range mapped
 * before (DMA_MAP again: fd-backed ranges with the client's own dup of the
 * fd, handler ranges with their handler). The device's own state is the
 * new server's, from reset; what the guest programmed (command register,
 * interrupts, masks) is the glue's to give it again. The proxy producers
 * stay registered: the same trigger eventfds are sent again.
 * Returns 0; -EISCONN if the server never went; the -errno of connect()
 * (-ENOENT, -ECONNREFUSED: not back yet, call again later); -EPROTO for
 * a server with another device; a negotiation or DMA_MAP error. On any
 * error the client stays disconnected and may be asked again.
 */
int irqlink_vfu_client_reconnect(struct irqlink_vfu_client *c);

/* DEVICE_RESET. 0, or the server's error (-EINVAL: it cannot reset). */
int irqlink_vfu_client_reset(struct irqlink_vfu_client *c);

/*
 * struct irqlink_vfu_client_stats - what the client did, since connect.
 * @requests:          requests sent (each SET_IRQS chunk counts one).
 * @set_irqs_messages: SET_IRQS messages sent.
 * @errors:            error replies received.
 * @timeouts:          replies that did not come in time.
 * @stale_replies:     replies dropped (late, or for no request of ours).
 * @server_requests:   DMA_READ/WRITE and other requests from the server.
 * @server_errors:     of those, the ones refused (error replies sent).
 * @producers:         proxy producers registered now.
 * @bypass_failures:   proxy registrations the bypass manager refused.
 * @doorbells:         doorbell eventfds the server gave (at connect, and at
 *                     each reconnect).
 * @reconnects:        successful irqlink_vfu_client_reconnect() calls.
 */
struct irqlink_vfu_client_stats {
	uint64_t requests;
	uint64_t set_irqs_messages;
	uint64_t errors;
	uint64_t timeouts;
	uint64_t stale_replies;
	uint64_t server_requests;
	uint64_t server_errors;
	uint64_t producers;
	uint64_t bypass_failures;
	uint64_t doorbells;
	uint64_t reconnects;
};

/* Copy the stats into *@st. 0, or -EINVAL for NULL arguments. */
int irqlink_vfu_client_get_stats(struct irqlink_vfu_client *c,
				 struct irqlink_vfu_client_stats *st);

#ifdef __cplusplus
}
#endif

#endif
