/* SPDX-License-Identifier: MIT */
/*
 * The scale bench's device: an irqlink_dev with N MSI-X vectors behind a
 * minimal config space (one MSI-X capability, the table at BAR0 + 0 and
 * the PBA from the next page), served to the PCI glue through
 * struct irqlink_pci_ops. It stamps the glue's SET_IRQS calls (struct
 * sd_marks) so the scale bench can split an enable at the glue's own
 * calls into the device.
 */
#ifndef IRQLINK_BENCH_MSIX_DEV_H
#define IRQLINK_BENCH_MSIX_DEV_H

#include <irqlink/irqlink.h>

#include <stdbool.h>
#include <stdint.h>

#define SD_CFG_SIZE   IRQLINK_PCI_CONFIG_SIZE
#define SD_MSIX_CAP   0x40u
#define SD_MSIX_CTRL  (SD_MSIX_CAP + 2u)
#define SD_BAR_GPA    0xc0000000u
#define MSIX_ENABLE   0x8000u
#define MSIX_FMASK    0x4000u
#define MSIX_ENTRY    16u

/*
 * Stamps of the glue's SET_IRQS calls while armed: the first one carrying
 * eventfds (the glue's step 3, before its commit), the end of the last such
 * call, and the first UNMASK (step 4, after the commit and the irqfds).
 */
struct sd_marks {
	bool armed;
	unsigned int fd_calls, unmask_calls;
	uint64_t fds_in, fds_out, unmask_in;
};

struct sdev {
	struct irqlink_dev *irq;
	uint32_t nvec;
	uint64_t bar_size, pba_off;
	uint64_t *pba;                  /* scratch for PBA reads */
	uint8_t config[SD_CFG_SIZE];
	struct sd_marks marks;
};

/* A device with @nvec vectors. Returns 0 and *@out, or -errno. */
int sd_create(unsigned int nvec, struct sdev **out);
/* NULL is a no-op. */
void sd_destroy(struct sdev *d);
/* The glue's view of the device; opaque = the struct sdev. */
extern const struct irqlink_pci_ops bench_msix_dev_ops;

#endif
