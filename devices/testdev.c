/* SPDX-License-Identifier: MIT */
/*
 * testdev: the in-process test PCI device (see testdev.h for its registers).
 *
 * Theory of operation: the device is three things. A fixed config space
 * image built once at creation, with a few live fields computed on every
 * read from the interrupt model (Interrupt Status, MSI Pending Bits) so
 * they can never disagree with it. A register file in BAR0 under one mutex;
 * a command is copied out under the mutex and raised outside it, so the
 * model's locks are never taken under ours except for INTx, where the level
 * the device reports in STATUS and the level it gives the model must change
 * together. And a doorbell eventfd: a guest write that KVM turned into a
 * signal is only a count, so the device runs the command once per count;
 * the guest must not change the command registers until DONE shows the
 * previous doorbell was served.
 */
#include "testdev.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define REG_COUNT (TESTDEV_BAR0_SIZE / 4)
#define MAX_COUNT (1u << 20)       /* a bound on one command's raises */

/* Offsets inside the MSI capability (64-bit, per-vector masking). */
#define MSI_PENDING 0x14
#define MSI_LEN     0x18
#define PCIE_LEN    0x3c

struct testdev {
	struct testdev_config cfg;
	struct irqlink_dev *dev;
	uint8_t config[TESTDEV_CONFIG_SIZE];
	uint64_t bar2_size, pba_off;
	uint64_t *pba;                  /* scratch for PBA reads, under lock */
	uint8_t *host_table;            /* MSI-X table, host view; under lock */
	int memfd;                      /* the memory BAR's, ours, or -1 */
	uint8_t *mem;                   /* it, mapped (shared with mmappers) */
	uint32_t mem_off;               /* MEM_OFF; under lock */

	pthread_mutex_t lock;           /* regs, config command, pba scratch */
	uint32_t kind, vector, count;
	uint64_t dma_addr;
	bool intx_level;

	_Atomic uint32_t done, raised, signalled, held, errors;
	_Atomic uint32_t dmas, dma_errors;
	_Atomic uint32_t msix_dma;      /* MSI-X by DMA (the model's writer) */
	/* Per MSI / MSI-X vector: raises that signalled its eventfd. */
	_Atomic uint32_t *msi_signals, *msix_signals;

	int doorbell;                   /* ours */
	int stopfd;                     /* ours */
	pthread_t thread;
	bool running;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static unsigned int log2u(uint32_t v)
{
	unsigned int k = 0;

	while ((1u << k) < v)
		k++;
	return k;
}

static void build_config(struct testdev *td)
{
	uint8_t *c = td->config;
	uint8_t *link = &c[0x34];

	put16(c + 0x00, TESTDEV_VENDOR_ID);
	put16(c + 0x02, TESTDEV_DEVICE_ID);
	put16(c + 0x06, 0x0010);                /* capability list */
	c[0x08] = 1;                            /* revision */
	c[0x0b] = 0xff;                         /* class: unassigned */
	put32(c + 0x10, 0x0);                   /* BAR0: mem32 */
	if (td->cfg.msix_vectors)
		put32(c + 0x18, 0x4);           /* BAR2: mem64 */
	if (td->cfg.mem_bar)
		put32(c + 0x20, 0x0);           /* BAR4: mem32 */
	put16(c + 0x2c, TESTDEV_VENDOR_ID);
	put16(c + 0x2e, TESTDEV_DEVICE_ID);
	c[0x3d] = td->cfg.intx ? 1 : 0;         /* INTA */

	if (td->cfg.msi_vectors) {
		uint8_t *m = &c[TESTDEV_MSI_CAP];

		*link = TESTDEV_MSI_CAP;
		link = &m[1];
		m[0] = 0x05;
		put16(m + 2, (uint16_t)(log2u(td->cfg.msi_vectors) << 1 |
					0x0080 | 0x0100));
	}
	if (td->cfg.msix_vectors) {
		uint8_t *m = &c[TESTDEV_MSIX_CAP];

		*link = TESTDEV_MSIX_CAP;
		link = &m[1];
		m[0] = 0x11;
		put16(m + 2, (uint16_t)(td->cfg.msix_vectors - 1));
		put32(m + 4, 0 | TESTDEV_MSIX_BAR);
		put32(m + 8, (uint32_t)td->pba_off | TESTDEV_MSIX_BAR);
	}
	*link = TESTDEV_PCIE_CAP;
	c[TESTDEV_PCIE_CAP] = 0x10;
	put16(c + TESTDEV_PCIE_CAP + 2, 0x0002); /* v2, endpoint */
}

static int msix_write(void *opaque, unsigned int vector);

/* Plain memory in a memfd, so that whoever maps it (the VMM, through the
 * ops or a vfio-user fd) sees the very bytes the device does. */
static int mem_bar_init(struct testdev *td)
{
	void *p;

	td->memfd = memfd_create("testdev-bar4", MFD_CLOEXEC);
	if (td->memfd < 0)
		return -errno;
	if (ftruncate(td->memfd, TESTDEV_MEM_SIZE))
		return -errno;
	p = mmap(NULL, TESTDEV_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 td->memfd, 0);
	if (p == MAP_FAILED)
		return -errno;
	td->mem = p;
	return 0;
}

static void mem_bar_fini(struct testdev *td)
{
	if (td->mem)
		munmap(td->mem, TESTDEV_MEM_SIZE);
	if (td->memfd >= 0)
		close(td->memfd);
	td->mem = NULL;
	td->memfd = -1;
}

int testdev_create(const struct testdev_config *cfg, struct testdev **out)
{
	struct irqlink_dev_shape shape;
	struct testdev *td;
	int r;

	if (!cfg || !out || cfg->msix_vectors > IRQLINK_MSIX_MAX)
		return -EINVAL;
	if (cfg->msix_by_dma && (!cfg->msix_vectors || !cfg->dma_write))
		return -EINVAL;
	td = calloc(1, sizeof(*td));
	if (!td)
		return -ENOMEM;
	td->cfg = *cfg;
	td->doorbell = td->stopfd = td->memfd = -1;
	r = -pthread_mutex_init(&td->lock, NULL);
	if (r)
		goto free_td;
	shape = (struct irqlink_dev_shape){
		.intx_pin = cfg->intx,
		.pcie = true,
		.msi_vectors = cfg->msi_vectors,
		.msix_vectors = cfg->msix_vectors,
		.host_vectors = cfg->host_vectors,
		.flags = cfg->dev_flags,
	};
	r = irqlink_dev_create(&shape, &td->dev);
	if (r)
		goto destroy_lock;
	if (cfg->msix_vectors) {
		uint64_t end;

		/* Table at 0, PBA on the next page boundary, BAR a power of
		 * two that holds both. */
		td->pba_off = ((uint64_t)cfg->msix_vectors * 16 + 0xfff) &
			~UINT64_C(0xfff);
		end = td->pba_off + (cfg->msix_vectors + 63) / 64 * 8;
		td->bar2_size = 0x1000;
		while (td->bar2_size < end)
			td->bar2_size <<= 1;
		td->pba = calloc((cfg->msix_vectors + 63) / 64, sizeof(uint64_t));
		td->host_table = calloc(cfg->msix_vectors, 16);
		if (!td->pba || !td->host_table) {
			r = -ENOMEM;
			goto destroy_dev;
		}
	}
	td->msi_signals = calloc(cfg->msi_vectors + 1, sizeof(*td->msi_signals));
	td->msix_signals = calloc(cfg->msix_vectors + 1,
				  sizeof(*td->msix_signals));
	if (!td->msi_signals || !td->msix_signals) {
		r = -ENOMEM;
		goto close_fds;
	}
	td->doorbell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	td->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (td->doorbell < 0 || td->stopfd < 0) {
		r = -errno;
		goto close_fds;
	}
	if (cfg->mem_bar) {
		r = mem_bar_init(td);
		if (r)
			goto close_fds;
	}
	if (cfg->msix_by_dma) {
		r = irqlink_dev_set_msix_writer(td->dev, msix_write, td);
		if (r)
			goto close_fds;
		td->msix_dma = 1;
	}
	build_config(td);
	*out = td;
	return 0;

close_fds:
	if (td->doorbell >= 0)
		close(td->doorbell);
	if (td->stopfd >= 0)
		close(td->stopfd);
	mem_bar_fini(td);
	free(td->pba);
	free(td->host_table);
	free((void *)td->msi_signals);
	free((void *)td->msix_signals);
destroy_dev:
	irqlink_dev_destroy(td->dev);
destroy_lock:
	pthread_mutex_destroy(&td->lock);
free_td:
	free(td);
	return r;
}

void testdev_destroy(struct testdev *td)
{
	if (!td)
		return;
	testdev_stop(td);
	irqlink_dev_destroy(td->dev);
	close(td->doorbell);
	close(td->stopfd);
	mem_bar_fini(td);
	free(td->pba);
	free(td->host_table);
	free((void *)td->msi_signals);
	free((void *)td->msix_signals);
	pthread_mutex_destroy(&td->lock);
	free(td);
}

struct irqlink_dev *testdev_irq(struct testdev *td)
{
	return td->dev;
}

int testdev_doorbell_fd(struct testdev *td)
{
	return td->doorbell;
}

/* ---- interrupts --------------------------------------------------------- */

static void set_intx(struct testdev *td, bool level)
{
	pthread_mutex_lock(&td->lock);
	if (level)
		irqlink_dev_intx_assert(td->dev);
	else
		irqlink_dev_intx_deassert(td->dev);
	td->intx_level = level;
	pthread_mutex_unlock(&td->lock);
}

static int raise_one(struct testdev *td, uint32_t kind, uint32_t vector)
{
	int r;

	switch (kind) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		if (vector)
			return -EINVAL;
		pthread_mutex_lock(&td->lock);
		r = irqlink_dev_intx_assert(td->dev);
		if (r >= 0)
			td->intx_level = true;
		pthread_mutex_unlock(&td->lock);
		return r;
	case VFIO_PCI_MSI_IRQ_INDEX:
	case VFIO_PCI_MSIX_IRQ_INDEX:
		return irqlink_dev_msi_fire(td->dev, kind, vector);
	case VFIO_PCI_ERR_IRQ_INDEX:
		return vector ? -EINVAL : irqlink_dev_err_signal(td->dev);
	case VFIO_PCI_REQ_IRQ_INDEX:
		return vector ? -EINVAL : irqlink_dev_req_signal(td->dev);
	default:
		return -EINVAL;
	}
}

static void run_command(struct testdev *td)
{
	uint32_t kind, vector, count, i;
	int r;

	pthread_mutex_lock(&td->lock);
	kind = td->kind;
	vector = td->vector;
	count = td->count < MAX_COUNT ? td->count : MAX_COUNT;
	pthread_mutex_unlock(&td->lock);
	for (i = 0; i < count; i++) {
		r = raise_one(td, kind, vector);
		if (r < 0) {
			atomic_fetch_add(&td->errors, 1);
			break;
		}
		atomic_fetch_add(&td->raised, 1);
		atomic_fetch_add(r ? &td->signalled : &td->held, 1);
		if (r && kind == VFIO_PCI_MSI_IRQ_INDEX)
			atomic_fetch_add(&td->msi_signals[vector], 1);
		else if (r && kind == VFIO_PCI_MSIX_IRQ_INDEX)
			atomic_fetch_add(&td->msix_signals[vector], 1);
	}
	atomic_fetch_add(&td->done, 1);
}

int testdev_process(struct testdev *td)
{
	uint64_t n = 0, i;
	int r;

	if (read(td->doorbell, &n, sizeof(n)) != sizeof(n)) {
		if (errno != EAGAIN)
			return -errno;
		n = 0;
	}
	for (i = 0; i < n; i++)
		run_command(td);
	r = irqlink_dev_dispatch(td->dev);
	if (r < 0)
		return r;
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

static void *thread_main(void *arg)
{
	struct testdev *td = arg;
	struct pollfd fds[3] = {
		{ .fd = td->doorbell, .events = POLLIN },
		{ .fd = irqlink_dev_poll_fd(td->dev), .events = POLLIN },
		{ .fd = td->stopfd, .events = POLLIN },
	};

	for (;;) {
		if (poll(fds, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[2].revents)
			break;
		testdev_process(td);
	}
	return NULL;
}

int testdev_start(struct testdev *td)
{
	uint64_t v;
	int r;

	if (td->running)
		return -EALREADY;
	/* Forget an old stop request. */
	if (read(td->stopfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	r = pthread_create(&td->thread, NULL, thread_main, td);
	if (r)
		return -r;
	td->running = true;
	return 0;
}

int testdev_stop(struct testdev *td)
{
	uint64_t one = 1;

	if (!td->running)
		return 0;
	if (write(td->stopfd, &one, sizeof(one)) != sizeof(one))
		return -errno;
	pthread_join(td->thread, NULL);
	td->running = false;
	return 0;
}

/* ---- BAR0 registers ---------------------------------------------------- */

/* The device's own access to a word of its memory BAR, at MEM_OFF: 0 (and
 * an ERRORS count) where there is no such word. Volatile: a mapper
 * changes it behind our back. */
static uint32_t mem_word(struct testdev *td, bool write, uint32_t val)
{
	volatile uint32_t *w;
	uint32_t off;

	pthread_mutex_lock(&td->lock);
	off = td->mem_off;
	pthread_mutex_unlock(&td->lock);
	if (!td->mem || (off & 3) || off >= TESTDEV_MEM_SIZE) {
		atomic_fetch_add(&td->errors, 1);
		return 0;
	}
	w = (volatile uint32_t *)(td->mem + off);
	if (write)
		*w = val;
	return *w;
}

uint32_t testdev_reg_read(struct testdev *td, uint32_t reg)
{
	struct irqlink_dev_stats st;
	uint32_t v = 0;

	switch (reg) {
	case TESTDEV_REG_ID:
		return TESTDEV_ID_VALUE;
	case TESTDEV_REG_DONE:
		return atomic_load(&td->done);
	case TESTDEV_REG_RAISED:
		return atomic_load(&td->raised);
	case TESTDEV_REG_SIGNALLED:
		return atomic_load(&td->signalled);
	case TESTDEV_REG_HELD:
		return atomic_load(&td->held);
	case TESTDEV_REG_ERRORS:
		return atomic_load(&td->errors);
	case TESTDEV_REG_DMAS:
		return atomic_load(&td->dmas);
	case TESTDEV_REG_DMA_ERRORS:
		return atomic_load(&td->dma_errors);
	case TESTDEV_REG_MSIX_DMA:
		return atomic_load(&td->msix_dma);
	case TESTDEV_REG_MEM_DATA:
		return mem_word(td, false, 0);
	case TESTDEV_REG_UNMASKS:
		irqlink_dev_get_stats(td->dev, &st);
		return (uint32_t)st.intx_unmasks;
	default:
		break;
	}
	pthread_mutex_lock(&td->lock);
	if (reg == TESTDEV_REG_KIND)
		v = td->kind;
	else if (reg == TESTDEV_REG_VECTOR)
		v = td->vector;
	else if (reg == TESTDEV_REG_COUNT)
		v = td->count;
	else if (reg == TESTDEV_REG_STATUS)
		v = td->intx_level ? TESTDEV_STATUS_INTX : 0;
	else if (reg == TESTDEV_REG_DMA_LO)
		v = (uint32_t)td->dma_addr;
	else if (reg == TESTDEV_REG_DMA_HI)
		v = (uint32_t)(td->dma_addr >> 32);
	pthread_mutex_unlock(&td->lock);
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* The device writes @val at @addr as a bus master, only when the guest
 * enabled bus mastering (the command register's bit 2), as hardware.
 * Called with td->lock held (it reads the command register); the write
 * itself is made after. */
static int dma_write_unlock(struct testdev *td, uint64_t addr, uint32_t val)
{
	uint8_t buf[4];
	bool master = td->config[0x04] & 0x04;     /* Command: Bus Master */
	int r = -EPERM;

	pthread_mutex_unlock(&td->lock);
	put32(buf, val);
	if (td->cfg.dma_write && master)
		r = td->cfg.dma_write(td->cfg.dma_opaque, addr, buf,
				      sizeof(buf));
	if (r)
		atomic_fetch_add(&td->dma_errors, 1);
	else
		atomic_fetch_add(&td->dmas, 1);
	return r ? (r < 0 ? r : -EIO) : 0;
}

static void dma_data(struct testdev *td, uint32_t val)
{
	pthread_mutex_lock(&td->lock);
	(void)dma_write_unlock(td, td->dma_addr, val);
}

/* The model's MSI-X writer: the entry's message, as the host programmed
 * it, written on the bus. A message the host never wrote (address 0) goes
 * nowhere a doorbell is, and the refusal is counted, not hidden. */
static int msix_write(void *opaque, unsigned int vector)
{
	struct testdev *td = opaque;
	const uint8_t *e;
	uint64_t addr;

	if (vector >= td->cfg.msix_vectors)
		return -EINVAL;
	pthread_mutex_lock(&td->lock);
	e = td->host_table + (size_t)vector * 16;
	addr = (uint64_t)get32(e) | (uint64_t)get32(e + 4) << 32;
	return dma_write_unlock(td, addr, get32(e + 8));
}

/* The model refuses a change while MSI-X is enabled (-EBUSY): a refused
 * mode write counts in ERRORS and the mode reads back unchanged. */
static void set_msix_dma(struct testdev *td, bool on)
{
	int r = -EINVAL;

	if (on == atomic_load(&td->msix_dma))
		return;
	if (!on || td->cfg.dma_write)
		r = irqlink_dev_set_msix_writer(td->dev, on ? msix_write : NULL,
						td);
	if (r)
		atomic_fetch_add(&td->errors, 1);
	else
		atomic_store(&td->msix_dma, on);
}

void testdev_reg_write(struct testdev *td, uint32_t reg, uint32_t val)
{
	switch (reg) {
	case TESTDEV_REG_KIND:
	case TESTDEV_REG_VECTOR:
	case TESTDEV_REG_COUNT:
		pthread_mutex_lock(&td->lock);
		if (reg == TESTDEV_REG_KIND)
			td->kind = val;
		else if (reg == TESTDEV_REG_VECTOR)
			td->vector = val;
		else
			td->count = val;
		pthread_mutex_unlock(&td->lock);
		break;
	case TESTDEV_REG_DOORBELL:
		run_command(td);
		break;
	case TESTDEV_REG_DMA_LO:
	case TESTDEV_REG_DMA_HI:
		pthread_mutex_lock(&td->lock);
		if (reg == TESTDEV_REG_DMA_LO)
			td->dma_addr = (td->dma_addr & ~0xffffffffull) | val;
		else
			td->dma_addr = (td->dma_addr & 0xffffffffull) |
				       (uint64_t)val << 32;
		pthread_mutex_unlock(&td->lock);
		break;
	case TESTDEV_REG_DMA_DATA:
		dma_data(td, val);
		break;
	case TESTDEV_REG_MSIX_DMA:
		set_msix_dma(td, val & 1);
		break;
	case TESTDEV_REG_MEM_OFF:
		pthread_mutex_lock(&td->lock);
		td->mem_off = val;
		pthread_mutex_unlock(&td->lock);
		break;
	case TESTDEV_REG_MEM_DATA:
		(void)mem_word(td, true, val);
		break;
	case TESTDEV_REG_INTX:
		set_intx(td, val & 1);
		break;
	case TESTDEV_REG_STATUS:
		if (val & TESTDEV_STATUS_INTX)
			set_intx(td, false);
		break;
	default:
		break;
	}
}

/* ---- the ops ------------------------------------------------------------- */

static int td_get_region_info(void *opaque, struct vfio_region_info *info)
{
	struct testdev *td = opaque;
	uint64_t size = 0;

	if (info->argsz < sizeof(*info))
		return -EINVAL;
	switch (info->index) {
	case VFIO_PCI_BAR0_REGION_INDEX:
		size = TESTDEV_BAR0_SIZE;
		break;
	case VFIO_PCI_BAR0_REGION_INDEX + TESTDEV_MSIX_BAR:
		size = td->bar2_size;
		break;
	case VFIO_PCI_BAR0_REGION_INDEX + TESTDEV_MEM_BAR:
		size = td->mem ? TESTDEV_MEM_SIZE : 0;
		break;
	case VFIO_PCI_CONFIG_REGION_INDEX:
		size = TESTDEV_CONFIG_SIZE;
		break;
	default:
		if (info->index >= VFIO_PCI_NUM_REGIONS)
			return -EINVAL;
		break;
	}
	info->flags = size ? VFIO_REGION_INFO_FLAG_READ |
		VFIO_REGION_INFO_FLAG_WRITE : 0;
	if (size && info->index == TESTDEV_MEM_BAR)
		info->flags |= VFIO_REGION_INFO_FLAG_MMAP;
	info->cap_offset = 0;
	info->size = size;
	info->offset = 0;
	return 0;
}

/* One config byte as the device shows it now. */
static uint8_t config_byte(struct testdev *td, uint32_t off)
{
	uint64_t pend = 0;

	if (off == 0x06 && td->intx_level)
		return (uint8_t)(td->config[off] | 0x08); /* Interrupt Status */
	if (td->cfg.msi_vectors && off >= TESTDEV_MSI_CAP + MSI_PENDING &&
	    off < TESTDEV_MSI_CAP + MSI_LEN) {
		irqlink_dev_read_pending(td->dev, VFIO_PCI_MSI_IRQ_INDEX,
					 &pend, 1);
		return (uint8_t)(pend >> (8 * (off - TESTDEV_MSI_CAP -
					       MSI_PENDING)));
	}
	return td->config[off];
}

static int config_read(struct testdev *td, uint64_t off, uint8_t *data,
		       size_t len)
{
	size_t i;

	pthread_mutex_lock(&td->lock);
	for (i = 0; i < len; i++)
		data[i] = config_byte(td, (uint32_t)(off + i));
	pthread_mutex_unlock(&td->lock);
	return 0;
}

static int config_write(struct testdev *td, uint64_t off, const uint8_t *data,
			size_t len)
{
	size_t i;
	bool was, now;

	/* Only the command register is the device's to act on; the rest of
	 * its config space is read-only to the guest (the VMM emulates the
	 * writable capabilities). */
	pthread_mutex_lock(&td->lock);
	was = td->config[0x05] & 0x04;
	for (i = 0; i < len; i++)
		if (off + i == 0x04 || off + i == 0x05)
			td->config[off + i] = data[i];
	now = td->config[0x05] & 0x04;
	if (was != now)
		irqlink_dev_set_intx_disable(td->dev, now);
	pthread_mutex_unlock(&td->lock);
	return 0;
}

static bool in_region(uint64_t off, size_t len, uint64_t size)
{
	return off <= size && size - off >= len;
}

static int td_region_read(void *opaque, uint32_t region, uint64_t offset,
			  void *data, size_t len)
{
	struct testdev *td = opaque;
	uint8_t *d = data;
	size_t i;

	if (region == VFIO_PCI_CONFIG_REGION_INDEX) {
		if (!in_region(offset, len, TESTDEV_CONFIG_SIZE))
			return -EINVAL;
		return config_read(td, offset, d, len);
	}
	if (region == VFIO_PCI_BAR0_REGION_INDEX) {
		uint32_t reg = UINT32_MAX, v = 0;

		if (!in_region(offset, len, TESTDEV_BAR0_SIZE) || len > 8)
			return -EINVAL;
		/* Each register once per access: a read may count. */
		for (i = 0; i < len; i++) {
			if (((offset + i) & ~3u) != reg) {
				reg = (uint32_t)((offset + i) & ~3u);
				v = testdev_reg_read(td, reg);
			}
			d[i] = (uint8_t)(v >> (8 * ((offset + i) & 3)));
		}
		return 0;
	}
	if (region == TESTDEV_MEM_BAR && td->mem) {
		if (!in_region(offset, len, TESTDEV_MEM_SIZE))
			return -EINVAL;
		memcpy(d, td->mem + offset, len);
		return 0;
	}
	if (region == TESTDEV_MSIX_BAR && td->bar2_size) {
		uint64_t pba_len = (td->cfg.msix_vectors + 63) / 64 * 8;

		if (!in_region(offset, len, td->bar2_size))
			return -EINVAL;
		pthread_mutex_lock(&td->lock);
		irqlink_dev_read_pending(td->dev, VFIO_PCI_MSIX_IRQ_INDEX,
					 td->pba, pba_len / 8);
		for (i = 0; i < len; i++) {
			uint64_t o = offset + i;

			/* The guest's table is the VMM's (virtualized); the
			 * device's own is the host view, and the PBA. */
			if (o < (uint64_t)td->cfg.msix_vectors * 16)
				d[i] = td->host_table[o];
			else if (o >= td->pba_off && o - td->pba_off < pba_len)
				d[i] = (uint8_t)(td->pba[(o - td->pba_off) / 8] >>
						 (8 * ((o - td->pba_off) % 8)));
			else
				d[i] = 0;
		}
		pthread_mutex_unlock(&td->lock);
		return 0;
	}
	return -EINVAL;
}

static int td_region_write(void *opaque, uint32_t region, uint64_t offset,
			   const void *data, size_t len)
{
	struct testdev *td = opaque;
	const uint8_t *d = data;

	if (region == VFIO_PCI_CONFIG_REGION_INDEX) {
		if (!in_region(offset, len, TESTDEV_CONFIG_SIZE))
			return -EINVAL;
		return config_write(td, offset, d, len);
	}
	if (region == VFIO_PCI_BAR0_REGION_INDEX) {
		if (!in_region(offset, len, TESTDEV_BAR0_SIZE))
			return -EINVAL;
		if (len == 4 && !(offset & 3))
			testdev_reg_write(td, (uint32_t)offset,
					  (uint32_t)d[0] | (uint32_t)d[1] << 8 |
					  (uint32_t)d[2] << 16 |
					  (uint32_t)d[3] << 24);
		return 0;
	}
	if (region == TESTDEV_MEM_BAR && td->mem) {
		if (!in_region(offset, len, TESTDEV_MEM_SIZE))
			return -EINVAL;
		memcpy(td->mem + offset, d, len);
		return 0;
	}
	if (region == TESTDEV_MSIX_BAR && td->bar2_size) {
		uint64_t end = (uint64_t)td->cfg.msix_vectors * 16;
		size_t i;

		if (!in_region(offset, len, td->bar2_size))
			return -EINVAL;
		/* The host view of the table (the PBA is read-only). */
		pthread_mutex_lock(&td->lock);
		for (i = 0; i < len && offset + i < end; i++)
			td->host_table[offset + i] = d[i];
		pthread_mutex_unlock(&td->lock);
		return 0;
	}
	return -EINVAL;
}

static int td_get_irq_info(void *opaque, struct vfio_irq_info *info)
{
	struct testdev *td = opaque;

	return irqlink_dev_get_irq_info(td->dev, info);
}

static int td_set_irqs(void *opaque, const struct vfio_irq_set *set,
		       const int *fds, size_t nfds)
{
	struct testdev *td = opaque;

	return irqlink_dev_set_irqs_fds(td->dev, set, fds, nfds);
}

static int td_get_ioeventfds(void *opaque, struct irqlink_pci_ioeventfd *out,
			     size_t max)
{
	struct testdev *td = opaque;

	if (max >= 1)
		out[0] = (struct irqlink_pci_ioeventfd){
			.region = VFIO_PCI_BAR0_REGION_INDEX,
			.offset = TESTDEV_REG_DOORBELL,
			.size = 4,
			.fd = td->doorbell,
		};
	return 1;
}

static int td_intx_asserted(void *opaque)
{
	struct testdev *td = opaque;

	return irqlink_dev_intx_asserted(td->dev);
}

uint32_t testdev_signals(struct testdev *td, uint32_t kind, uint32_t vector)
{
	if (kind == VFIO_PCI_MSI_IRQ_INDEX && vector < td->cfg.msi_vectors)
		return atomic_load(&td->msi_signals[vector]);
	if (kind == VFIO_PCI_MSIX_IRQ_INDEX && vector < td->cfg.msix_vectors)
		return atomic_load(&td->msix_signals[vector]);
	return 0;
}

/* All of the memory BAR but its first page, which stands for registers
 * that must trap. */
static int td_get_region_mmap(void *opaque, uint32_t region,
			      struct irqlink_pci_region_mmap *out)
{
	struct testdev *td = opaque;

	if (region != TESTDEV_MEM_BAR || !td->mem)
		return -ENOENT;
	*out = (struct irqlink_pci_region_mmap){
		.fd = td->memfd, .fd_offset = 0, .nareas = 1,
		.areas = { { TESTDEV_MEM_TRAP,
			     TESTDEV_MEM_SIZE - TESTDEV_MEM_TRAP } },
	};
	return 0;
}

const struct irqlink_pci_ops testdev_pci_ops = {
	.get_region_info = td_get_region_info,
	.region_read = td_region_read,
	.region_write = td_region_write,
	.get_irq_info = td_get_irq_info,
	.set_irqs = td_set_irqs,
	.get_ioeventfds = td_get_ioeventfds,
	.intx_asserted = td_intx_asserted,
	.get_region_mmap = td_get_region_mmap,
};
